"""Give the node's freed heap memory back to the system, ``TRIM_INTERVAL`` after it is freed.

``service/tap.py`` fixes glibc's malloc thresholds so that 1 MiB block
buffers come from the heap and are reused without page faults. The price is
that memory freed after a burst stays resident: glibc only ever returns the
free top of a heap, never the holes the buffers leave below it. After three
rounds of the cluster benchmark (four 64 MiB PUTs, then GETs, at once) node 0
held 206 MB resident, 70 MB of it free heap that ``malloc_trim(0)`` gave
back at once.

:class:`HeapTrimmer` calls ``trim()`` (``malloc_trim(0)``: it walks the heap
and ``madvise``\s its free pages away) every ``TRIM_INTERVAL`` seconds, in a
pool thread. It holds each arena's lock while it walks it, so a thread that
allocates in that arena meanwhile (the reactor's, for anything beyond
Python's small-object allocator) waits: a few milliseconds right after a
burst, under 0.1 ms when there is little to give back. A buffer later
allocated in a trimmed page faults it in again: 35-45 faults per MiB
streamed through node 0 of the benchmark, against about 1 untrimmed and
90-240 before the thresholds were fixed.

A trim that fails is logged and trimming stops: nothing gets better by
retrying a C call every second.

Invariant: at most one trim runs at a time, and none is left running once
the service has stopped.
"""

import ctypes

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from garage_twisted.util.glibc import libc_function

TRIM_INTERVAL = 1.0


def glibc_trim():
    """``malloc_trim(0)`` of this process's glibc, or ``None`` where there is
    none (musl, macOS): the trimmer is then not installed."""
    malloc_trim = libc_function("malloc_trim")
    if malloc_trim is None:
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return lambda: malloc_trim(0)


class HeapTrimmer(Service):
    """Runs ``trim`` every ``interval`` seconds through ``run_in_thread``.

    :param clock: ``IReactorTime``.
    :param run_in_thread: ``run(f) -> Deferred``, called only while running.
    :param trim: the blocking call that returns free memory to the system.
    """

    name = "heap trimmer"
    log = Logger()

    def __init__(self, clock, run_in_thread, trim, interval: float = TRIM_INTERVAL):
        self.clock = clock
        self.run_in_thread = run_in_thread
        self.trim = trim
        self.interval = interval
        self.trims = 0
        self._loop = None
        self._running_trim = None

    def startService(self):
        super().startService()
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False)

    def _tick(self):
        if self._running_trim is not None:
            return  # the last one is still at it: no queue of trims
        self._running_trim = defer.maybeDeferred(self.run_in_thread, self.trim)
        self._running_trim.addCallbacks(self._trimmed, self._failed)

    def _trimmed(self, _):
        self._running_trim = None
        self.trims += 1

    def _failed(self, failure):
        self._running_trim = None
        self.log.failure("heap trim failed; freed memory is no longer trimmed", failure)
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._running_trim is None:
            return None
        # Fires after _trimmed/_failed cleared it: the pool may stop then.
        return self._running_trim
