"""Recorded counters and duration histograms, exposed through prometheus_client."""

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.metrics import (MetricRecorder, counter_family, exposition,
                                         gauge_family)


class _Families:
    """A collector yielding fixed families."""

    def __init__(self, *families):
        self.families = families

    def collect(self):
        return iter(self.families)


def _lines(*collectors) -> list:
    return exposition(*collectors).decode().splitlines()


class MetricRecorderTests(SynchronousTestCase):
    def test_counters_and_cumulative_histograms(self):
        """Counts add up; histogram buckets are cumulative, with a +Inf
        bucket, a sum and a count."""
        recorder = MetricRecorder()
        recorder.counter("calls", "Calls.")
        recorder.histogram("call_seconds", "Call time.")
        labels = (("rpc_endpoint", "table/object/get"),)
        recorder.inc("calls", labels)
        recorder.inc("calls", labels, 2)
        for seconds in (0.0005, 0.003, 0.003, 20.0):
            recorder.observe("call_seconds", labels, seconds)
        lines = _lines(recorder)
        self.assertIn("# TYPE calls counter", lines)
        self.assertIn('calls{rpc_endpoint="table/object/get"} 3.0', lines)
        self.assertEqual(recorder.value("calls", labels), 3)
        bucket = 'call_seconds_bucket{le="%s",rpc_endpoint="table/object/get"} %s'
        self.assertIn("# TYPE call_seconds histogram", lines)
        self.assertIn(bucket % ("0.001", "1.0"), lines)
        self.assertIn(bucket % ("0.005", "3.0"), lines)
        self.assertIn(bucket % ("10.0", "3.0"), lines)
        # Above the last bound: only in +Inf, the sum and the count.
        self.assertIn(bucket % ("+Inf", "4.0"), lines)
        self.assertIn('call_seconds_count{rpc_endpoint="table/object/get"} 4.0', lines)
        self.assertIn('call_seconds_sum{rpc_endpoint="table/object/get"} 20.0065', lines)

    def test_a_declared_family_is_exposed_before_its_first_count(self):
        """A declared counter shows its HELP and TYPE with no sample yet."""
        recorder = MetricRecorder()
        recorder.counter("errors", "Errors.")
        self.assertEqual(_lines(recorder), ["# HELP errors Errors.", "# TYPE errors counter"])

    def test_the_exposition_parses(self):
        """Prometheus' own parser reads the exposition back: names, types,
        label values and figures."""
        recorder = MetricRecorder()
        recorder.counter("api_s3_request_counter", "Requests.")
        recorder.histogram("api_s3_request_duration_seconds", "Durations.")
        recorder.inc("api_s3_request_counter", (("api_endpoint", "GetObject"),
                                                ("status_class", "2xx")))
        recorder.observe("api_s3_request_duration_seconds", (("api_endpoint", "GetObject"),),
                         0.002)
        families = {f.name: f for f in text_string_to_metric_families(
            exposition(recorder).decode())}
        counter = families["api_s3_request_counter"]
        self.assertEqual(counter.type, "counter")
        # (The library's parser names counter samples ``..._total`` as it reads.)
        self.assertEqual([(s.labels, s.value) for s in counter.samples],
                         [({"api_endpoint": "GetObject", "status_class": "2xx"}, 1.0)])
        self.assertEqual(families["api_s3_request_duration_seconds"].type, "histogram")


class ExpositionTests(SynchronousTestCase):
    def test_counter_names_are_kept(self):
        """A counter named without ``_total`` keeps its name on its HELP and
        TYPE lines; one named with ``_total`` is written as it is."""
        garage = counter_family("block_bytes_read", "Bytes read.")
        garage.add_metric([], 5)
        total = counter_family("worker_errors_total", "Errors.", ["worker"])
        total.add_metric(["scrub"], 1)
        self.assertEqual(_lines(_Families(garage, total)), [
            "# HELP block_bytes_read Bytes read.",
            "# TYPE block_bytes_read counter",
            "block_bytes_read 5.0",
            "# HELP worker_errors_total Errors.",
            "# TYPE worker_errors_total counter",
            'worker_errors_total{worker="scrub"} 1.0',
        ])

    def test_label_values_are_escaped(self):
        """Quotes, backslashes and newlines in label values and help texts
        are escaped by the library, and read back intact."""
        hostile = 'a"b\\c\nd'
        gauge = gauge_family("queue_length", "Queue\nlength.", ["worker"])
        gauge.add_metric([hostile], 1)
        text = exposition(_Families(gauge)).decode()
        self.assertIn('queue_length{worker="a\\"b\\\\c\\nd"} 1.0', text)
        self.assertIn("# HELP queue_length Queue\\nlength.", text)
        (family,) = text_string_to_metric_families(text)
        self.assertEqual(family.samples[0].labels, {"worker": hostile})

    def test_a_registry_per_node(self):
        """Collectors in one registry do not show in another's exposition,
        nor in the library's global registry."""
        from prometheus_client import REGISTRY
        one, two = CollectorRegistry(auto_describe=False), CollectorRegistry(auto_describe=False)
        first = MetricRecorder()
        first.counter("rpc_request_counter", "Calls.")
        first.inc("rpc_request_counter", (("rpc_endpoint", "x"),))
        one.register(first)
        self.assertIn(b"rpc_request_counter{", exposition(one))
        self.assertNotIn(b"rpc_request_counter", exposition(two))
        self.assertNotIn(b"rpc_request_counter", exposition(REGISTRY))
