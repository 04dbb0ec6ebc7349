"""The scrub worker finds a corrupt block, sets it aside and queues its refetch;
its commands and variables; the block repair; the resync worker's queue."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import block_hash, compress
from garage_twisted.block.manager import BlockManager, BlockResyncer
from garage_twisted.block.repair import BlockRepair
from garage_twisted.block.scrub import (
    DEFAULT_TRANQUILITY, PAUSE_DURATION, SCRUB_INTERVAL, STATE_KEY, BlockScrubber, ScrubState)
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
        hash_ = block_hash(data)
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


    def test_state_keeps_its_stored_bytes(self):
        """The named state is stored as the positional CBOR list earlier
        releases wrote: a node's persisted scrub state reads back, and is
        written back byte for byte."""
        self.assertEqual(codec.dumps(ScrubState(b"", 5, 0, 1).to_cbor()),
                         bytes.fromhex("8440050001"))
        old = codec.dumps([b"\x12" * 32, 1_700_000_000_000, 40, 2])
        tree = self.kv.open_tree("block:scrub")
        tree.insert(STATE_KEY, old)
        scrubber = BlockScrubber(self.manager, self.kv)
        self.assertEqual(scrubber.state, ScrubState(b"\x12" * 32, 1_700_000_000_000, 40, 2))
        self.assertEqual(scrubber.status()["checked_this_pass"], 40)
        self.assertEqual(scrubber.variables["scrub-corruptions_detected"].get(), "2")
        scrubber._save()
        self.assertEqual(bytes(tree.get(STATE_KEY)), old)


class ScrubCommandTests(BlockStoreFixture):
    """Garage's scrub commands and variables, on a Clock."""

    def test_start_runs_a_pass_before_the_interval(self):
        """After a pass, ``start`` makes the next step scrub at once."""
        self.put(os.urandom(100))
        scrubber = BlockScrubber(self.manager, self.kv)
        self.scrub_pass(scrubber)
        self.assertEqual(self.successResultOf(scrubber.work()), WorkerState.IDLE)
        ended = scrubber.state.last_pass_end_ms
        self.clock.advance(10)
        scrubber.command("start")
        self.assertRaises(WorkerVariableError, scrubber.command, "start")
        self.scrub_pass(scrubber)
        self.assertGreater(scrubber.state.last_pass_end_ms, ended)
        self.assertEqual(scrubber.variables["scrub-last-completed"].get(),
                         rfc3339_msec(scrubber.state.last_pass_end_ms))

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

    def test_cancel_during_a_step_wins(self):
        """A cancel that comes while a step reads blocks is not undone by
        the step's end; a start during the first step of a pass is refused."""
        for i in range(9):
            self.put(os.urandom(50 + i))
        pending = []
        real = self.store.read_and_verify

        def held(hash_):
            d = defer.Deferred()
            pending.append((d, hash_))
            return d
        self.store.read_and_verify = held
        scrubber = BlockScrubber(self.manager, self.kv)
        step = scrubber.work()
        self.assertRaises(WorkerVariableError, scrubber.command, "start")
        scrubber.command("cancel")
        self.store.read_and_verify = real
        while pending:
            d, hash_ = pending.pop()
            d.callback(None)
        self.assertEqual(self.successResultOf(step), WorkerState.BUSY)
        self.assertEqual(scrubber.state.cursor, b"")
        self.assertEqual(scrubber.state.checked_this_pass, 0)
        self.assertEqual(BlockScrubber(self.manager, self.kv).state.cursor, b"")
        self.assertEqual(self.successResultOf(scrubber.work()), WorkerState.IDLE)


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


class ResyncTests(BlockStoreFixture):
    """The resync worker keeps a block queued through its fetch, fetches
    ``resync-worker-count`` blocks at once, and each block once."""

    def setUp(self):
        super().setUp()
        self.resyncer = BlockResyncer(self.manager)
        self.fetches = []

        def get_block(hash_, size=None):
            d = defer.Deferred()
            self.fetches.append((hash_, d))
            return d
        self.manager.get_block = get_block

    def queue(self, hashes):
        tx = self.kv.transaction()
        for hash_ in hashes:
            self.manager.incref(tx, hash_)
        tx.commit()
        self.manager.resync_now(hashes)

    def test_queued_through_the_fetch_and_done_after(self):
        missing = bytes(range(32))
        self.queue([missing])
        # Queued twice (a second entry, as a repair or a scrub adds one):
        # fetched once, and the other entry is dropped.
        tx = self.kv.transaction()
        self.manager.queue_resync(tx, missing, int(self.clock.seconds() * 1000) - 1, 0)
        tx.commit()
        self.assertEqual(self.manager.resync.count(), 2)
        step = self.resyncer.work()
        self.assertEqual([h for h, _ in self.fetches], [missing])
        # Mid-fetch, the block is still queued (a crash now forgets nothing).
        self.assertEqual([key[8:] for key, _ in self.manager.resync.range()], [missing])
        data = b"block data"
        self.fetches[0][1].errback(RuntimeError("no replica answers"))
        self.assertEqual(self.successResultOf(step), WorkerState.BUSY)
        (key, _), = self.manager.resync.range()
        self.assertGreater(int.from_bytes(key[:8], "big"), self.clock.seconds() * 1000)
        self.assertEqual(len(self.manager.list_resync_errors()), 1)
        self.manager.resync_now([missing])
        self.fetches.clear()
        step = self.resyncer.work()
        self.fetches[0][1].callback(data)
        self.assertEqual(self.successResultOf(step), WorkerState.BUSY)
        self.assertEqual(list(self.manager.resync.range()), [])
        self.assertEqual(self.manager.list_resync_errors(), [])
        self.assertEqual(self.resyncer.fetched, 1)

    def test_worker_count_fetches_at_once(self):
        hashes = [bytes([i]) * 32 for i in range(5)]
        self.queue(hashes)
        self.resyncer.worker_count.set("3")
        step = self.resyncer.work()
        self.assertEqual(len(self.fetches), 3)
        for _, d in list(self.fetches):
            d.callback(b"x")
        self.assertEqual(len(self.fetches), 5)
        for _, d in self.fetches[3:]:
            d.callback(b"x")
        self.assertEqual(self.successResultOf(step), WorkerState.BUSY)
        self.assertEqual(self.resyncer.fetched, 5)

    def test_a_block_already_here_only_leaves_the_queue(self):
        here = self.put(b"stored block")
        self.queue([here])
        self.assertEqual(self.successResultOf(self.resyncer.work()), WorkerState.BUSY)
        self.assertEqual(self.fetches, [])
        self.assertEqual(list(self.manager.resync.range()), [])
        self.assertEqual(self.resyncer.fetched, 0)
