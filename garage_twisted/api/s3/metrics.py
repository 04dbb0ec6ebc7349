"""Counters and latency histograms of S3 requests, per operation.

:class:`RequestMetrics` is fed by the S3 (and website) handlers with the
operation name, the HTTP status and the time taken, and renders Prometheus
text: ``api_s3_request_counter{api_endpoint,status_class}`` and the
histogram ``api_s3_request_duration_seconds{api_endpoint}``. Operation names
are the fixed set of the router (plus ``Unknown``), so the number of series
stays bounded whatever clients send.
"""

from bisect import bisect_left

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    def __init__(self, prefix: str = "api_s3"):
        self.prefix = prefix
        self.counts: dict[tuple, int] = {}
        self.histograms: dict[str, list] = {}  # endpoint -> [bucket counts..., sum, count]

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, f"{status // 100}xx")
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.histograms.get(endpoint)
        if histogram is None:
            histogram = self.histograms[endpoint] = [0] * len(BUCKETS) + [0.0, 0]
        index = bisect_left(BUCKETS, seconds)
        if index < len(BUCKETS):
            histogram[index] += 1
        histogram[-2] += seconds
        histogram[-1] += 1

    def render(self) -> list:
        name = f"{self.prefix}_request_counter"
        lines = [f"# HELP {name} Requests answered, per operation and status class.",
                 f"# TYPE {name} counter"]
        for (endpoint, status), count in sorted(self.counts.items()):
            lines.append(f'{name}{{api_endpoint="{endpoint}",status_class="{status}"}} {count}')
        name = f"{self.prefix}_request_duration_seconds"
        lines += [f"# HELP {name} Time to answer a request, per operation.",
                  f"# TYPE {name} histogram"]
        for endpoint, histogram in sorted(self.histograms.items()):
            cumulative = 0
            for bound, count in zip(BUCKETS, histogram):
                cumulative += count
                lines.append(f'{name}_bucket{{api_endpoint="{endpoint}",le="{bound}"}} '
                             f"{cumulative}")
            lines.append(f'{name}_bucket{{api_endpoint="{endpoint}",le="+Inf"}} '
                         f"{histogram[-1]}")
            lines.append(f'{name}_sum{{api_endpoint="{endpoint}"}} {histogram[-2]:.6f}')
            lines.append(f'{name}_count{{api_endpoint="{endpoint}"}} {histogram[-1]}')
        return lines
