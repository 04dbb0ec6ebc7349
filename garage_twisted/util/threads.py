"""The node's I/O thread pool as a service.

Large hashing (hashlib releases the GIL from 2 KiB buffers), compression and
block file I/O run here so the reactor thread never waits on them.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool


class ThreadPoolService(Service):
    """Owns a ``ThreadPool``: started and stopped with the service.

    :param reactor: the reactor whose thread receives the results.
    :param name: the pool's name (shown in thread names).
    """

    def __init__(self, reactor, name: str = "io", min_threads: int = 2, max_threads: int = 8):
        self.reactor = reactor
        self.pool = ThreadPool(min_threads, max_threads, name=name)

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        # Joins the workers: jobs already queued finish first.
        self.pool.stop()

    def run(self, f, *args, **kwargs):
        """Run ``f(*args, **kwargs)`` in the pool.

        :returns: a Deferred firing (on the reactor thread) with its result.
        """
        return deferToThreadPool(self.reactor, self.pool, f, *args, **kwargs)


class BatchingRunner:
    """Runs small blocking calls in batches: one thread-pool job per batch.

    Each trip to the pool costs thread hand-offs and GIL contention that
    weigh more than the I/O of a small file. Calls submitted during one
    reactor turn are queued and run one after the other in a single pool job
    at the next turn; each caller still gets its own Deferred (and its own
    exception). Only for calls that are short: a slow one delays the batch.

    :param clock: ``IReactorTime`` (``callLater`` batches a turn's calls).
    :param run: ``run(f, *args) -> Deferred`` on the pool.
    """

    def __init__(self, clock, run):
        self.clock = clock
        self._run = run
        self._pending = []
        self._scheduled = False

    def run(self, f, *args) -> defer.Deferred:
        d = defer.Deferred()
        self._pending.append((f, args, d))
        if not self._scheduled:
            self._scheduled = True
            self.clock.callLater(0, self._flush)
        return d

    def _flush(self) -> None:
        jobs, self._pending = self._pending, []
        self._scheduled = False

        def work():
            outcomes = []
            for f, args, _ in jobs:
                try:
                    outcomes.append((True, f(*args)))
                except BaseException:
                    outcomes.append((False, Failure()))
            return outcomes

        def deliver(outcomes):
            for (_, _, d), (ok, value) in zip(jobs, outcomes):
                if ok:
                    d.callback(value)
                else:
                    d.errback(value)

        def failed(reason):
            for _, _, d in jobs:
                d.errback(reason)

        self._run(work).addCallbacks(deliver, failed)
