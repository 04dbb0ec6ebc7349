"""Assignment of the ring's partitions to storage nodes (pure, no I/O).

Garage's formulation. Each of the ``P`` partitions gets ``replication_factor``
(RF) distinct storage nodes spread over at least ``zone_redundancy`` (ZR)
distinct zones. Every partition is given the same size ``s``; a node of
capacity ``c`` can hold ``floor(c / s)`` partitions. The assignment
maximizes ``s`` (the usable capacity is ``s * P``, each copy counted once),
then, among the assignments achieving it, keeps as many of the previous
version's (partition, node) pairs as it can.

Feasibility of a size is a maximum flow (as in Garage's
``src/rpc/layout/version.rs``)::

    source -> Pup(p)      capacity ZR        (ZR copies in distinct zones)
    source -> Pdown(p)    capacity RF - ZR   (the other copies anywhere)
    Pup(p) -> PZ(p, z)    capacity 1
    Pdown(p) -> PZ(p, z)  capacity RF
    PZ(p, z) -> N(n)      capacity 1         (n in zone z: once per partition)
    N(n) -> sink          capacity min(P, floor(c_n / s))

``s`` is feasible iff the flow saturates the source (``P * RF``). The best
``s`` is one of the breakpoints ``floor(c_n / k)``, searched by bisection.
The final flow is computed first on the previous version's pairs only, then
completed with all pairs (Dinic's shortest augmenting paths rarely undo a
kept pair), then pairs lost that way are won back by exchanges between
partitions. Deterministic: nodes and zones are taken in sorted order.
"""

from dataclasses import dataclass

from garage_twisted.rpc.flow import FlowGraph
from garage_twisted.rpc.ring import PARTITION_COUNT


@dataclass(frozen=True)
class Assignment:
    """Which nodes hold each partition, and the resulting partition size."""

    partitions: tuple  # P tuples of node ids, each sorted
    partition_size: int

    def stored_partitions(self, node_id: bytes) -> int:
        return sum(1 for nodes in self.partitions if node_id in nodes)

    def moves_from(self, previous: "Assignment | None") -> int:
        """How many (partition, node) copies are new relative to ``previous``."""
        if previous is None or len(previous.partitions) != len(self.partitions):
            return sum(len(nodes) for nodes in self.partitions)
        return sum(len(set(new) - set(old))
                   for new, old in zip(self.partitions, previous.partitions))


class AssignmentError(ValueError):
    pass


def effective_zone_redundancy(zone_redundancy, replication_factor: int, zones: int) -> int:
    if zone_redundancy in (None, "maximum", "max"):
        return min(replication_factor, zones)
    return int(zone_redundancy)


