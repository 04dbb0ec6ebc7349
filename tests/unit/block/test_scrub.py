"""The scrub worker finds a corrupt block, sets it aside and queues its refetch;
its commands and variables; the block repair."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import blake2sum, compress
from garage_twisted.block.manager import BlockManager
from garage_twisted.block.repair import BlockRepair
from garage_twisted.block.scrub import (
    DEFAULT_TRANQUILITY, PAUSE_DURATION, SCRUB_INTERVAL, BlockScrubber)
from garage_twisted.block.store import CORRUPT_SUFFIX, LocalBlockStore
from garage_twisted.db.memory import MemoryStore
from garage_twisted.util import codec
from garage_twisted.util.time import rfc3339_msec
from garage_twisted.util.worker import WorkerState, WorkerVariableError


def run_now(f, *args):
    return defer.maybeDeferred(f, *args)


class BlockStoreFixture(SynchronousTestCase):
    """A block manager over a real block directory and a memory store."""

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = LocalBlockStore(os.path.abspath(self.mktemp()), run_now)
        self.kv = MemoryStore()
        self.manager = BlockManager(self.store, self.kv, run_now, self.clock)

    def put(self, data):
        hash_ = blake2sum(data)
        self.successResultOf(self.store.write_block(hash_, compress(data, None)))
        return hash_

    def scrub_pass(self, scrubber):
        steps = 0
        while self.successResultOf(scrubber.work()) == WorkerState.BUSY:
            steps += 1
        return steps


class ScrubTests(BlockStoreFixture):

    def test_a_pass_finds_the_corrupt_block_only(self):
        hashes = [self.put(os.urandom(100 + i)) for i in range(10)]
        bad = sorted(hashes)[6]
        path = self.store.block_path(bad, False)
        with open(path, "r+b") as f:
            f.write(b"rot")
        scrubber = BlockScrubber(self.manager, self.kv)
        self.scrub_pass(scrubber)
        self.assertEqual(scrubber.status()["corrupt_found"], 1)
        self.assertFalse(os.path.exists(path))
        self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
        queued = [key[8:] for key, _ in self.manager.resync.range()]
        self.assertEqual(queued, [bad])
        due = int.from_bytes(next(iter(self.manager.resync.range()))[0][:8], "big")
        self.assertLessEqual(due, int(self.clock.seconds() * 1000))
        # The pass is over: the next waits the interval, from a fresh cursor.
        self.assertEqual(scrubber.next_idle_delay, SCRUB_INTERVAL)
        self.assertEqual(self.successResultOf(scrubber.work()), WorkerState.IDLE)

    def test_progress_survives_a_restart(self):
        for i in range(9):
            self.put(os.urandom(50 + i))
        first = BlockScrubber(self.manager, self.kv)
        self.assertEqual(self.successResultOf(first.work()), WorkerState.BUSY)
        again = BlockScrubber(self.manager, self.kv)
        self.assertEqual(again.status()["checked_this_pass"], 4)
        self.scrub_pass(again)
        self.assertEqual(again.status()["corrupt_found"], 0)
        self.assertIsNotNone(again.status()["last_pass_end_ms"])


class ScrubCommandTests(BlockStoreFixture):
    """Garage's scrub commands and variables, on a Clock."""

    def test_start_runs_a_pass_before_the_interval(self):
        """After a pass, ``start`` makes the next step scrub at once."""
        self.put(os.urandom(100))
        scrubber = BlockScrubber(self.manager, self.kv)
        self.scrub_pass(scrubber)
        self.assertEqual(self.successResultOf(scrubber.work()), WorkerState.IDLE)
        ended = scrubber.state[1]
        self.clock.advance(10)
        scrubber.command("start")
        self.assertRaises(WorkerVariableError, scrubber.command, "start")
        self.scrub_pass(scrubber)
        self.assertGreater(scrubber.state[1], ended)
        self.assertEqual(scrubber.variables["scrub-last-completed"].get(),
                         rfc3339_msec(scrubber.state[1]))

    def test_pause_resume_cancel(self):
        """A paused pass waits ``PAUSE_DURATION`` (or a resume), keeps its
        cursor across a restart, and a cancelled one ends."""
        for i in range(9):
            self.put(os.urandom(50 + i))
        scrubber = BlockScrubber(self.manager, self.kv)
        self.assertEqual(self.successResultOf(scrubber.work()), WorkerState.BUSY)
        scrubber.command("pause")
        self.assertEqual(self.successResultOf(scrubber.work()), WorkerState.IDLE)
        self.assertEqual(scrubber.next_idle_delay, PAUSE_DURATION)
        again = BlockScrubber(self.manager, self.kv)  # a restart while paused
        self.assertEqual(self.successResultOf(again.work()), WorkerState.IDLE)
        self.assertEqual(again.variables["scrub-next-run"].get(),
                         rfc3339_msec(int((self.clock.seconds() + PAUSE_DURATION) * 1000)))
        again.command("resume")
        self.assertRaises(WorkerVariableError, again.command, "resume")
        self.assertEqual(self.successResultOf(again.work()), WorkerState.BUSY)
        self.assertEqual(again.status()["checked_this_pass"], 8)
        again.command("cancel")
        self.assertEqual(self.successResultOf(again.work()), WorkerState.IDLE)
        self.assertEqual(again.next_idle_delay, SCRUB_INTERVAL)
        self.assertRaises(WorkerVariableError, again.command, "cancel")
        self.assertRaises(WorkerVariableError, again.command, "faster")

    def test_tranquility_is_kept(self):
        """``scrub-tranquility`` is checked and survives a restart."""
        scrubber = BlockScrubber(self.manager, self.kv)
        self.assertEqual(scrubber.tranquility, DEFAULT_TRANQUILITY)
        scrubber.variables["scrub-tranquility"].set("10")
        self.assertRaises(WorkerVariableError, scrubber.variables["scrub-tranquility"].set, "-1")
        self.assertEqual(BlockScrubber(self.manager, self.kv).tranquility, 10)


class BlockRepairTests(BlockStoreFixture):
    """``garage repair blocks``: references checked, orphan files planned for deletion."""

    def test_repair_queues_references_and_plans_orphans(self):
        referenced = self.put(os.urandom(200))
        missing = bytes(range(32))  # referenced, never written
        orphan = self.put(os.urandom(300))  # written, never referenced
        tx = self.kv.transaction()
        self.manager.incref(tx, referenced)
        self.manager.incref(tx, missing)
        tx.commit()
        for key, _ in list(self.manager.resync.range()):
            self.manager.resync.remove(key)
        repair = BlockRepair(self.manager)
        while self.successResultOf(repair.work()) == WorkerState.BUSY:
            pass
        queued = sorted(key[8:] for key, _ in self.manager.resync.range())
        self.assertEqual(queued, sorted([referenced, missing]))
        self.assertEqual(repair.status(), {"phase": "files", "resyncs_queued": 2,
                                           "orphan_files": 1})
        count, deadline = codec.loads(self.manager.rc.get(orphan))
        self.assertEqual(count, 0)
        self.assertGreater(deadline, self.clock.seconds() * 1000)
        self.assertEqual(len(list(self.manager.gc_todo.range())), 1)
