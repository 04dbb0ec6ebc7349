"""Prometheus text exposition of the node's figures (``/metrics``).

Cluster health and worker queues are read from the admin API's objects;
the rest comes from ``api.metric_sources`` (anything with ``render()``):
S3 and website requests, RPC calls, and the adapters below that read the
counters tables and the block manager keep.
"""


def _line(name: str, value, labels: dict | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


# GetClusterHealth's counts, as Garage's metrics name them.
_HEALTH_GAUGES = (
    ("cluster_connected_nodes", "connectedNodes"), ("cluster_known_nodes", "knownNodes"),
    ("cluster_storage_nodes", "storageNodes"), ("cluster_storage_nodes_ok", "storageNodesOk"),
    ("cluster_partitions", "partitions"), ("cluster_partitions_quorum", "partitionsQuorum"),
    ("cluster_partitions_all_ok", "partitionsAllOk"),
)


def render_metrics(api) -> str:
    health = api.system.health()
    lines = [
        "# HELP cluster_healthy Whether all storage nodes are connected (1) or not (0).",
        "# TYPE cluster_healthy gauge",
        _line("cluster_healthy", int(health["status"] == "healthy")),
        "# HELP cluster_available Whether every partition has a write quorum.",
        "# TYPE cluster_available gauge",
        _line("cluster_available", int(health["status"] != "unavailable")),
        "# TYPE cluster_layout_version gauge",
        _line("cluster_layout_version", api.layout.current().version),
    ]
    for name, field in _HEALTH_GAUGES:
        lines += [f"# TYPE {name} gauge", _line(name, health[field])]
    if api.workers is not None:
        lines.append("# HELP worker_errors_total Errors of each background worker.")
        lines.append("# TYPE worker_errors_total counter")
        queues = []
        for info in api.workers.list_workers():
            lines.append(_line("worker_errors_total", info.errors, {"worker": info.name}))
            for key in ("todo_length", "queue_length", "gc_todo_length"):
                if key in info.status:
                    queues.append(_line("worker_queue_length", info.status[key],
                                        {"worker": info.name}))
        if queues:
            lines.append("# TYPE worker_queue_length gauge")
            lines += queues
    for source in getattr(api, "metric_sources", ()):
        lines += source.render()
    return "\n".join(lines) + "\n"


class TableMetrics:
    """``table_*_request_counter{table_name}``: requests this node made of
    each table (as Garage's ``table_get_request_counter``...)."""

    NAMES = {"get": "table_get_request_counter", "get_range": "table_range_request_counter",
             "insert": "table_put_request_counter"}

    def __init__(self, tables):
        self.tables = list(tables)

    def render(self) -> list:
        lines = []
        for operation, name in self.NAMES.items():
            lines += [f"# HELP {name} Table {operation} requests made by this node.",
                      f"# TYPE {name} counter"]
            lines += [_line(name, table.request_counts[operation], {"table_name": table.name})
                      for table in self.tables]
        return lines


class BlockMetrics:
    """Bytes stored and served by this node's block store, blocks deleted,
    corrupt copies found, blocks whose resync keeps failing."""

    def __init__(self, manager):
        self.manager = manager

    def render(self) -> list:
        counts = self.manager.counts
        return [
            "# TYPE block_bytes_written counter", _line("block_bytes_written",
                                                        counts["bytes_written"]),
            "# TYPE block_bytes_read counter", _line("block_bytes_read", counts["bytes_read"]),
            "# TYPE block_delete_counter counter", _line("block_delete_counter",
                                                         counts["deleted"]),
            "# HELP block_corruption_counter Corrupt block copies found here (set aside).",
            "# TYPE block_corruption_counter counter",
            _line("block_corruption_counter", counts["corrupt"]),
            "# HELP block_resync_errored_blocks Blocks whose last resync failed.",
            "# TYPE block_resync_errored_blocks gauge",
            _line("block_resync_errored_blocks", self.manager.resync_errors.count()),
        ]
