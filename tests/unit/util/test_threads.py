"""The I/O thread pool service and the batching runner."""

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from garage_twisted.util.threads import BatchingRunner, ThreadPoolService


class BatchingRunnerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.trips = []

        def run(f, *args):
            self.trips.append(f)
            return defer.maybeDeferred(f, *args)

        self.runner = BatchingRunner(self.clock, run)

    def test_one_trip_per_turn(self):
        """Calls made in one turn share one pool job and keep their own results."""
        done = [self.runner.run(lambda x: x * 2, i) for i in range(5)]
        self.assertEqual(self.trips, [])
        self.clock.advance(0)
        self.assertEqual(len(self.trips), 1)
        self.assertEqual([self.successResultOf(d) for d in done], [0, 2, 4, 6, 8])

    def test_errors_stay_with_their_call(self):
        """A failing call errbacks its own Deferred only."""
        good = self.runner.run(lambda: "ok")
        bad = self.runner.run(lambda: 1 / 0)
        self.clock.advance(0)
        self.assertEqual(self.successResultOf(good), "ok")
        self.failureResultOf(bad, ZeroDivisionError)

    def test_next_turn_is_a_new_batch(self):
        """Calls made after a batch left go in the next one."""
        self.runner.run(lambda: None)
        self.clock.advance(0)
        self.runner.run(lambda: None)
        self.clock.advance(0)
        self.assertEqual(len(self.trips), 2)


class ThreadPoolServiceTests(TestCase):
    async def test_runs_in_a_thread(self):
        """run() executes the call off the reactor thread and returns its result."""
        import threading

        service = ThreadPoolService(reactor, name="test")
        service.startService()
        self.addCleanup(service.stopService)
        main = threading.get_ident()
        ident = await service.run(threading.get_ident)
        self.assertNotEqual(ident, main)
        self.assertEqual(await service.run(sum, [1, 2, 3]), 6)
