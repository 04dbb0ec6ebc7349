"""The node's I/O thread pool as a service.

Large hashing (hashlib releases the GIL from 2 KiB buffers), compression and
block file I/O run here so the reactor thread never waits on them.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
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

        :returns: a Deferred firing (on the reactor thread) with its result;
            failing at once once the pool is stopped (a job queued then
            would never run, and its caller would wait forever).
        """
        if self.pool.joined:
            return defer.fail(PoolStopped("the I/O thread pool is stopped (node stopping)"))
        return deferToThreadPool(self.reactor, self.pool, f, *args, **kwargs)


class PoolStopped(RuntimeError):
    """A job was given to the pool after it stopped."""
