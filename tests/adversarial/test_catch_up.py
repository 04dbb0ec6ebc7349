"""A replica that was down catches up as soon as it is back (issue 22, defect 7).

Three real ``twistd`` nodes, replication factor 3. One node is stopped,
1,000 objects are written through the two others (16 at a time), the node
restarts: within 60 s of its restart every node's local ``object``,
``version`` and ``block_ref`` counts (``GetNodeStatistics``, what ``garage
stats`` shows) are equal, and the restarted node holds the blocks too. It
then serves every object alone: the two others are stopped, and it reads
with ``consistency_mode = "degraded"`` (read quorum 1), so every byte comes
from its own disk. Anti-entropy's timer (10 minutes for these tables) must
not be what brings the rows: a peer coming back up is synced at once.
"""

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

from twisted.trial.unittest import TestCase

from tests.support.node import in_thread
from tests.support.process_cluster import ProcessCluster

OBJECTS = 1000
CONCURRENCY = 16
# Every tenth object is above the inline threshold: it has a version row, a
# block reference and a block to resync.
SMALL, WITH_BLOCK = 100, 5000
CATCH_UP_LIMIT = 60.0


def _body(i: int) -> bytes:
    return os.urandom(WITH_BLOCK if i % 10 == 0 else SMALL)


class CatchUpTests(TestCase):
    timeout = 240

    async def test_restarted_replica_catches_up_within_a_minute(self):
        cluster = ProcessCluster(self, os.path.abspath(self.mktemp()), 3)
        await cluster.start()
        await cluster.kill(2, "TERM")
        # Back with read quorum 1: once alone, it serves from its own data.
        with open(cluster.config(2)) as f:
            config = f.read()
        with open(cluster.config(2), "w") as f:
            f.write('consistency_mode = "degraded"\n' + config)

        clients = [cluster.s3(i, max_pool_connections=CONCURRENCY) for i in (0, 1)]

        def put(i):
            body = _body(i)
            key = f"obj/{i:04d}"
            clients[i % 2].put_object(Bucket="test", Key=key, Body=body)
            return key, hashlib.sha256(body).digest()

        def put_all():
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                return dict(pool.map(put, range(OBJECTS)))

        digests = await in_thread(put_all)
        self.assertEqual(len(digests), OBJECTS)
        with_blocks = len(range(0, OBJECTS, 10))

        restarted = time.monotonic()
        await cluster.spawn(2)
        counts = {}

        async def caught_up() -> bool:
            items = [await cluster.table_items(i) for i in range(3)]
            counts["now"] = [{t: i.get(t) for t in ("object", "version", "block_ref")}
                             for i in items]
            return counts["now"][2]["object"] == OBJECTS and \
                counts["now"][0] == counts["now"][1] == counts["now"][2]

        await cluster.wait(caught_up, lambda: f"equal counts on every node: {counts}",
                           timeout=CATCH_UP_LIMIT - (time.monotonic() - restarted))
        rows_in = time.monotonic() - restarted
        self.assertEqual(counts["now"][2], {"object": OBJECTS, "version": with_blocks,
                                            "block_ref": with_blocks})

        def blocks_here() -> bool:
            counts["blocks"] = [len(cluster.block_files(i)) for i in range(3)]
            return cluster.block_files(2) == cluster.block_files(0)

        await cluster.wait(blocks_here, lambda: f"the same blocks on node 2: {counts}",
                           timeout=CATCH_UP_LIMIT - (time.monotonic() - restarted))
        self.assertEqual(len(cluster.block_files(2)), with_blocks)
        self.assertLess(time.monotonic() - restarted, CATCH_UP_LIMIT,
                        f"rows after {rows_in:.1f} s")

        # Alone, the restarted node serves every object from its own disk.
        await cluster.kill(0)
        await cluster.kill(1)
        alone = cluster.s3(2, max_pool_connections=CONCURRENCY,
                           retries={"max_attempts": 1, "mode": "standard"})

        def get(key):
            body = alone.get_object(Bucket="test", Key=key)["Body"].read()
            return key, hashlib.sha256(body).digest()

        def get_all():
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                return dict(pool.map(get, sorted(digests)))

        self.assertEqual(await in_thread(get_all), digests)
