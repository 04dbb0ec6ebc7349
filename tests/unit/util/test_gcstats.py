"""Garbage collections are counted and timed for /metrics."""

import gc

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.gcstats import GcStats
from garage_twisted.util.metrics import exposition


class _Source:
    def __init__(self, stats):
        self.stats = stats

    def collect(self):
        return self.stats.collect()


class GcStatsTests(SynchronousTestCase):
    def test_a_full_collection_is_counted(self):
        stats = GcStats()
        stats.install()
        self.addCleanup(stats.uninstall)
        gc.collect()
        self.assertGreaterEqual(stats.collections[2], 1)
        self.assertGreater(stats.seconds[2], 0)
        lines = exposition(_Source(stats)).decode().splitlines()
        self.assertIn("# TYPE python_gc_seconds_total counter", lines)
        self.assertIn("# TYPE python_gc_longest_seconds gauge", lines)
        self.assertTrue(any(line.startswith('python_gc_collections_total{generation="2"} ')
                            for line in lines))

    def test_uninstalled_counts_nothing(self):
        stats = GcStats()
        stats.install()
        stats.uninstall()
        gc.collect()
        self.assertEqual(stats.collections, [0, 0, 0])
