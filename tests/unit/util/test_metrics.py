"""Prometheus rendering of counters and duration histograms."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.metrics import MetricRegistry


class MetricRegistryTests(SynchronousTestCase):
    def test_counters_and_cumulative_histograms(self):
        registry = MetricRegistry()
        registry.counter("calls", "Calls.")
        registry.histogram("call_seconds", "Call time.")
        labels = (("rpc_endpoint", "table/object/get"),)
        registry.inc("calls", labels)
        registry.inc("calls", labels, 2)
        for seconds in (0.0005, 0.003, 0.003, 20.0):
            registry.observe("call_seconds", labels, seconds)
        lines = registry.render()
        self.assertIn("# TYPE calls counter", lines)
        self.assertIn('calls{rpc_endpoint="table/object/get"} 3', lines)
        self.assertEqual(registry.value("calls", labels), 3)
        self.assertIn('call_seconds_bucket{rpc_endpoint="table/object/get",le="0.001"} 1', lines)
        self.assertIn('call_seconds_bucket{rpc_endpoint="table/object/get",le="0.005"} 3', lines)
        self.assertIn('call_seconds_bucket{rpc_endpoint="table/object/get",le="10.0"} 3', lines)
        # Above the last bound: only in +Inf, the sum and the count.
        self.assertIn('call_seconds_bucket{rpc_endpoint="table/object/get",le="+Inf"} 4', lines)
        self.assertIn('call_seconds_count{rpc_endpoint="table/object/get"} 4', lines)
        self.assertIn('call_seconds_sum{rpc_endpoint="table/object/get"} 20.006500', lines)

    def test_a_declared_family_renders_before_its_first_count(self):
        registry = MetricRegistry()
        registry.counter("errors", "Errors.")
        self.assertEqual(registry.render(), ["# HELP errors Errors.", "# TYPE errors counter"])
