"""Figures for ``/metrics``: cheap recording on the hot path, and the
Prometheus exposition of a node's collectors through ``prometheus_client``.

Recording. :class:`MetricRecorder` holds counter and duration histogram
families, each with series told apart by labels. Label values must come
from fixed sets in the code (operation names, RPC endpoint paths, table
names, status classes), never from what clients send, so the number of
series stays bounded. Recording is a dictionary update on the reactor
thread: about 0.8 µs for a request's count and duration, where
``prometheus_client``'s ``Counter`` and ``Histogram`` with labels take
about 3 µs (a lock per call, label lookups); so the hot path keeps plain
counters and the recorder is a ``prometheus_client`` collector that turns
them into metric families only when ``/metrics`` is scraped.

Exposition. Each node has its own :class:`Collectors` (never the
library's global registry: several nodes share a test process) holding its
collectors, and :func:`exposition` writes them with the library's text
writer, which escapes label values and help texts. One adjustment: our
counters carry Garage's names, most without ``_total``
(``api_s3_request_counter``, ``block_bytes_read``), and that writer names a
counter family ``<name>_total`` in its ``# HELP``/``# TYPE`` lines (the
OpenMetrics convention) while writing the samples under their own names.
Families made by :func:`counter_family` keep their name: :func:`exposition`
puts it back on their two header lines, so a scrape reads exactly as
Garage's (and as this node's before ``prometheus_client``). Counters whose
name ends in ``_total`` (``worker_errors_total``) need nothing.

``prometheus_client`` (1.2 MB of a node's memory with the modules it
imports: an HTTP server, WSGI, gzip) is imported on the first scrape, by
:mod:`~garage_twisted.util.exposition`, never before: recording needs none
of it.
"""

from bisect import bisect_left

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)


def counter_family(name: str, documentation: str, labels=()):
    """A counter family whose samples are named ``name`` exactly (a
    ``prometheus_client`` family: call it at scrape time only)."""
    from garage_twisted.util.exposition import counter_family as family

    return family(name, documentation, labels)


def gauge_family(name: str, documentation: str, labels=()):
    """A ``prometheus_client`` gauge family (at scrape time only)."""
    from garage_twisted.util.exposition import gauge_family as family

    return family(name, documentation, labels)


def exposition(*collectors) -> bytes:
    """Prometheus text format 0.0.4 of ``collectors`` (see
    :func:`garage_twisted.util.exposition.exposition`)."""
    from garage_twisted.util.exposition import exposition as write

    return write(*collectors)


class Collectors:
    """A node's registry: collectors whose families are collected in order.

    It stands where a ``prometheus_client.CollectorRegistry(auto_describe=
    False)`` would (which collects its collectors in the order registered
    and, without ``describe``, checks no names), without importing the
    library before the first scrape.
    """

    def __init__(self, collectors=()):
        self.collectors = list(collectors)

    def register(self, collector) -> None:
        self.collectors.append(collector)

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


class MetricRecorder:
    """Counter and histogram families (``labels`` are ``((name, value), ...)``),
    recorded with plain dictionaries; a ``prometheus_client`` collector."""

    def __init__(self):
        self._help: dict[str, str] = {}
        self._counters: dict[str, dict[tuple, float]] = {}
        self._histograms: dict[str, dict[tuple, list]] = {}

    def counter(self, name: str, help_text: str) -> None:
        """Declare a counter family (exposed even before its first count)."""
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

    def collect(self):
        """The families, as they are now (called at scrape time)."""
        from garage_twisted.util.exposition import BUCKET_BOUNDS, Metric, Sample

        for name, series in self._counters.items():
            family = counter_family(name, self._help[name])
            for labels, value in sorted(series.items()):
                family.samples.append(Sample(name, dict(labels), value))
            yield family
        for name, series in self._histograms.items():
            family = Metric(name, self._help[name], "histogram")
            for labels, histogram in sorted(series.items()):
                cumulative = 0
                for bound, count in zip(BUCKET_BOUNDS, histogram[:len(DURATION_BUCKETS)]):
                    cumulative += count
                    family.samples.append(Sample(f"{name}_bucket", dict(labels, le=bound),
                                                 cumulative))
                family.samples += [
                    Sample(f"{name}_bucket", dict(labels, le="+Inf"), histogram[-1]),
                    Sample(f"{name}_sum", dict(labels), histogram[-2]),
                    Sample(f"{name}_count", dict(labels), histogram[-1])]
            yield family
