"""A layout change on a live loopback cluster: data moves, reads never miss.

Three nodes (replication factor 3) hold objects; a fourth joins and a new
layout is applied while a client keeps writing and reading through the
first node. Every acknowledged object must read back at every moment, and
once every node reports the new version synced, the old version is dropped
and rows and blocks sit exactly where the new layout puts them (the node
that lost partitions offloaded them).
"""

import hashlib
import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from garage_twisted.rpc.layout import NodeRole
from garage_twisted.rpc.ring import partition_of
from tests.support.cluster import GB, add_node, start_cluster
from tests.support.node import in_thread, wait_layout, wait_synced


def _table_rows(node, table_name):
    table = next(t for t in node.model.tables if t.name == table_name)
    return [key for key, _ in table.data.rows.range()]


class LayoutChangeTests(TestCase):
    timeout = 180

    async def test_fourth_node_joins_under_load(self):
        fixtures, nodes = await start_cluster(self)
        key = await fixtures[0].create_key()
        client = fixtures[0].boto3_client(key)
        self.addCleanup(client.close)
        await in_thread(client.create_bucket, Bucket="moving")
        written = {}

        async def put(name, size):
            body = os.urandom(size)
            await in_thread(client.put_object, Bucket="moving", Key=name, Body=body)
            written[name] = hashlib.sha256(body).digest()

        async def check(name):
            got = await in_thread(client.get_object, Bucket="moving", Key=name)
            body = await in_thread(got["Body"].read)
            self.assertEqual(hashlib.sha256(body).digest(), written[name], name)

        for i in range(30):
            await put(f"before/{i:03d}", 100 if i % 3 else 70_000)
        await put("before/big", 2 * 1024 * 1024 + 3)

        newcomer = await add_node(self, fixtures)
        fixtures.append(newcomer)
        nodes.append(newcomer.node)
        ids = [n.node_key.node_id for n in nodes]
        nodes[0].layout.stage_role(ids[3], NodeRole("zone3", 100 * GB))
        nodes[0].layout.apply(2)

        # Writes and reads while the data moves: every acknowledged object
        # reads back, including the ones written before the change.
        i = 0
        while not all(_all_synced(n, 2) for n in nodes) or i < 10:
            await put(f"during/{i:03d}", 100 if i % 2 else 70_000)
            await check(f"during/{i:03d}")
            await check(f"before/{i % 30:03d}")
            i += 1
            if i > 400:
                self.fail("the cluster did not sync the new layout")
        await wait_synced(nodes, 2)
        for node in nodes:
            await wait_layout(node, lambda m: len(m.active_versions()) == 1)
        for name in written:
            await check(name)
        listed = await in_thread(client.list_objects_v2, Bucket="moving", MaxKeys=1000)
        self.assertEqual(sorted(o["Key"] for o in listed["Contents"]), sorted(written))

        # Object rows end up exactly on the nodes the new layout assigns
        # them (one more sync pass: offloads finish after reporting).
        for node in nodes:
            for syncer in node.syncers:
                await syncer.sync_all()
        current = nodes[0].layout.current()
        for node in nodes:
            me = node.node_key.node_id
            for row in _table_rows(node, "object"):
                self.assertIn(me, current.nodes_of(row[:32]),
                              f"row in partition {partition_of(row)} left on a node "
                              "that no longer holds it")
        holders = {}
        for node in nodes:
            for row in _table_rows(node, "object"):
                holders.setdefault(row, set()).add(node.node_key.node_id)
        for row, where in holders.items():
            self.assertEqual(where, set(current.nodes_of(row[:32])))

        # Blocks too, once the resync and deletion delays have passed (run
        # the two workers as if they had): the newcomer fetched the blocks
        # it now holds, the others handed over and deleted what they lost.
        later = int(reactor.seconds() * 1000) + 24 * 3600 * 1000
        for node in nodes:
            await _drain(_worker(node, "block resync"), later)
        for node in nodes:
            await _drain(_worker(node, "block deleter"), later)
        placed = {}
        for node in nodes:
            for hash_ in node.block_manager.store.iter_block_hashes():
                placed.setdefault(hash_, set()).add(node.node_key.node_id)
        self.assertGreater(len(placed), 10)
        # Data did move: rows were offloaded, blocks fetched and handed over.
        self.assertGreater(sum(s.offloaded for n in nodes for s in n.syncers), 0)
        self.assertGreater(_worker(nodes[3], "block resync").fetched, 0)
        for hash_, where in placed.items():
            self.assertEqual(where, set(current.nodes_of(hash_)), hash_.hex())
        for name in written:
            await check(name)


def _worker(node, name):
    return node.workers._slots[name].worker


async def _drain(worker, now_ms):
    from garage_twisted.util.worker import WorkerState
    while (await worker.work(now_ms)) == WorkerState.BUSY:
        pass


def _all_synced(node, version):
    trackers = node.layout.trackers()
    return all(trackers.sync_ack.get(n, 0) >= version
               for n in node.layout.state.storage_nodes())
