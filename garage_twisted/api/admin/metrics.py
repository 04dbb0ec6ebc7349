"""``/metrics``: the node's ``prometheus_client`` collectors, and the
exposition of its registry.

:func:`node_registry` builds one registry (``util/metrics.py``'s
:class:`~garage_twisted.util.metrics.Collectors`) per node holding, in
order: :class:`ClusterMetrics`, :class:`WorkerMetrics`, the RPC recorder of
``net/network.py``, :class:`TableMetrics`, :class:`BlockMetrics`, the
garbage collector's figures (``util/gcstats.py``), then S3 and website
requests (``api/s3/metrics.py``). The names, types and labels are Garage's
where Garage has the figure (``tests/unit/api/test_metrics.py`` pins them).

Invariant: a scrape costs the number of series, never the size of the
data. Every figure is a counter kept as things happen, or a queue length
read from its tree's running key count (``db/counts.py``): nothing here
walks a tree. A queue whose count is not known yet (its recount at start is
still under way) has no sample rather than a wrong one.
"""

from garage_twisted.api.admin.workers import queue_length
from garage_twisted.util.metrics import Collectors, counter_family, exposition, gauge_family

# GetClusterHealth's counts, as Garage's metrics name them.
_HEALTH_GAUGES = (
    ("cluster_connected_nodes", "connectedNodes", "Nodes connected to this one."),
    ("cluster_known_nodes", "knownNodes", "Nodes known to this one."),
    ("cluster_storage_nodes", "storageNodes", "Nodes with a storage role."),
    ("cluster_storage_nodes_ok", "storageNodesOk", "Storage nodes connected."),
    ("cluster_partitions", "partitions", "Partitions of the layout."),
    ("cluster_partitions_quorum", "partitionsQuorum",
     "Partitions with a quorum of connected nodes."),
    ("cluster_partitions_all_ok", "partitionsAllOk",
     "Partitions with all their nodes connected."),
)


def render_metrics(api) -> str:
    """The exposition of ``api.metric_sources`` (the node's registry)."""
    return exposition(*api.metric_sources).decode()


def node_registry(system, layout, workers, rpc_metrics, tables, block_manager, gc_stats,
                  client_metrics=()) -> Collectors:
    """One node's own registry (several nodes may share a process: never
    the library's global one), its collectors in the order shown.

    :param rpc_metrics: the network's recorder (``Network.metrics``).
    :param client_metrics: S3 and website ``RequestMetrics``.
    """
    registry = Collectors()
    for collector in (ClusterMetrics(system, layout), WorkerMetrics(workers), rpc_metrics,
                      TableMetrics(tables), BlockMetrics(block_manager), gc_stats,
                      *client_metrics):
        registry.register(collector)
    return registry


def _gauge(name: str, documentation: str, value):
    family = gauge_family(name, documentation)
    family.add_metric([], value)
    return family


class ClusterMetrics:
    """Cluster health as this node sees it, and the layout version.

    :param system: the node's ``System``; :param layout: its ``LayoutManager``.
    """

    def __init__(self, system, layout):
        self.system = system
        self.layout = layout

    def collect(self):
        health = self.system.health()
        yield _gauge("cluster_healthy", "Whether all storage nodes are connected (1) or not (0).",
                     int(health["status"] == "healthy"))
        yield _gauge("cluster_available", "Whether every partition has a write quorum.",
                     int(health["status"] != "unavailable"))
        yield _gauge("cluster_layout_version", "Version of the current cluster layout.",
                     self.layout.current().version)
        for name, field, documentation in _HEALTH_GAUGES:
            yield _gauge(name, documentation, health[field])


class WorkerMetrics:
    """Errors and queue lengths of every background worker (the figures
    ListWorkers shows).

    :param workers: the node's ``WorkerRunner``.
    """

    def __init__(self, workers):
        self.workers = workers

    def collect(self):
        errors = counter_family("worker_errors_total", "Errors of each background worker.",
                                ["worker"])
        queues = gauge_family("worker_queue_length", "Items waiting for each worker.",
                              ["worker"])
        for info in self.workers.list_workers():
            errors.add_metric([info.name], info.errors)
            length = queue_length(info.status)
            if length is not None:
                queues.add_metric([info.name], length)
        yield errors
        if queues.samples:
            yield queues


class TableMetrics:
    """``table_*_request_counter{table_name}``: requests this node made of
    each table (as Garage's ``table_get_request_counter``...); Garage's
    queue gauges ``table_merkle_updater_todo_queue_length`` and
    ``table_gc_todo_queue_length``."""

    NAMES = {"get": "table_get_request_counter", "get_range": "table_range_request_counter",
             "insert": "table_put_request_counter"}
    QUEUES = (("table_merkle_updater_todo_queue_length", "merkle_todo",
               "Rows whose Merkle tree update waits."),
              ("table_gc_todo_queue_length", "gc_todo",
               "Tombstones waiting for garbage collection."))

    def __init__(self, tables):
        self.tables = list(tables)

    def collect(self):
        for operation, name in self.NAMES.items():
            family = counter_family(name, f"Table {operation} requests made by this node.",
                                    ["table_name"])
            for table in self.tables:
                family.add_metric([table.name], table.request_counts[operation])
            yield family
        for name, tree, documentation in self.QUEUES:
            family = gauge_family(name, documentation, ["table_name"])
            for table in self.tables:
                length = getattr(table.data, tree).key_count.value
                if length is not None:
                    family.add_metric([table.name], length)
            yield family


class BlockMetrics:
    """Bytes stored and served by this node's block store, blocks deleted,
    corrupt copies found, the resync queue and the blocks whose resync
    keeps failing."""

    COUNTERS = (("block_bytes_written", "bytes_written", "Bytes of blocks stored here."),
                ("block_bytes_read", "bytes_read", "Bytes of blocks read from here."),
                ("block_delete_counter", "deleted", "Blocks deleted here."),
                ("block_corruption_counter", "corrupt",
                 "Corrupt block copies found here (set aside)."))

    def __init__(self, manager):
        self.manager = manager

    def collect(self):
        counts = self.manager.counts
        for name, key, documentation in self.COUNTERS:
            family = counter_family(name, documentation)
            family.add_metric([], counts[key])
            yield family
        for name, tree, documentation in (
                ("block_resync_queue_length", self.manager.resync,
                 "Blocks waiting for a resync check."),
                ("block_resync_errored_blocks", self.manager.resync_errors,
                 "Blocks whose last resync failed.")):
            value = tree.key_count.value
            if value is not None:
                yield _gauge(name, documentation, value)
        replicator = self.manager.replicator
        budget = None if replicator is None else replicator.ram_buffer
        if budget is not None:
            # Garage's name and unit.
            yield _gauge("block_ram_buffer_free_kb",
                         "Room left in block_ram_buffer_max (KiB) for blocks being sent.",
                         budget.free // 1024)
