"""Prometheus text exposition of the node's figures (``/metrics``)."""


def _line(name: str, value, labels: dict | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def render_metrics(api) -> str:
    health = api.system.health()
    lines = [
        "# HELP cluster_healthy Whether all storage nodes are connected (1) or not (0).",
        "# TYPE cluster_healthy gauge",
        _line("cluster_healthy", int(health["status"] == "healthy")),
        "# HELP cluster_available Whether every partition has a write quorum.",
        "# TYPE cluster_available gauge",
        _line("cluster_available", int(health["status"] != "unavailable")),
        "# TYPE cluster_connected_nodes gauge",
        _line("cluster_connected_nodes", health["connectedNodes"]),
        "# TYPE cluster_layout_version gauge",
        _line("cluster_layout_version", api.layout.current().version),
    ]
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
    for source in getattr(api, "request_metrics", ()):
        lines += source.render()
    return "\n".join(lines) + "\n"
