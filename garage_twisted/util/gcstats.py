"""Time the process spends in Python's cyclic garbage collector, per generation.

A node's heap holds many small objects (Deferreds, entries, frames); a full
collection walks all of them on the reactor thread, and every request in
flight waits meanwhile. :class:`GcStats` measures each collection through
``gc.callbacks`` and renders ``python_gc_collections_total`` and
``python_gc_seconds_total`` for ``/metrics``. ``perf_counter`` measures the
pause itself (wall time of a synchronous step), not the reactor's clock.
"""

import gc
import time


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

    def render(self) -> list:
        lines = ["# HELP python_gc_collections_total Garbage collections, per generation.",
                 "# TYPE python_gc_collections_total counter"]
        lines += [f'python_gc_collections_total{{generation="{g}"}} {n}'
                  for g, n in enumerate(self.collections)]
        lines += ["# HELP python_gc_seconds_total Time spent collecting, per generation.",
                  "# TYPE python_gc_seconds_total counter"]
        lines += [f'python_gc_seconds_total{{generation="{g}"}} {s:.6f}'
                  for g, s in enumerate(self.seconds)]
        lines += ["# HELP python_gc_longest_seconds Longest collection since start.",
                  "# TYPE python_gc_longest_seconds gauge",
                  f"python_gc_longest_seconds {self.longest:.6f}"]
        return lines
