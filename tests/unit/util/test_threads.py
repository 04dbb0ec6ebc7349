"""The I/O thread pool service."""

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from garage_twisted.util.threads import ThreadPoolService


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

    def test_a_job_after_stop_fails_instead_of_waiting_forever(self):
        from garage_twisted.util.threads import PoolStopped

        service = ThreadPoolService(reactor, name="test")
        service.startService()
        service.stopService()
        self.failureResultOf(service.run(sum, [1]), PoolStopped)
