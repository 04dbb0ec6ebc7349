"""``/metrics`` of a node built from memory twins: every family's name, type
and labels pinned; queue figures read from running counts, never by walking
a tree; ListWorkers shows the same figures; the Grafana dashboard asks only
for families the exposition has."""

import json
import os
import re
from types import SimpleNamespace

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.admin.metrics import node_registry, render_metrics
from garage_twisted.api.admin.workers import list_workers
from garage_twisted.api.s3.metrics import RequestMetrics
from garage_twisted.block.manager import BlockManager
from garage_twisted.block.store import LocalBlockStore
from garage_twisted.db.memory import MemoryStore, MemoryTree
from garage_twisted.model.garage import GarageModel
from garage_twisted.net.keys import NodeKey
from garage_twisted.net.network import Network
from garage_twisted.table.gc import TableGc
from garage_twisted.table.replication import LocalReplication
from garage_twisted.util.byte_budget import ByteBudget
from garage_twisted.util.gcstats import GcStats
from garage_twisted.util.worker import WorkerRunner

# realpath: scripts/test runs the suite through a link to tests/ from a
# scratch directory; the dashboard is beside the real tests/.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))))
DASHBOARD = os.path.join(ROOT, "scripts", "grafana", "garage-twisted-dashboard.json")

# Every family /metrics has had, with its type and its labels: a scrape
# must keep them (Garage's names; dashboards and alerts are written
# against them).
FAMILIES = {
    "cluster_healthy": ("gauge", ()),
    "cluster_available": ("gauge", ()),
    "cluster_layout_version": ("gauge", ()),
    "cluster_connected_nodes": ("gauge", ()),
    "cluster_known_nodes": ("gauge", ()),
    "cluster_storage_nodes": ("gauge", ()),
    "cluster_storage_nodes_ok": ("gauge", ()),
    "cluster_partitions": ("gauge", ()),
    "cluster_partitions_quorum": ("gauge", ()),
    "cluster_partitions_all_ok": ("gauge", ()),
    "worker_errors_total": ("counter", ("worker",)),
    "worker_queue_length": ("gauge", ("worker",)),
    "rpc_request_counter": ("counter", ("rpc_endpoint",)),
    "rpc_error_counter": ("counter", ("rpc_endpoint",)),
    "rpc_timeout_counter": ("counter", ("rpc_endpoint",)),
    "rpc_served_counter": ("counter", ("rpc_endpoint",)),
    "rpc_duration_seconds": ("histogram", ("rpc_endpoint",)),
    "rpc_serve_duration_seconds": ("histogram", ("rpc_endpoint",)),
    "table_get_request_counter": ("counter", ("table_name",)),
    "table_range_request_counter": ("counter", ("table_name",)),
    "table_put_request_counter": ("counter", ("table_name",)),
    "table_merkle_updater_todo_queue_length": ("gauge", ("table_name",)),
    "table_gc_todo_queue_length": ("gauge", ("table_name",)),
    "block_bytes_written": ("counter", ()),
    "block_bytes_read": ("counter", ()),
    "block_delete_counter": ("counter", ()),
    "block_corruption_counter": ("counter", ()),
    "block_resync_queue_length": ("gauge", ()),
    "block_resync_errored_blocks": ("gauge", ()),
    "python_gc_collections_total": ("counter", ("generation",)),
    "python_gc_seconds_total": ("counter", ("generation",)),
    "python_gc_longest_seconds": ("gauge", ()),
    "api_s3_request_counter": ("counter", ("api_endpoint", "status_class")),
    "api_s3_request_duration_seconds": ("histogram", ("api_endpoint",)),
    "api_s3_request_body_bytes": ("counter", ("api_endpoint",)),
    "api_s3_response_body_bytes": ("counter", ("api_endpoint",)),
    "api_web_request_counter": ("counter", ("api_endpoint", "status_class")),
    "api_web_request_duration_seconds": ("histogram", ("api_endpoint",)),
    "api_web_request_body_bytes": ("counter", ("api_endpoint",)),
    "api_web_response_body_bytes": ("counter", ("api_endpoint",)),
}
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse(text: str) -> tuple[dict, dict]:
    """``({family: type}, {sample name: [(labels dict, value)]})`` of an
    exposition, read as written (no renaming)."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            name, labels, value = _SAMPLE.match(line).groups()
            samples.setdefault(name, []).append(
                (dict(_LABEL.findall(labels or "")), float(value)))
    return types, samples


def run_now(f, *args):
    return defer.succeed(f(*args))


class NodeMetricsTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.store = MemoryStore()
        blocks = LocalBlockStore(os.path.abspath(self.mktemp()), run_now)
        self.manager = BlockManager(blocks, self.store, run_now, self.clock)
        local = LocalReplication(b"n" * 32)
        self.model = GarageModel(self.store, self.manager, b"n" * 32, local, local, self.clock)
        self.workers = WorkerRunner(self.clock)
        for worker in self.model.workers():
            self.workers.add(worker)
        for table in self.model.tables:
            self.workers.add(TableGc(table, None, lambda: [], 86400, self.clock))
        self.network = Network(NodeKey.generate(), b"s" * 32, self.clock)
        health = {"status": "healthy", "knownNodes": 1, "connectedNodes": 1,
                  "storageNodes": 1, "storageNodesOk": 1, "partitions": 256,
                  "partitionsQuorum": 256, "partitionsAllOk": 256}
        system = SimpleNamespace(health=lambda: health)
        layout = SimpleNamespace(current=lambda: SimpleNamespace(version=3))
        self.s3 = RequestMetrics()
        self.web = RequestMetrics("api_web")
        self.registry = node_registry(system, layout, self.workers, self.network.metrics,
                                      self.model.tables, self.manager, GcStats(),
                                      [self.s3, self.web])
        self.api = SimpleNamespace(metric_sources=[self.registry], workers=self.workers,
                                   clock=self.clock)

    def scrape(self) -> str:
        return render_metrics(self.api)

    def record_some(self):
        self.s3.record("GetObject", 200, 0.002, 0, 4096)
        self.s3.record("PutObject", 503, 0.2, 100, 250)
        self.web.record("GET", 404, 0.001, 5, 120)
        self.network.metrics.inc("rpc_request_counter", (("rpc_endpoint", "table/x"),))
        for name in ("rpc_error_counter", "rpc_timeout_counter", "rpc_served_counter"):
            self.network.metrics.inc(name, (("rpc_endpoint", "table/x"),))
        for name in ("rpc_duration_seconds", "rpc_serve_duration_seconds"):
            self.network.metrics.observe(name, (("rpc_endpoint", "table/x"),), 0.01)

    def test_every_family_keeps_its_name_type_and_labels(self):
        """The exposition has every pinned family, with its type, and each
        sample carries exactly the family's labels (``le`` for buckets)."""
        self.record_some()
        types, samples = parse(self.scrape())
        self.assertEqual({name: types.get(name) for name in FAMILIES},
                         {name: kind for name, (kind, _) in FAMILIES.items()})
        for family, (kind, labels) in FAMILIES.items():
            names = [family + s for s in _HISTOGRAM_SUFFIXES] if kind == "histogram" \
                else [family]
            found = [(name, sample) for name in names for sample in samples.get(name, [])]
            self.assertTrue(found, f"{family} has no sample")
            for name, (sample_labels, _) in found:
                expected = set(labels) | ({"le"} if name.endswith("_bucket") else set())
                self.assertEqual(set(sample_labels), expected, name)

    def test_figures(self):
        """Counters and gauges show what happened, under Garage's names."""
        self.record_some()
        _, samples = parse(self.scrape())
        self.assertIn(({"api_endpoint": "PutObject", "status_class": "5xx"}, 1.0),
                      samples["api_s3_request_counter"])
        self.assertIn(({"api_endpoint": "GetObject"}, 1.0),
                      samples["api_s3_request_duration_seconds_count"])
        self.assertEqual(samples["cluster_layout_version"], [({}, 3.0)])
        self.assertEqual(samples["cluster_healthy"], [({}, 1.0)])

    def test_ram_buffer_room(self):
        """A node sending blocks to others shows the room left in
        ``block_ram_buffer_max``, in KiB as Garage does."""
        _, samples = parse(self.scrape())
        self.assertNotIn("block_ram_buffer_free_kb", samples)  # no replicator
        budget = ByteBudget(8 << 20)
        self.successResultOf(budget.acquire(3 << 20))
        self.manager.replicator = SimpleNamespace(ram_buffer=budget)
        types, samples = parse(self.scrape())
        self.assertEqual(types["block_ram_buffer_free_kb"], "gauge")
        self.assertEqual(samples["block_ram_buffer_free_kb"], [({}, 5120.0)])

    def queue_trees(self):
        trees = {}
        for table in self.model.tables:
            for tree in (table.data.merkle_todo, table.data.insert_queue, table.data.gc_todo):
                trees[tree.name] = tree
        for tree in (self.manager.gc_todo, self.manager.resync, self.manager.resync_errors):
            trees[tree.name] = tree
        return trees

    def fill_queues(self):
        """A few items in every queue, written the ways the node writes them."""
        for index, tree in enumerate(self.queue_trees().values()):
            for n in range(index % 4 + 1):
                tree.insert(b"%08d" % n, b"")
        tx = self.store.transaction()
        tx.insert(self.model.object_table.data.merkle_todo, b"x" * 40, b"")
        tx.remove(self.manager.resync, b"%08d" % 0)
        tx.commit()

    def test_queues_are_read_from_running_counts(self):
        """Queue gauges and ListWorkers' queue lengths equal the trees'
        key counts, and producing them walks no tree."""
        self.fill_queues()
        walked = []

        def refuse(tree, *args, **kwargs):
            walked.append(tree.name)
            raise AssertionError(f"walked {tree.name}")

        # Every tree walk refused while /metrics and ListWorkers answer.
        originals = {method: MemoryTree.__dict__[method] for method in ("count", "range")}
        for method in originals:
            setattr(MemoryTree, method, refuse)
        try:
            _, samples = parse(self.scrape())
            workers = self.successResultOf(defer.ensureDeferred(list_workers(self.api, {})))
        finally:
            for method, original in originals.items():
                setattr(MemoryTree, method, original)
        self.assertEqual(walked, [])
        by_worker = {labels["worker"]: value for labels, value in samples["worker_queue_length"]}
        listed = {w["name"]: w["queueLength"] for w in workers}
        merkle = {labels["table_name"]: value
                  for labels, value in samples["table_merkle_updater_todo_queue_length"]}
        gc = {labels["table_name"]: value
              for labels, value in samples["table_gc_todo_queue_length"]}
        for table in self.model.tables:
            data = table.data
            self.assertEqual(merkle[table.name], data.merkle_todo.count())
            self.assertEqual(gc[table.name], data.gc_todo.count())
            for worker, tree in ((f"{table.name} Merkle", data.merkle_todo),
                                 (f"{table.name} queue", data.insert_queue),
                                 (f"{table.name} GC", data.gc_todo)):
                self.assertEqual(by_worker[worker], tree.count(), worker)
                self.assertEqual(listed[worker], tree.count(), worker)
        self.assertEqual(samples["block_resync_queue_length"],
                         [({}, float(self.manager.resync.count()))])
        self.assertEqual(samples["block_resync_errored_blocks"],
                         [({}, float(self.manager.resync_errors.count()))])
        self.assertEqual(listed["block resync"], self.manager.resync.count())
        self.assertEqual(listed["block deleter"], self.manager.gc_todo.count())
        self.assertEqual(by_worker["block resync"], self.manager.resync.count())

    def test_running_counts_are_exact(self):
        """Every queue's running count equals a walk of its tree."""
        self.fill_queues()
        for name, tree in self.queue_trees().items():
            self.assertEqual(tree.key_count.value, tree.count(), name)

    def test_unknown_counts_have_no_sample(self):
        """A queue whose count is not known yet (recount under way) shows
        no figure rather than a wrong one, in /metrics and ListWorkers."""
        self.model.object_table.data.merkle_todo.key_count.forget()
        self.manager.resync.key_count.forget()
        _, samples = parse(self.scrape())
        self.assertNotIn("object", [l["table_name"] for l, _ in
                                    samples["table_merkle_updater_todo_queue_length"]])
        self.assertNotIn("block_resync_queue_length", samples)
        self.assertNotIn("object Merkle", [l["worker"] for l, _ in
                                           samples["worker_queue_length"]])
        workers = self.successResultOf(defer.ensureDeferred(list_workers(self.api, {})))
        self.assertIsNone({w["name"]: w for w in workers}["object Merkle"]["queueLength"])


