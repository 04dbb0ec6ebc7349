"""Counters and duration histograms, rendered as Prometheus text.

A :class:`MetricRegistry` holds named families; each family has series told
apart by labels. Label values must come from fixed sets in the code
(operation names, RPC endpoint paths, table names, status classes), never
from what clients send, so the number of series stays bounded. Recording
is a dictionary update: cheap enough for every request and every RPC.
"""

from bisect import bisect_left

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)


def _labels(pairs) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


class MetricRegistry:
    """Counter and histogram families (``labels`` are ``((name, value), ...)``)."""

    def __init__(self):
        self._help: dict[str, str] = {}
        self._counters: dict[str, dict[tuple, float]] = {}
        self._histograms: dict[str, dict[tuple, list]] = {}

    def counter(self, name: str, help_text: str) -> None:
        """Declare a counter family (rendered even before its first count)."""
        self._help[name] = help_text
        self._counters.setdefault(name, {})

    def histogram(self, name: str, help_text: str) -> None:
        """Declare a duration histogram family (seconds)."""
        self._help[name] = help_text
        self._histograms.setdefault(name, {})

    def inc(self, name: str, labels: tuple = (), amount: float = 1) -> None:
        series = self._counters[name]
        series[labels] = series.get(labels, 0) + amount

    def observe(self, name: str, labels: tuple, seconds: float) -> None:
        series = self._histograms[name]
        histogram = series.get(labels)
        if histogram is None:
            # Per bucket counts, then the sum and the count.
            histogram = series[labels] = [0] * len(DURATION_BUCKETS) + [0.0, 0]
        index = bisect_left(DURATION_BUCKETS, seconds)
        if index < len(DURATION_BUCKETS):
            histogram[index] += 1
        histogram[-2] += seconds
        histogram[-1] += 1

    def value(self, name: str, labels: tuple = ()) -> float:
        """A counter's value (0 if never counted)."""
        return self._counters.get(name, {}).get(labels, 0)

    def render(self) -> list:
        lines = []
        for name, series in self._counters.items():
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
            for labels, value in sorted(series.items()):
                lines.append(f"{name}{_labels(labels)} {value:g}")
        for name, series in self._histograms.items():
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} histogram"]
            for labels, histogram in sorted(series.items()):
                cumulative = 0
                for bound, count in zip(DURATION_BUCKETS, histogram):
                    cumulative += count
                    lines.append(f"{name}_bucket{_labels(labels + (('le', bound),))} "
                                 f"{cumulative}")
                lines.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} "
                             f"{histogram[-1]}")
                lines.append(f"{name}_sum{_labels(labels)} {histogram[-2]:.6f}")
                lines.append(f"{name}_count{_labels(labels)} {histogram[-1]}")
        return lines
