"""Counters and latency histograms of S3 requests, per operation.

:class:`RequestMetrics` is fed by the S3 (and website) handlers with the
operation name, the HTTP status and the time taken, and renders Prometheus
text: ``api_s3_request_counter{api_endpoint,status_class}`` and the
histogram ``api_s3_request_duration_seconds{api_endpoint}``. Operation names
are the fixed set of the router (plus ``Unknown``), so the number of series
stays bounded whatever clients send.
"""

from garage_twisted.util.metrics import MetricRegistry


class RequestMetrics:
    def __init__(self, prefix: str = "api_s3"):
        self.registry = MetricRegistry()
        self._count = f"{prefix}_request_counter"
        self._duration = f"{prefix}_request_duration_seconds"
        self.registry.counter(self._count, "Requests answered, per operation and status class.")
        self.registry.histogram(self._duration, "Time to answer a request, per operation.")

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        self.registry.inc(self._count, (("api_endpoint", endpoint),
                                        ("status_class", f"{status // 100}xx")))
        self.registry.observe(self._duration, (("api_endpoint", endpoint),), seconds)

    def render(self) -> list:
        return self.registry.render()
