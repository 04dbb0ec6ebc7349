"""Admin API v2 node operations, this node's answer: identity, statistics,
metrics, block resync errors.

``GetNodeInfo``, ``GetNodeStatistics`` (freeform text, as Garage: per-table
items, Merkle and GC to-do lengths, insert queues, sync state; block
counters and queues), ``GetNodeMetrics`` (ours: the node's ``/metrics``
text, so that one request through one node, ``?node=*``, reads every
node's figures; the console's Activity page charts them per node),
``ListBlockErrors`` and ``RetryBlockResync``. Each is
``async f(api, body) -> JSON value`` for this node alone;
:mod:`~garage_twisted.api.admin.node_scope` runs it on the nodes ``?node=``
names and gathers Garage's ``success`` / ``error`` answer.
"""

from collections import Counter

from garage_twisted.api.admin import errors, render
from garage_twisted.api.admin.metrics import render_metrics
from garage_twisted.db.binding import ENGINE
from garage_twisted.rpc.ring import PARTITION_COUNT
from garage_twisted.util.time import now_msec
from garage_twisted.util.text import human_size, table


async def node_info(api, body):
    return {"nodeId": api.system.node_id.hex(), "garageVersion": api.system.version,
            "garageFeatures": ["leveldb"], "rustVersion": "n/a (Python)",
            "dbEngine": ENGINE}


def table_statistics(api) -> list:
    """Per table: name, items, Merkle to-do, GC to-do, insert queue."""
    rows = []
    for table in api.helper.model.tables:
        data = table.data
        rows.append((table.name, data.rows.count(), data.merkle_todo.count(),
                     data.gc_todo.count(), data.insert_queue.count()))
    return rows


def block_statistics(api) -> dict:
    manager = api.helper.model.block_manager
    return {"rc_entries": manager.rc.count(), "resync_queue": manager.resync.count(),
            "resync_errors": manager.resync_errors.count(),
            "gc_todo": manager.gc_todo.count()}


def _counts(api) -> tuple[list, dict]:
    """Blocking: the table and block counts (run it in the I/O pool).
    Counting walks every key of a tree, millions on a large node: never on
    the reactor thread. LevelDB iterators read a snapshot, so writes may go
    on meanwhile."""
    return table_statistics(api), block_statistics(api)


def _freeform(api, tables: list, blocks: dict) -> str:
    lines = [f"Garage version: {api.system.version}", f"Database engine: {ENGINE}", "",
             "Table stats:",
             f"  {'Table':<14}{'Items':>10}{'MklTodo':>10}{'GcTodo':>10}{'Queue':>10}"]
    for name, items, merkle, gc, queue in tables:
        lines.append(f"  {name:<14}{items:>10}{merkle:>10}{gc:>10}{queue:>10}")
    lines += ["", "Block manager stats:",
              f"  number of RC entries: {blocks['rc_entries']} (~= number of blocks)",
              f"  resync queue length: {blocks['resync_queue']}",
              f"  blocks with resync errors: {blocks['resync_errors']}",
              f"  blocks waiting for deletion: {blocks['gc_todo']}"]
    if api.workers is not None:
        lines += ["", "Sync:"]
        # The sync workers' statuses alone: listing every worker would count
        # the queues of the others, on the reactor thread.
        for name in api.workers.names():
            if name.endswith(" sync"):
                status = api.workers.worker(name).status()
                lines.append(f"  {name:<18} passes {status.get('passes')}, synced layout "
                             f"v{status.get('synced_version')}, rows pushed "
                             f"{status.get('rows_pushed')}, offloaded "
                             f"{status.get('rows_offloaded')}")
    return "\n".join(lines) + "\n"


async def node_metrics(api, body):
    """This node's Prometheus exposition, as ``/metrics`` answers it."""
    return {"metrics": render_metrics(api)}


async def node_statistics(api, body):
    tables, blocks = await api.helper.model.block_manager.run_in_thread(_counts, api)
    return {"freeform": _freeform(api, tables, blocks)}


async def disk_space(api, body):
    """This node's free space (for a peer's GetClusterStatistics)."""
    return api.system.disk_space()


def _avail(space) -> str:
    if not space or not space.get("total"):
        return "?"
    return (f"{human_size(space['available'])}/{human_size(space['total'])} "
            f"({100 * space['available'] / space['total']:.1f}%)")


async def cluster_statistics(api) -> str:
    """GetClusterStatistics' text, as Garage's: one line per storage node of
    the current layout (its partitions, and its free space as it says), then
    what the cluster can still store: the node with the least space per
    partition it holds fills first, and every partition has a copy there."""
    current = api.layout.current()
    partitions = Counter()
    if current.assignment is not None:
        for nodes in current.assignment.partitions:
            partitions.update(nodes)
    answers = await api.node_scope.run("NodeDiskSpace", "*", {})
    space = answers["success"]
    hostnames = {s["id"]: s["hostname"] for s in api.system.node_statuses()}
    rows = [["ID", "Hostname", "Zone", "Capacity", "Part.", "DataAvail", "MetaAvail"]]
    for node_id in sorted(partitions):
        role = current.roles.get(node_id)
        own = space.get(node_id.hex(), {})
        rows.append([node_id.hex()[:16], hostnames.get(node_id.hex()) or "?",
                     role.zone if role else "?",
                     human_size(role.capacity) if role and role.capacity else "?",
                     partitions[node_id], _avail(own.get("data")), _avail(own.get("metadata"))])
    lines = ["Storage nodes:"] + ["  " + line for line in table(rows).splitlines()]
    per_partition = {"data": [], "metadata": []}
    for node_id, count in partitions.items():
        for kind in per_partition:
            found = (space.get(node_id.hex()) or {}).get(kind)
            if found:
                per_partition[kind].append(found["available"] // count)
    if per_partition["data"] and per_partition["metadata"]:
        some_unknown = any(len(v) < len(partitions) for v in per_partition.values())
        bound = "< " if some_unknown else ""
        lines += ["", "Estimated available storage space cluster-wide "
                  "(might be lower in practice):",
                  f"  data: {bound}{human_size(min(per_partition['data']) * PARTITION_COUNT)}",
                  f"  metadata: {bound}"
                  f"{human_size(min(per_partition['metadata']) * PARTITION_COUNT)}"]
        if some_unknown:
            lines.append("A precise estimate could not be given as information is missing "
                         "for some storage nodes.")
    return "\n".join(lines) + "\n"


async def list_block_errors(api, body):
    manager = api.helper.model.block_manager
    now = now_msec(api.clock)
    return [{"blockHash": hash_.hex(), "refcount": manager.refcount(hash_),
             "errorCount": count, "lastTrySecsAgo": max(0, (now - last) // 1000),
             "nextTryInSecs": max(0, (next_try - now) // 1000), "lastError": message}
            for hash_, count, last, next_try, message in manager.list_resync_errors()]


def check_retry(body):
    """``None`` (every queued block) or the block hashes a RetryBlockResync names."""
    if not isinstance(body, dict):
        raise errors.BadRequest('give {"all": true} or {"blockHashes": [...]}')
    if body.get("all"):
        return None
    hashes = body.get("blockHashes")
    if not isinstance(hashes, list) or not hashes:
        raise errors.BadRequest('give {"all": true} or {"blockHashes": [...]}')
    return [render.parse_hex32(h, "block hash") for h in hashes]


async def retry_block_resync(api, body):
    count = api.helper.model.block_manager.resync_now(check_retry(body))
    if api.workers is not None:
        api.workers.wake("block resync")
    return {"count": count}