def dashboard_metric_names(dashboard: dict) -> set:
    """The metric names the dashboard's PromQL expressions (and template
    queries) read."""
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition") and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    names = set()
    for expr in exprs:
        # Label matchers, ranges, grouping clauses and strings are not names.
        text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
        # Grafana's label_values(metric, label): the label is not a metric.
        text = re.sub(r"label_values\(\s*([^,)]*),[^)]*\)", r"\1", text)
        text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
        text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                      text)
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
            if token not in _PROMQL_WORDS:
                names.add(token)
    return names


_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "rate", "irate", "increase",
    "histogram_quantile", "label_values", "and", "or", "unless", "offset", "abs", "delta",
    "deriv", "clamp_min", "clamp_max", "time", "vector", "scalar", "e", "inf", "nan",
}


class DashboardTests(SynchronousTestCase):
    def test_dashboard_reads_only_exposed_families(self):
        """Every metric the Grafana dashboard's expressions read is in a
        node's exposition (histograms by their _bucket/_sum/_count)."""
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        names = dashboard_metric_names(dashboard)
        self.assertGreater(len(names), 20)
        exposed = set(FAMILIES)
        for family, (kind, _) in FAMILIES.items():
            if kind == "histogram":
                exposed |= {family + suffix for suffix in _HISTOGRAM_SUFFIXES}
        self.assertEqual(sorted(names - exposed), [])
        # And the pinned families are exactly what a node exposes.
        tests = NodeMetricsTests("test_figures")
        tests.setUp()
        tests.record_some()
        types, _ = parse(tests.scrape())
        tests.doCleanups()
        self.assertEqual(sorted(set(FAMILIES) - set(types)), [])

    def test_extraction(self):
        """The name extraction skips functions, labels and grouping."""
        names = dashboard_metric_names({"expr": 'histogram_quantile(0.9, sum by (le, x) '
                                                '(rate(a_bucket{y="b_c"}[5m]))) / b_total',
                                        "definition": "label_values(c_gauge, instance)"})
        self.assertEqual(names, {"a_bucket", "b_total", "c_gauge"})
