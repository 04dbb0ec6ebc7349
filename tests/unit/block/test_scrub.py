"""The scrub worker finds a corrupt block, sets it aside and queues its refetch."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import blake2sum, compress
from garage_twisted.block.manager import BlockManager
from garage_twisted.block.scrub import SCRUB_INTERVAL, BlockScrubber
from garage_twisted.block.store import CORRUPT_SUFFIX, LocalBlockStore
from garage_twisted.db.memory import MemoryStore
from garage_twisted.util.worker import WorkerState


def run_now(f, *args):
    return defer.maybeDeferred(f, *args)


class ScrubTests(SynchronousTestCase):

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
