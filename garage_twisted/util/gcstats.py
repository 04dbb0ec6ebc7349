"""Time the process spends in Python's cyclic garbage collector, per generation.

A node's heap holds many small objects (Deferreds, entries, frames); a full
collection walks all of them on the reactor thread, and every request in
flight waits meanwhile. :class:`GcStats` measures each collection through
``gc.callbacks``; as a ``prometheus_client`` collector it gives
``python_gc_collections_total``, ``python_gc_seconds_total`` and
``python_gc_longest_seconds`` to ``/metrics``. ``perf_counter`` measures the
pause itself (wall time of a synchronous step), not the reactor's clock.
"""

import gc
import time

from garage_twisted.util.metrics import counter_family, gauge_family


class GcStats:
    def __init__(self):
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = 0.0
        self._started = None

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return
        elapsed = time.perf_counter() - self._started
        self._started = None
        generation = info.get("generation", 0)
        self.collections[generation] += 1
        self.seconds[generation] += elapsed
        self.longest = max(self.longest, elapsed)

    def collect(self):
        collections = counter_family("python_gc_collections_total",
                                     "Garbage collections, per generation.", ["generation"])
        seconds = counter_family("python_gc_seconds_total",
                                 "Time spent collecting, per generation.", ["generation"])
        for generation in range(3):
            collections.add_metric([str(generation)], self.collections[generation])
            seconds.add_metric([str(generation)], self.seconds[generation])
        longest = gauge_family("python_gc_longest_seconds", "Longest collection since start.")
        longest.add_metric([], self.longest)
        return [collections, seconds, longest]
