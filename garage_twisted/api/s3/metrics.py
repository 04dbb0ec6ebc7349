"""Counters and latency histograms of S3 requests, per operation.

:class:`RequestMetrics` is fed by the S3 (and website) handlers with the
operation name, the HTTP status and the time taken, and is a
``prometheus_client`` collector (``/metrics``):
``api_s3_request_counter{api_endpoint,status_class}`` and the histogram
``api_s3_request_duration_seconds{api_endpoint}``. Operation names are the
fixed set of the router (plus ``Unknown``), so the number of series stays
bounded whatever clients send. Recording is two dictionary updates
(:class:`~garage_twisted.util.metrics.MetricRecorder`): it runs for every
request.
"""

from garage_twisted.util.metrics import MetricRecorder

# "2xx"... by status // 100, made once rather than per request.
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


class RequestMetrics:
    def __init__(self, prefix: str = "api_s3"):
        self.recorder = MetricRecorder()
        self._count = f"{prefix}_request_counter"
        self._duration = f"{prefix}_request_duration_seconds"
        self.recorder.counter(self._count, "Requests answered, per operation and status class.")
        self.recorder.histogram(self._duration, "Time to answer a request, per operation.")

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        status_class = _STATUS_CLASSES.get(status // 100) or f"{status // 100}xx"
        self.recorder.inc(self._count, (("api_endpoint", endpoint),
                                        ("status_class", status_class)))
        self.recorder.observe(self._duration, (("api_endpoint", endpoint),), seconds)

    def collect(self):
        return self.recorder.collect()
