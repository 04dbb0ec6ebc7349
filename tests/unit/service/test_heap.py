"""HeapTrimmer: one trim per interval, never two at once, none left after stop."""

import os

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.service import tap
from garage_twisted.service.heap import HeapTrimmer, glibc_trim


class FakePool:
    """``run_in_thread`` whose calls finish when the test says so."""

    def __init__(self):
        self.pending = []

    def run(self, f):
        d = defer.Deferred()
        self.pending.append((f, d))
        return d

    def finish_all(self):
        pending, self.pending = self.pending, []
        for f, d in pending:
            try:
                d.callback(f())
            except Exception as e:
                d.errback(e)


class HeapTrimmerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.pool = FakePool()
        self.calls = 0
        self.trimmer = HeapTrimmer(self.clock, self.pool.run, self.trim, interval=1.0)

    def trim(self):
        self.calls += 1
        return 1

    def test_trims_once_per_interval(self):
        """Nothing at start; then one trim per elapsed interval."""
        self.trimmer.startService()
        self.assertEqual(self.pool.pending, [])
        for expected in (1, 2, 3):
            self.clock.advance(1.0)
            self.pool.finish_all()
            self.assertEqual((self.calls, self.trimmer.trims), (expected, expected))
        self.trimmer.stopService()

    def test_no_second_trim_while_one_runs(self):
        """Ticks while a trim is still running start none (no backlog)."""
        self.trimmer.startService()
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(len(self.pool.pending), 1)
        self.pool.finish_all()
        self.clock.advance(1.0)
        self.assertEqual(len(self.pool.pending), 1)
        self.pool.finish_all()
        self.assertEqual(self.calls, 2)
        self.trimmer.stopService()

    def test_stop_waits_for_the_running_trim(self):
        """stopService fires only once the trim in flight is done; no tick after."""
        self.trimmer.startService()
        self.clock.advance(1.0)
        stopped = self.trimmer.stopService()
        self.assertNoResult(stopped)
        self.pool.finish_all()
        self.successResultOf(stopped)
        self.assertEqual(self.trimmer.trims, 1)
        self.clock.advance(10.0)
        self.assertEqual((self.pool.pending, self.calls), ([], 1))

    def test_stop_when_idle_is_immediate(self):
        """With no trim in flight, stopping leaves nothing scheduled."""
        self.trimmer.startService()
        self.assertIsNone(self.trimmer.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failure_is_logged_and_trimming_stops(self):
        """A failing trim is logged once; no trim is tried again."""
        def failing():
            self.calls += 1
            raise RuntimeError("no heap")

        self.trimmer.trim = failing
        self.trimmer.startService()
        self.clock.advance(1.0)
        self.pool.finish_all()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(5.0)
        self.assertEqual((self.pool.pending, self.calls, self.trimmer.trims), ([], 1, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIsNone(self.trimmer.stopService())


def _resident_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return None


class GlibcTrimTests(SynchronousTestCase):
    def test_gives_free_heap_back(self):
        """malloc_trim(0) returns the free pages between live heap chunks:
        64 MiB of 1 KiB chunks, one in 64 kept, leaves the resident size
        tens of MiB lower once trimmed."""
        trim = glibc_trim()
        if trim is None or not os.path.exists("/proc/self/status"):
            raise self.skipTest("no glibc malloc_trim or no /proc here")
        chunks = [bytes(1000) + bytes([i & 255]) for i in range(65536)]
        kept = chunks[::64]
        del chunks
        before = _resident_mib()
        self.assertIn(trim(), (0, 1))
        after = _resident_mib()
        self.assertLess(after, before - 20)
        self.assertEqual(len(kept), 1024)


class InstallTests(SynchronousTestCase):
    def test_twistd_plugin_installs_the_trimmer(self):
        """The plugin's node gets a heap trimmer running glibc's malloc_trim,
        whose trims go to the reactor's thread pool and fail at once once
        that pool has stopped."""
        if glibc_trim() is None:
            raise self.skipTest("no glibc malloc_trim here")

        class StoppedPool:
            joined = True

        class FakeReactor(Clock):
            def getThreadPool(self):
                return StoppedPool()

        node = MultiService()
        tap._install_heap_trimmer(node, FakeReactor())
        (trimmer,) = list(node)
        self.assertIsInstance(trimmer, HeapTrimmer)
        self.failureResultOf(trimmer.run_in_thread(trimmer.trim), RuntimeError)
