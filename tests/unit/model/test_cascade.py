"""Deleting an object releases its blocks: object -> version -> block_ref ->
reference count -> delayed deletion of the block file."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from garage_twisted.block.manager import BLOCK_GC_DELAY_MS, BlockDeleter, BlockManager, block_hash
from garage_twisted.block.store import LocalBlockStore
from garage_twisted.db.memory import MemoryStore
from garage_twisted.model.block_ref import BlockRef
from garage_twisted.model.garage import GarageModel
from garage_twisted.model.object import (
    DATA_FIRST_BLOCK, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
    ObjectVersionMeta,
)
from garage_twisted.model.version import Version, VersionBlock
from garage_twisted.table.queue import InsertQueueWorker
from garage_twisted.table.replication import LocalReplication
from garage_twisted.util.crdt import Bool
from garage_twisted.util.worker import WorkerState


def run_now(f, *args):
    return defer.maybeDeferred(f, *args)


class CascadeTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        store = MemoryStore()
        self.blocks = LocalBlockStore(os.path.abspath(self.mktemp()), run_now)
        self.manager = BlockManager(self.blocks, store, run_now, self.clock)
        local = LocalReplication(b"n" * 32)
        self.model = GarageModel(store, self.manager, b"n" * 32, local, local, self.clock)
        self.bucket = os.urandom(32)

    def drain_queues(self):
        for table in self.model.tables:
            worker = InsertQueueWorker(table)
            while self.successResultOf(defer.maybeDeferred(worker.work)) == WorkerState.BUSY:
                pass

    def put(self, key, data, timestamp):
        uuid = os.urandom(32)
        hash_ = block_hash(data)
        self.model.version_table.insert(
            Version.new(uuid, self.bucket, key).with_block(0, 0, VersionBlock(hash_, len(data))))
        self.model.block_ref_table.insert(BlockRef(hash_, uuid, Bool(False)))
        self.successResultOf(self.manager.put_block(data, known_hash=hash_))
        meta = ObjectVersionMeta((), len(data), "e")
        version = ObjectVersion(uuid, timestamp, STATE_COMPLETE,
                                data=ObjectVersionData(DATA_FIRST_BLOCK, meta, first_block=hash_))
        self.model.object_table.insert(Object(self.bucket, key, (version,)))
        return hash_

    def delete(self, key, timestamp):
        marker = ObjectVersion(os.urandom(32), timestamp, STATE_COMPLETE,
                               data=ObjectVersionData.delete_marker())
        self.model.object_table.insert(Object(self.bucket, key, (marker,)))

    def test_overwrite_then_delete_releases_blocks(self):
        """Blocks of replaced and deleted versions are deleted after the delay,
        and a block still referenced elsewhere is kept."""
        shared = os.urandom(5000)
        first = self.put("a", os.urandom(5000), 1)
        kept = self.put("b", shared, 1)
        second = self.put("a", shared, 2)  # overwrites a; same content as b
        self.assertEqual(second, kept)
        self.drain_queues()
        self.assertEqual(self.manager.refcount(first), 0)
        self.assertEqual(self.manager.refcount(kept), 2)
        self.delete("a", 3)
        self.drain_queues()
        self.assertEqual(self.manager.refcount(kept), 1)
        deleter = BlockDeleter(self.manager)
        self.assertEqual(self.successResultOf(deleter.work()), WorkerState.IDLE)
        self.assertTrue(self.successResultOf(self.blocks.has_block(first)))
        self.clock.advance(BLOCK_GC_DELAY_MS / 1000 + 1)
        while self.successResultOf(deleter.work()) == WorkerState.BUSY:
            pass
        self.assertFalse(self.successResultOf(self.blocks.has_block(first)))
        self.assertTrue(self.successResultOf(self.blocks.has_block(kept)))
        self.assertEqual(self.successResultOf(self.manager.get_block(kept)), shared)

    def test_reference_taken_during_delay_keeps_block(self):
        """A block whose count went back above zero before the delay ended stays."""
        data = os.urandom(4000)
        hash_ = self.put("a", data, 1)
        self.delete("a", 2)
        self.drain_queues()
        self.assertEqual(self.manager.refcount(hash_), 0)
        self.put("b", data, 3)
        self.drain_queues()
        self.clock.advance(BLOCK_GC_DELAY_MS / 1000 + 1)
        deleter = BlockDeleter(self.manager)
        while self.successResultOf(deleter.work()) == WorkerState.BUSY:
            pass
        self.assertEqual(self.successResultOf(self.manager.get_block(hash_)), data)

    def run_deleter(self):
        deleter = BlockDeleter(self.manager)
        while self.successResultOf(deleter.work()) == WorkerState.BUSY:
            pass

    def test_block_written_before_its_reference_survives_a_due_deletion(self):
        """Uploads send a block and its reference at once: a block rewritten
        while its old deletion is due, reference not yet there, stays."""
        data = os.urandom(4000)
        hash_ = self.put("a", data, 1)
        self.delete("a", 2)
        self.drain_queues()
        self.clock.advance(BLOCK_GC_DELAY_MS / 1000 + 1)  # deletion now due
        self.successResultOf(self.manager.put_block(data, known_hash=hash_))
        self.run_deleter()  # before the new reference arrives
        uuid = os.urandom(32)
        self.model.block_ref_table.insert(BlockRef(hash_, uuid, Bool(False)))
        self.drain_queues()
        self.clock.advance(BLOCK_GC_DELAY_MS / 1000 + 1)
        self.run_deleter()
        self.assertEqual(self.manager.refcount(hash_), 1)
        self.assertEqual(self.successResultOf(self.manager.get_block(hash_)), data)

    def test_block_whose_reference_never_comes_is_deleted_after_the_delay(self):
        """An upload that died between writing a block and referencing it
        leaks nothing."""
        data = os.urandom(4000)
        hash_ = self.successResultOf(self.manager.put_block(data))
        self.run_deleter()
        self.assertTrue(self.successResultOf(self.blocks.has_block(hash_)))
        self.clock.advance(BLOCK_GC_DELAY_MS / 1000 + 1)
        self.run_deleter()
        self.assertFalse(self.successResultOf(self.blocks.has_block(hash_)))
