"""HeapTrimmer: one trim per interval, never two at once, none left after stop."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

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
        self.clock.advance(10.0)
        self.assertEqual((self.pool.pending, self.calls), ([], 1))

    def test_stop_when_idle_is_immediate(self):
        self.trimmer.startService()
        self.assertIsNone(self.trimmer.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failure_is_logged_and_trimming_goes_on(self):
        """A failing trim is logged; the next interval tries again."""
        outcomes = [RuntimeError("no heap"), 1]

        def flaky():
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        self.trimmer.trim = flaky
        self.trimmer.startService()
        self.clock.advance(1.0)
        self.pool.finish_all()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(1.0)
        self.pool.finish_all()
        self.assertEqual(self.trimmer.trims, 1)
        self.trimmer.stopService()


class GlibcTrimTests(SynchronousTestCase):
    def test_calls_malloc_trim(self):
        """On glibc, the trim runs malloc_trim(0), which answers 0 or 1."""
        trim = glibc_trim()
        if trim is None:
            raise self.skipTest("no glibc malloc_trim here")
        garbage = [bytearray(1 << 20) for _ in range(32)]
        del garbage[::2]
        self.assertIn(trim(), (0, 1))
