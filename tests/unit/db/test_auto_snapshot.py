"""Metadata snapshots on a timer, driven by the reactor clock given."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.auto_snapshot import JITTER, AutoSnapshotWorker
from garage_twisted.db.memory import MemoryStore
from garage_twisted.db.snapshot import KEEP, MetadataSnapshots
from garage_twisted.util.worker import WorkerRunner, WorkerState

HOUR = 3600.0


def run_now(f, *args):
    return defer.maybeDeferred(f, *args)


class FailingSnapshots:
    """Snapshots that fail until told otherwise."""

    def __init__(self):
        self.failing = True
        self.calls = 0

    def create(self):
        self.calls += 1
        if self.failing:
            return defer.fail(OSError("No space left on device"))
        return defer.succeed(f"/snapshots/{self.calls}")


class AutoSnapshotTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.store = MemoryStore()
        self.store.open_tree("t").insert(b"k", b"v")
        self.directory = os.path.abspath(self.mktemp())
        self.snapshots = MetadataSnapshots(self.store, self.directory, run_now, self.clock)
        self.runner = WorkerRunner(self.clock)
        self.addCleanup(self.runner.stopService)

    def start(self, worker):
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(0)  # the first step, at start

    def copies(self):
        return self.snapshots.list()

    def test_first_after_half_an_interval_then_every_interval(self):
        """The first copy comes half an interval after start, the next ones
        an interval (times the jitter factor) after the previous one."""
        worker = AutoSnapshotWorker(self.snapshots, 6 * HOUR, self.clock, rng=lambda: 0.5)
        self.start(worker)
        self.clock.advance(3 * HOUR - 1)
        self.assertEqual(self.copies(), [])
        self.clock.advance(1)
        self.assertEqual(len(self.copies()), 1)
        self.assertEqual(worker.status()["snapshots_taken"], 1)
        gap = 6 * HOUR * (1 + 0.5 * JITTER)
        self.clock.advance(gap - 1)
        self.assertEqual(len(self.copies()), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.copies()), 2)
        # The oldest go: KEEP copies at most.
        self.clock.advance(gap)
        self.assertEqual(len(self.copies()), KEEP)
        self.assertEqual(worker.taken, 3)
        (info,) = self.runner.list_workers()
        self.assertEqual(info.state, WorkerState.IDLE)
        self.assertEqual(info.errors, 0)
        self.assertAlmostEqual(info.next_step_in, gap)

    def test_a_copy_holds_the_database(self):
        """What the timer takes is a whole copy (the CreateMetadataSnapshot one)."""
        from garage_twisted.db.leveldb import LevelDBStore
        worker = AutoSnapshotWorker(self.snapshots, HOUR, self.clock)
        self.start(worker)
        self.clock.advance(HOUR / 2)
        (path,) = self.copies()
        self.assertEqual(worker.last_path, path)
        copy = LevelDBStore.open(path)
        self.addCleanup(copy.close)
        self.assertEqual(copy.open_tree("t").get(b"k"), b"v")

    def test_a_failed_snapshot_is_retried(self):
        """A snapshot that fails is the worker's error, retried after the
        runner's back-off, not an interval later."""
        snapshots = FailingSnapshots()
        worker = AutoSnapshotWorker(snapshots, HOUR, self.clock, rng=lambda: 0.0)
        self.start(worker)
        self.clock.advance(HOUR / 2)
        self.assertEqual(snapshots.calls, 1)
        (info,) = self.runner.list_workers()
        self.assertEqual(info.state, WorkerState.THROTTLED)
        self.assertIn("No space left", info.last_error)
        self.flushLoggedErrors()
        snapshots.failing = False
        self.clock.advance(1)
        self.assertEqual(snapshots.calls, 2)
        self.assertEqual(worker.taken, 1)
        self.clock.advance(HOUR - 1)
        self.assertEqual(snapshots.calls, 2)
        self.clock.advance(1)
        self.assertEqual(snapshots.calls, 3)

    def test_status_names_the_next_snapshot(self):
        """ListWorkers shows when the next copy comes."""
        worker = AutoSnapshotWorker(self.snapshots, HOUR, self.clock)
        self.start(worker)
        self.assertEqual(worker.status()["next_snapshot"], "1970-01-01T00:30:00.000Z")
