"""The Prometheus exposition of a node's collectors, with ``prometheus_client``.

Imported on the first scrape only (:mod:`~garage_twisted.util.metrics` says
why and what the adjustment below is for): everything here that names a
``prometheus_client`` class is used while ``/metrics`` (or GetNodeMetrics)
is being answered, never on a request's path.
"""

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, Sample
from prometheus_client.utils import floatToGoString

from garage_twisted.util.metrics import DURATION_BUCKETS

__all__ = ["BUCKET_BOUNDS", "Metric", "NamedCounterFamily", "Sample", "counter_family",
           "exposition", "gauge_family"]

# The ``le`` label of each histogram bucket, as Prometheus writes numbers.
BUCKET_BOUNDS = tuple(floatToGoString(bound) for bound in DURATION_BUCKETS)
_TOTAL = "_total"


class NamedCounterFamily(Metric):
    """A counter family exposed under its own name (no ``_total`` added)."""

    def __init__(self, name: str, documentation: str, labels=()):
        super().__init__(name, documentation, "counter")
        self.label_names = tuple(labels)

    def add_metric(self, labels, value: float) -> None:
        self.samples.append(Sample(self.name, dict(zip(self.label_names, labels)), value))


def counter_family(name: str, documentation: str, labels=()):
    """A counter family whose samples are named ``name`` exactly."""
    if name.endswith(_TOTAL):
        return CounterMetricFamily(name, documentation, labels=labels)
    return NamedCounterFamily(name, documentation, labels)


def gauge_family(name: str, documentation: str, labels=()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class _Recording:
    """A collector over ``collectors`` noting the families of
    :class:`NamedCounterFamily` it yields."""

    def __init__(self, collectors):
        self.collectors = collectors
        self.named = set()

    def collect(self):
        for collector in self.collectors:
            for family in collector.collect():
                if isinstance(family, NamedCounterFamily):
                    self.named.add(family.name.encode())
                yield family


def exposition(*collectors) -> bytes:
    """Prometheus text format 0.0.4 of ``collectors`` (a node's
    :class:`~garage_twisted.util.metrics.Collectors`), written by
    ``prometheus_client``; the header lines of :class:`NamedCounterFamily`
    families carry their own name (``util/metrics.py``'s docstring)."""
    source = _Recording(collectors)
    text = generate_latest(source)
    if not source.named:
        return text
    lines = text.split(b"\n")
    for index, line in enumerate(lines):
        if line.startswith((b"# HELP ", b"# TYPE ")):
            parts = line.split(b" ", 3)
            name = parts[2]
            if name.endswith(b"_total") and name[:-6] in source.named:
                parts[2] = name[:-6]
                lines[index] = b" ".join(parts)
    return b"\n".join(lines)