class _Problem:
    def __init__(self, roles: dict, replication_factor: int, zone_redundancy,
                 partition_count: int):
        storage = sorted((n, r) for n, r in roles.items() if r.capacity is not None)
        self.nodes = [n for n, _ in storage]
        self.capacity = [r.capacity for _, r in storage]
        self.zones = sorted({r.zone for _, r in storage})
        zone_index = {z: i for i, z in enumerate(self.zones)}
        self.zone_of = [zone_index[r.zone] for _, r in storage]
        self.rf = replication_factor
        self.p = partition_count
        if len(self.nodes) < replication_factor:
            raise AssignmentError(
                f"not enough storage nodes: {len(self.nodes)} for replication factor "
                f"{replication_factor}")
        if any(c <= 0 for c in self.capacity):
            raise AssignmentError("storage nodes need a positive capacity")
        self.zr = effective_zone_redundancy(zone_redundancy, replication_factor,
                                            len(self.zones))
        if not 1 <= self.zr <= replication_factor:
            raise AssignmentError(
                f"zone redundancy must be between 1 and the replication factor "
                f"({replication_factor})")
        if self.zr > len(self.zones):
            raise AssignmentError(
                f"zone redundancy {self.zr} needs storage nodes in at least {self.zr} "
                f"zones; the layout has {len(self.zones)}")

    # Vertex numbering.
    def _pup(self, p):
        return 2 + p

    def _pdown(self, p):
        return 2 + self.p + p

    def _pz(self, p, z):
        return 2 + 2 * self.p + p * len(self.zones) + z

    def _node(self, n):
        return 2 + 2 * self.p + self.p * len(self.zones) + n

    def tokens(self, size: int) -> list[int]:
        return [min(self.p, c // size) for c in self.capacity]

    def graph(self, size: int, pairs=None):
        """The flow graph for ``size``; only ``pairs`` ((p, n) set) if given.

        :returns: ``(graph, arcs)``, ``arcs[(p, n)]`` the PZ -> N arc.
        """
        zones = len(self.zones)
        g = FlowGraph(2 + 2 * self.p + self.p * zones + len(self.nodes))
        for p in range(self.p):
            g.add_edge(0, self._pup(p), self.zr)
            if self.rf > self.zr:
                g.add_edge(0, self._pdown(p), self.rf - self.zr)
            for z in range(zones):
                g.add_edge(self._pup(p), self._pz(p, z), 1)
                if self.rf > self.zr:
                    g.add_edge(self._pdown(p), self._pz(p, z), self.rf)
        for n, t in enumerate(self.tokens(size)):
            g.add_edge(self._node(n), 1, t)
        arcs = {}
        self.add_pairs(g, arcs, pairs)
        return g, arcs

    def add_pairs(self, g, arcs, pairs=None) -> None:
        count = len(self.nodes)
        for p in range(self.p):
            # Nodes in an order rotated per partition: where a zone has more
            # room than it needs, the flow then spreads partitions over its
            # nodes instead of filling the first ones.
            for i in range(count):
                n = (i + p) % count
                if (p, n) in arcs or (pairs is not None and (p, n) not in pairs):
                    continue
                arcs[(p, n)] = g.add_edge(self._pz(p, self.zone_of[n]), self._node(n), 1)

    def feasible(self, size: int) -> bool:
        if sum(self.tokens(size)) < self.p * self.rf:
            return False
        g, _ = self.graph(size)
        return g.max_flow(0, 1) == self.p * self.rf

    def best_size(self) -> int:
        candidates = sorted({c // k for c in self.capacity for k in range(1, self.p + 1)
                             if c // k >= 1})
        if not candidates or not self.feasible(candidates[0]):
            raise AssignmentError(
                "the storage nodes cannot hold every partition "
                f"{self.rf} times in {self.zr} distinct zones: add nodes or capacity, "
                "or lower the zone redundancy")
        low, high = 0, len(candidates) - 1  # candidates[low] is feasible
        while low < high:
            middle = (low + high + 1) // 2
            if self.feasible(candidates[middle]):
                low = middle
            else:
                high = middle - 1
        return candidates[low]


def compute_assignment(roles: dict, replication_factor: int, zone_redundancy="maximum",
                       previous: Assignment | None = None,
                       partition_count: int = PARTITION_COUNT) -> Assignment:
    """Assign every partition to ``replication_factor`` distinct storage nodes.

    :param roles: node id -> role with ``zone`` and ``capacity`` (``None`` for
        gateways, which store nothing).
    :param zone_redundancy: ``"maximum"`` (as many zones as possible) or the
        minimum number of distinct zones per partition.
    :param previous: the current assignment, whose pairs are kept where
        possible.
    :raises AssignmentError: saying why no assignment exists.
    """
    problem = _Problem(roles, replication_factor, zone_redundancy, partition_count)
    size = problem.best_size()
    index = {node: n for n, node in enumerate(problem.nodes)}
    kept = set()
    if previous is not None and len(previous.partitions) == partition_count:
        for p, nodes in enumerate(previous.partitions):
            kept.update((p, index[node]) for node in nodes if node in index)
    g, arcs = problem.graph(size, kept)
    g.max_flow(0, 1)
    # Then every pair: the flow grows from the one on kept pairs.
    problem.add_pairs(g, arcs)
    g.max_flow(0, 1)
    chosen = [[] for _ in range(partition_count)]
    for (p, n), arc in arcs.items():
        if g.flow(arc):
            chosen[p].append(n)
    if sum(len(c) for c in chosen) != partition_count * replication_factor:
        raise AssignmentError("internal error: the final flow is not complete")
    _win_back(problem, size, chosen, kept)
    return Assignment(
        tuple(tuple(sorted(problem.nodes[n] for n in c)) for c in chosen), size)


def _win_back(problem: _Problem, size: int, chosen: list, kept: set) -> None:
    """Exchange copies so that more previous (partition, node) pairs are kept.

    For a lost pair (p, old) where p now uses a new node ``new``: put ``old``
    back in place of ``new`` if ``old`` has room; else find a partition q that
    ``old`` holds as a new pair and that can take ``new`` instead. Each
    exchange keeps every constraint (distinct nodes, token limits, zones) and
    adds at least one kept pair, so the loop ends.
    """
    tokens = problem.tokens(size)
    load = [0] * len(problem.nodes)
    for c in chosen:
        for n in c:
            load[n] += 1
    zone_of = problem.zone_of

    def zones_ok(nodes) -> bool:
        return len({zone_of[n] for n in nodes}) >= problem.zr

    def replace_in(p, out, into) -> bool:
        nodes = chosen[p]
        if into in nodes:
            return False
        candidate = [into if n == out else n for n in nodes]
        if not zones_ok(candidate):
            return False
        chosen[p] = candidate
        return True

    improved = True
    while improved:
        improved = False
        for p, nodes in enumerate(chosen):
            lost = [n for n in range(len(problem.nodes)) if (p, n) in kept and n not in nodes]
            if not lost:
                continue
            fresh = [n for n in nodes if (p, n) not in kept]
            for old in lost:
                for new in fresh:
                    if load[old] < tokens[old]:
                        if replace_in(p, new, old):
                            load[old] += 1
                            load[new] -= 1
                            improved = True
                            break
                        continue
                    # old is full: free one of its slots held as a new pair.
                    for q, q_nodes in enumerate(chosen):
                        if q == p or old not in q_nodes or (q, old) in kept:
                            continue
                        if new in q_nodes:
                            continue
                        before_p, before_q = list(chosen[p]), list(q_nodes)
                        if replace_in(q, old, new) and replace_in(p, new, old):
                            improved = True
                            break
                        chosen[p], chosen[q] = before_p, before_q
                    if improved:
                        break
                if improved:
                    break
