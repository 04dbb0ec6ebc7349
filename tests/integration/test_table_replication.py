"""Tables replicated over real nodes in one reactor: quorum writes and reads."""

import os

from twisted.trial.unittest import TestCase

from garage_twisted.model.key import Key
from garage_twisted.model.object import Object, ObjectVersion, STATE_UPLOADING
from garage_twisted.block.data import block_hash
from garage_twisted.table.merkle import MerkleUpdater
from garage_twisted.util.errors import QuorumError
from garage_twisted.util.worker import WorkerState
from tests.support.cluster import start_cluster
from tests.support.node import NodeFixture, wait_connected

GB = 10 ** 9


async def until_local(testcase, nodes, holds, round_trip, *args):
    """Wait until ``holds(node)`` for every node, by quorum reads (network
    round trips that let writes in flight land), at most 100 of them."""
    for _ in range(100):
        if all(holds(n) for n in nodes):
            return
        await round_trip(*args)
    testcase.fail("replicas never converged")


class TableReplicationTests(TestCase):
    timeout = 60

    _cluster = start_cluster

    async def test_write_on_one_read_on_the_others(self):
        fixtures, (a, b, c) = await self._cluster()
        bucket = os.urandom(32)
        entry = Object(bucket, "photos/cat.jpg",
                       (ObjectVersion(os.urandom(32), 1, STATE_UPLOADING),))
        await a.model.object_table.insert(entry)
        for node in (a, b, c):
            got = await node.model.object_table.get(bucket, b"photos/cat.jpg")
            self.assertEqual(got, entry)
        # Every replica ends up holding it locally: the write went to all
        # three, and returned at the quorum of two.
        await until_local(self, [a, b, c], lambda n: n.model.object_table.data.read_entry(
            bucket, b"photos/cat.jpg") == entry, a.model.object_table.get, bucket,
            b"photos/cat.jpg")
        listed = await c.model.object_table.get_range(bucket)
        self.assertEqual([o.key for o in listed], ["photos/cat.jpg"])
        # A full-copy table (keys): written on B, read locally on A and C.
        key = Key.new(1, "app")
        await b.model.key_table.insert(key)
        await until_local(self, [a, c], lambda n: n.model.key_table.data.read_entry(
            key.partition_hash(), key.sort_key()) == key, b.model.object_table.get,
            bucket, b"photos/cat.jpg")

    async def test_quorum_survives_one_node_down_not_two(self):
        fixtures, (a, b, c) = await self._cluster()
        await fixtures[2].stop()
        bucket = os.urandom(32)
        entry = Object(bucket, "k", (ObjectVersion(os.urandom(32), 1, STATE_UPLOADING),))
        await a.model.object_table.insert(entry)
        self.assertEqual(await b.model.object_table.get(bucket, b"k"), entry)
        await fixtures[1].stop()
        with self.assertRaises(QuorumError):
            await a.model.object_table.insert(
                Object(bucket, "k2", (ObjectVersion(os.urandom(32), 2, STATE_UPLOADING),)))

    async def test_read_repair(self):
        """A replica that missed a write gets it back when a read merges."""
        fixtures, (a, b, c) = await self._cluster()
        bucket = os.urandom(32)
        entry = Object(bucket, "late", (ObjectVersion(os.urandom(32), 1, STATE_UPLOADING),))
        # Written on A's local data only, as if B and C had missed it.
        a.model.object_table.data.update_entries([entry])
        self.assertIsNone(b.model.object_table.data.read_entry(bucket, b"late"))
        got = await a.model.object_table.get(bucket, b"late")
        self.assertEqual(got, entry)
        # The repair is sent in the background: a second read through B sees
        # the entry in B's own data once it landed.
        for _ in range(100):
            if b.model.object_table.data.read_entry(bucket, b"late") is not None:
                break
            await b.model.object_table.get(bucket, b"late")
        self.assertEqual(b.model.object_table.data.read_entry(bucket, b"late"), entry)


