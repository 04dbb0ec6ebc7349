"""Layout computation at scale: time, memory, balance, data moved on a join or a leave.

Drives the real :class:`~garage_twisted.rpc.layout.LayoutManager` (stage every
role, ``apply``: the maximum-flow assignment of ``rpc/assignment.py``) on a
memory store. Time is CPU time of an untraced run; memory is the
``tracemalloc`` peak of a second, traced run (tracing slows it, so the two
are separate). A join stages one more node (median capacity, the next zone)
and applies; a leave removes the node holding the median number of
partitions. Moved copies come from ``Assignment.moves_from``: each is one
partition's data copied to a node that did not hold it.
"""

import statistics
import time
import tracemalloc
from types import MappingProxyType

from twisted.internet.task import Clock

from garage_twisted.db.memory import MemoryStore
from garage_twisted.rpc.assignment import compute_assignment
from garage_twisted.rpc.layout import LayoutManager, NodeRole
from garage_twisted.rpc.ring import PARTITION_COUNT

from scale_model.cluster import TB, Cluster, node_id

RF = 3
EPOCH = 1_700_000_000.0


def _manager(cluster: Cluster, me: bytes) -> LayoutManager:
    clock = Clock()
    clock.advance(EPOCH)
    return LayoutManager(MemoryStore(), RF, me, clock)


def _apply_all(cluster: Cluster) -> LayoutManager:
    manager = _manager(cluster, cluster.ids[0])
    for i, nid in enumerate(cluster.ids):
        manager.stage_role(nid, cluster.role(i))
    manager.apply(manager.current().version + 1)
    return manager


def _timed(fn):
    start = time.process_time()
    result = fn()
    return result, time.process_time() - start


def _traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _balance(cluster: Cluster, version) -> dict:
    assignment = version.assignment
    loads = {n: 0 for n in cluster.ids}
    for nodes in assignment.partitions:
        for n in nodes:
            loads[n] += 1
    counts = sorted(loads.values())
    usable = assignment.partition_size * PARTITION_COUNT
    ideal = sum(cluster.capacity) / RF
    return {
        "partitions_per_node_min": counts[0],
        "partitions_per_node_median": statistics.median(counts),
        "partitions_per_node_max": counts[-1],
        "nodes_holding_nothing": sum(1 for c in counts if c == 0),
        "partition_size_tb": assignment.partition_size / TB,
        "usable_capacity_tb": usable / TB,
        "usable_share_of_ideal": usable / ideal,
    }


def _moves(before, after) -> dict:
    moved = after.assignment.moves_from(before.assignment)
    copies = PARTITION_COUNT * RF
    return {
        "moved_copies": moved,
        "moved_share": moved / copies,
        # If every node were full: bytes copied = copies x partition size.
        "moved_tb_if_full": moved * after.assignment.partition_size / TB,
    }


def measure(cluster: Cluster, trace_memory: bool = True) -> tuple:
    """Compute the layout of ``cluster``, then a join and a leave.

    :returns: ``(figures, managers)``: ``managers["first"]`` holds the
        computed layout, ``managers["join"]`` the layout after the join (two
        versions active, as during any change).
    """
    manager, seconds = _timed(lambda: _apply_all(cluster))
    first = manager.current()
    peak = _traced_peak(lambda: _apply_all(cluster)) if trace_memory else None
    out = {
        "nodes": cluster.size, "zones": cluster.zones,
        "compute_seconds": seconds,
        "compute_peak_bytes": peak,
        "state_bytes": len(manager.tree.get(b"state")),
    }
    out.update(_balance(cluster, first))

    # Join: one more node, median capacity, in the next zone.
    join = _manager(cluster, cluster.ids[0])
    join.merge_remote(manager.state)
    newcomer = node_id(cluster.size, cluster.seed + 1)
    capacity = sorted(cluster.capacity)[cluster.size // 2]
    join.stage_role(newcomer, NodeRole(f"zone-{cluster.size % cluster.zones:02d}", capacity))
    joined, join_seconds = _timed(lambda: join.apply(first.version + 1))
    out["join_seconds"] = join_seconds
    out["join"] = _moves(first, joined)
    out["join"]["newcomer_copies"] = joined.assignment.stored_partitions(newcomer)

    # Leave: the node with the median number of partitions (some hold none).
    loads = sorted((first.assignment.stored_partitions(n), n) for n in cluster.ids)
    held, leaver = next(((c, n) for c, n in loads[len(loads) // 2:] if c > 0), loads[-1])
    leave = _manager(cluster, cluster.ids[0] if leaver != cluster.ids[0] else cluster.ids[1])
    leave.merge_remote(manager.state)
    leave.stage_role(leaver, None)
    left, leave_seconds = _timed(lambda: leave.apply(first.version + 1))
    out["leave_seconds"] = leave_seconds
    out["leave"] = _moves(first, left)
    out["leave"]["leaver_copies"] = held
    return out, {"first": manager, "join": join}


def what_if_partitions(cluster: Cluster, partition_count: int) -> dict:
    """The assignment with another partition count (``compute_assignment``
    takes it as a parameter; the node's is fixed by ``rpc/ring.py``)."""
    roles = MappingProxyType(cluster.roles())
    assignment, seconds = _timed(lambda: compute_assignment(dict(roles), RF, "maximum",
                                                            partition_count=partition_count))
    loads = [0] * cluster.size
    index = cluster.index
    for nodes in assignment.partitions:
        for n in nodes:
            loads[index[n]] += 1
    usable = assignment.partition_size * partition_count
    return {
        "partitions": partition_count, "compute_seconds": seconds,
        "nodes_holding_nothing": sum(1 for c in loads if c == 0),
        "usable_share_of_ideal": usable / (sum(cluster.capacity) / RF),
    }
