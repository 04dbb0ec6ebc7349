"""A node that was alone gains a second node: its rows still move.

A node alone in its layout keeps no Merkle trie (no replica would read it;
see ``MerkleUpdater``): the to-do list only grows.
When a second node gets a role, the first anti-entropy pass that reports the
new version drains that list before comparing tries, so every row reaches
its new owner. Replication factor 1: the partitions split between the two.
"""

import hashlib
import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from garage_twisted.rpc.layout import NodeRole
from garage_twisted.util.worker import WorkerState
from tests.support.cluster import GB
from tests.support.node import NodeFixture, in_thread, wait_connected, wait_layout, wait_synced


def _merkle(node, table_name):
    return node.workers._slots[f"{table_name} Merkle"].worker


class SingleNodeGrowsTests(TestCase):
    timeout = 120

    async def test_rows_written_alone_reach_the_new_owner(self):
        first = await NodeFixture.start(self, replication_factor=1)
        node = first.node
        key = await first.create_key()
        client = first.boto3_client(key)
        self.addCleanup(client.close)
        await in_thread(client.create_bucket, Bucket="alone")
        written = {}
        for i in range(40):
            body = os.urandom(100 if i % 4 else 5000)
            await in_thread(client.put_object, Bucket="alone", Key=f"k{i:03d}", Body=body)
            written[f"k{i:03d}"] = hashlib.sha256(body).digest()

        # Alone: the trie is left empty and the to-do list holds every row.
        merkle = _merkle(node, "object")
        self.assertTrue(node.layout.alone_in_layout())
        self.assertIn("paused", merkle.status())
        self.assertGreaterEqual(merkle.status()["todo_length"], 40)
        self.assertEqual(list(merkle.trie.tree.range()), [])

        second = await NodeFixture.start(
            self, rpc_secret=first.rpc_secret, apply_layout=False, replication_factor=1,
            extra=f'bootstrap_peers = ["{first.peer_address}"]')
        nodes = [node, second.node]
        await wait_connected(node.network, second.node.node_key.node_id)
        await wait_connected(second.node.network, node.node_key.node_id)
        node.layout.stage_role(second.node.node_key.node_id, NodeRole("dc2", 10 * GB))
        node.layout.apply(2)
        for each in nodes:
            await wait_layout(each, lambda m: m.current().version == 2)
        self.assertFalse(node.layout.alone_in_layout())
        await wait_synced(nodes, 2)
        for each in nodes:
            await wait_layout(each, lambda m: len(m.active_versions()) == 1)
        # Offloads finish after the pass that reported: one more pass.
        for syncer in node.syncers:
            await syncer.sync_all()

        current = node.layout.current()

        def holders(table_name):
            found = {}
            for each in nodes:
                table = next(t for t in each.model.tables if t.name == table_name)
                for row, _ in table.data.rows.range():
                    found.setdefault(row, set()).add(each.node_key.node_id)
            return found

        # Object rows share their bucket's partition; versions spread over
        # all partitions, so some of them moved.
        self.assertEqual(len(holders("object")), 40)
        versions = holders("version")
        self.assertEqual(len(versions), 10)  # the 5000-byte objects (others are inline)
        moved = 0
        for table_name in ("object", "version"):
            for row, where in holders(table_name).items():
                self.assertEqual(where, set(current.nodes_of(row[:32])), table_name)
                moved += second.node.node_key.node_id in where
        self.assertGreater(moved, 0)
        # Blocks follow through the new owner's resync (run it as if its
        # delays had passed); the old node keeps them until then.
        later = int(reactor.seconds() * 1000) + 24 * 3600 * 1000
        resync = second.node.workers._slots["block resync"].worker
        while (await resync.work(later)) == WorkerState.BUSY:
            pass
        for name, digest in written.items():
            got = await in_thread(client.get_object, Bucket="alone", Key=name)
            body = await in_thread(got["Body"].read)
            self.assertEqual(hashlib.sha256(body).digest(), digest, name)