class BlockReplicationTests(TestCase):
    """Blocks on the three nodes of an RF 3 cluster."""

    timeout = 60
    _cluster = start_cluster

    async def test_put_reaches_every_node_get_falls_back(self):
        fixtures, (a, b, c) = await self._cluster()
        data = os.urandom(300_000)
        hash_ = await a.block_manager.put_block(data)
        stores = [n.block_manager.store for n in (a, b, c)]

        async def everywhere():
            for _ in range(100):
                present = [await s.has_block(hash_) for s in stores]
                if all(present):
                    return
                await b.block_manager.get_block(hash_, len(data))
            self.fail("the block never reached every node")

        await everywhere()
        # B loses its copy: it reads from another node, and the bytes match.
        await b.block_manager.store.delete_block(hash_)
        self.assertEqual(await b.block_manager.get_block(hash_, len(data)), data)
        # With one node down, a write still reaches its quorum.
        await fixtures[2].stop()
        other = os.urandom(5000)
        other_hash = await a.block_manager.put_block(other)
        self.assertEqual(await b.block_manager.get_block(other_hash, len(other)), other)


class AntiEntropyTests(TestCase):
    timeout = 60
    _cluster = start_cluster

    async def test_a_node_that_was_down_catches_up_by_sync_alone(self):
        fixtures, (a, b, c) = await self._cluster()
        base_c = fixtures[2].base
        await fixtures[2].stop()
        bucket = os.urandom(32)
        entries = [Object(bucket, f"k{i}", (ObjectVersion(os.urandom(32), 1, STATE_UPLOADING),))
                   for i in range(50)]
        await a.model.object_table.insert_many(entries)
        # C comes back (same data directory) without the 50 writes.
        again = await NodeFixture.start(self, base=base_c, rpc_secret=fixtures[0].rpc_secret,
                                        apply_layout=False, replication_factor=3,
                                        extra=f'bootstrap_peers = ["{fixtures[0].peer_address}"]')
        c = again.node
        for node in (a, b):
            await wait_connected(node.network, c.node_key.node_id)
        self.assertIsNone(c.model.object_table.data.read_entry(bucket, b"k0"))
        # Bring A's Merkle trie up to date (its worker would, a moment
        # later), then one sync pass.
        updater = MerkleUpdater(a.model.object_table.data)
        while updater.work() == WorkerState.BUSY:
            pass
        syncer = next(s for s in a.syncers if s.table is a.model.object_table)
        pushed = await syncer.sync_all()
        self.assertGreaterEqual(pushed, 50)
        for entry in entries:
            self.assertEqual(c.model.object_table.data.read_entry(bucket, entry.key.encode()),
                             entry)

    async def test_blocks_follow_their_references_after_downtime(self):
        """A node down while a block was written gets the block_ref by sync,
        then the block itself from its resync queue."""
        from garage_twisted.block.manager import BlockResyncer
        from garage_twisted.model.block_ref import BlockRef
        from garage_twisted.util.crdt import Bool

        fixtures, (a, b, c) = await self._cluster()
        base_c = fixtures[2].base
        await fixtures[2].stop()
        data = os.urandom(200_000)
        hash_ = block_hash(data)
        await a.model.block_ref_table.insert(BlockRef(hash_, os.urandom(32), Bool(False)))
        await a.block_manager.put_block(data, known_hash=hash_)
        again = await NodeFixture.start(self, base=base_c, rpc_secret=fixtures[0].rpc_secret,
                                        apply_layout=False, replication_factor=3,
                                        extra=f'bootstrap_peers = ["{fixtures[0].peer_address}"]')
        c = again.node
        await wait_connected(a.network, c.node_key.node_id)
        updater = MerkleUpdater(a.model.block_ref_table.data)
        while updater.work() == WorkerState.BUSY:
            pass
        syncer = next(s for s in a.syncers if s.table is a.model.block_ref_table)
        self.assertGreaterEqual(await syncer.sync_all(), 1)
        self.assertEqual(c.block_manager.refcount(hash_), 1)
        self.assertFalse(await c.block_manager.store.has_block(hash_))
        resyncer = BlockResyncer(c.block_manager)
        await resyncer.work(now_ms=2 ** 62)  # as if the resync delay had passed
        self.assertEqual(resyncer.fetched, 1)
        self.assertEqual(await c.block_manager.get_local(hash_), data)
