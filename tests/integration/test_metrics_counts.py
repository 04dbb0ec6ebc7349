"""On a real node (LevelDB, thread pool): the queue lengths /metrics and
ListWorkers show are the trees' exact key counts, before and after a
restart."""

import json

import treq
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import in_thread, start_with_s3_client
from tests.unit.api.test_metrics import parse

# Times the figures are taken again while rows still move (0.05 s apart).
SETTLE_TRIES = 40


class QueueCountsTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, _, self.client = await start_with_s3_client(self, 1 << 20, "counted")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    def queues(self) -> dict:
        node = self.fixture.node
        trees = {}
        for table in node.model.tables:
            for kind, tree in (("Merkle", table.data.merkle_todo),
                               ("queue", table.data.insert_queue),
                               ("GC", table.data.gc_todo)):
                trees[f"{table.name} {kind}"] = tree
        trees["block resync"] = node.block_manager.resync
        trees["block deleter"] = node.block_manager.gc_todo
        return trees

    async def figures(self) -> tuple[dict, dict]:
        """(worker -> worker_queue_length, worker -> ListWorkers queueLength)."""
        response = await treq.get(f"{self.fixture.admin_url}/metrics", pool=self.pool)
        _, samples = parse((await treq.content(response)).decode())
        scraped = {labels["worker"]: int(value)
                   for labels, value in samples["worker_queue_length"]}
        response = await treq.post(
            f"{self.fixture.admin_url}/v2/ListWorkers", params={"node": "self"},
            data=b"{}", pool=self.pool,
            headers={b"authorization": [f"Bearer {self.fixture.admin_token}".encode()]})
        answer = json.loads(await treq.content(response))
        ((_, workers),) = answer["success"].items()
        return scraped, {w["name"]: w["queueLength"] for w in workers}

    async def check_exact(self):
        await self.fixture.node.getServiceNamed("key counts").when_counted()
        for _ in range(SETTLE_TRIES):
            scraped, listed = await self.figures()
            # Walking the trees here (a test) to compare.
            walked = {worker: tree.count() for worker, tree in self.queues().items()}
            if all(tree.key_count.value == scraped[worker] == listed[worker] == walked[worker]
                   for worker, tree in self.queues().items()):
                return
            # The last writes' cascades (insert queues, Merkle updates) may
            # move a row between the scrape and the walk: measure again
            # once the workers have had their turn.
            await deferLater(reactor, 0.05)
        for worker, tree in self.queues().items():
            self.assertEqual(tree.key_count.value, walked[worker], worker)
            self.assertEqual(scraped[worker], walked[worker], worker)
            self.assertEqual(listed[worker], walked[worker], worker)

    async def test_counts_exact_across_writes_and_restart(self):
        """After S3 writes and deletions the figures equal walks of the
        trees, and again after a restart (counted anew in the pool)."""
        await self.check_exact()
        for n in range(20):
            await in_thread(self.client.put_object, Bucket="counted", Key=f"k{n}",
                            Body=b"x" * (n * 500))
        for n in range(0, 20, 3):
            await in_thread(self.client.delete_object, Bucket="counted", Key=f"k{n}")
        merkle = self.fixture.node.model.object_table.data.merkle_todo
        self.assertGreater(merkle.key_count.value, 0)
        await self.check_exact()
        await self.fixture.stop()
        self.fixture.apply_layout = False
        await self.fixture.boot()
        await self.check_exact()
        # The deletions' tombstones wait a day for the GC: a queue counted anew.
        self.assertGreater(self.fixture.node.model.object_table.data.gc_todo.count(), 0)
