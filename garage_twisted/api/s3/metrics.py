"""Counters and latency histograms of S3 requests, per operation.

:class:`RequestMetrics` is fed by the S3 (and website) handlers with the
operation name, the HTTP status and the time taken, and is a
``prometheus_client`` collector (``/metrics``):
``api_s3_request_counter{api_endpoint,status_class}``, the histogram
``api_s3_request_duration_seconds{api_endpoint}``, and the bytes of
request and response bodies (``api_s3_request_body_bytes``,
``api_s3_response_body_bytes``, per operation; as on the wire: an
aws-chunked body counts its chunk signatures). Operation names are the
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
        self._received = f"{prefix}_request_body_bytes"
        self._sent = f"{prefix}_response_body_bytes"
        self.recorder.counter(self._received, "Bytes of request bodies, per operation.")
        self.recorder.counter(self._sent, "Bytes of response bodies sent, per operation.")

    def record(self, endpoint: str, status: int, seconds: float,
               received: int = 0, sent: int = 0) -> None:
        status_class = _STATUS_CLASSES.get(status // 100) or f"{status // 100}xx"
        operation = (("api_endpoint", endpoint),)
        self.recorder.inc(self._count, (("api_endpoint", endpoint),
                                        ("status_class", status_class)))
        self.recorder.observe(self._duration, operation, seconds)
        if received:
            self.recorder.inc(self._received, operation, received)
        if sent:
            self.recorder.inc(self._sent, operation, sent)

    def collect(self):
        return self.recorder.collect()


def body_bytes(request, rest) -> tuple:
    """``(received, sent)`` of an answered request: its Content-Length (0
    if none or malformed), and what was written plus ``rest``, the body
    still to write (bytes, or anything else: nothing)."""
    length = request.getHeader(b"content-length")
    try:
        received = int(length) if length is not None else 0
    except ValueError:
        received = 0
    sent = getattr(request, "sentLength", 0)
    if isinstance(rest, bytes):
        sent += len(rest)
    return received, sent
