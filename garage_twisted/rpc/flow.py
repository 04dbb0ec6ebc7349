"""Maximum flow (Dinic's algorithm) on a small directed graph with integer capacities.

Pure code for :mod:`~garage_twisted.rpc.assignment`. Arcs live in flat
lists (head, capacity, next arc of the same tail), each arc paired with its
reverse at index ``i ^ 1``, which keeps the inner loops to list indexing:
the assignment graphs have a few thousand vertices and tens of thousands of
arcs, and are solved a dozen times per layout computation.

Invariant: after :meth:`FlowGraph.max_flow`, ``flow(arc)`` is a maximum
flow from source to sink that extends whatever flow the graph already
carried (so a flow computed on a subgraph can be completed after more arcs
are added).
"""

from collections import deque


class FlowGraph:
    def __init__(self, vertex_count: int):
        self.n = vertex_count
        self.first = [-1] * vertex_count  # first arc out of each vertex
        self.head: list[int] = []
        self.cap: list[int] = []  # residual capacity
        self.next: list[int] = []
        self.original: list[int] = []

    def add_edge(self, u: int, v: int, capacity: int) -> int:
        """Add ``u -> v``; returns the arc's index (its reverse is ``index ^ 1``)."""
        index = len(self.head)
        self.head += (v, u)
        self.cap += (capacity, 0)
        self.original += (capacity, 0)
        self.next += (self.first[u], self.first[v])
        self.first[u] = index
        self.first[v] = index + 1
        return index

    def flow(self, arc: int) -> int:
        return self.original[arc] - self.cap[arc]

    def push(self, arc: int, amount: int = 1) -> None:
        """Send ``amount`` more along ``arc`` (used to start from a known flow)."""
        if self.cap[arc] < amount:
            raise ValueError("pushing past an arc's capacity")
        self.cap[arc] -= amount
        self.cap[arc ^ 1] += amount

    def _levels(self, source: int, sink: int):
        level = [-1] * self.n
        level[source] = 0
        queue = deque([source])
        first, head, cap, nxt = self.first, self.head, self.cap, self.next
        while queue:
            u = queue.popleft()
            arc = first[u]
            while arc != -1:
                v = head[arc]
                if cap[arc] > 0 and level[v] < 0:
                    level[v] = level[u] + 1
                    queue.append(v)
                arc = nxt[arc]
        return level if level[sink] >= 0 else None

    def _blocking_flow(self, source: int, sink: int, level) -> int:
        first, head, cap, nxt = self.first, self.head, self.cap, self.next
        current = list(first)
        total = 0
        # Iterative depth-first search along level-increasing arcs.
        while True:
            path = []  # arcs from the source
            u = source
            while u != sink:
                arc = current[u]
                while arc != -1:
                    v = head[arc]
                    if cap[arc] > 0 and level[v] == level[u] + 1:
                        break
                    arc = nxt[arc]
                current[u] = arc
                if arc == -1:
                    # Dead end: retreat, and never try this vertex again.
                    level[u] = -1
                    if not path:
                        return total
                    back = path.pop()
                    u = head[back ^ 1]
                    current[u] = nxt[current[u]]
                    continue
                path.append(arc)
                u = head[arc]
            amount = min(cap[arc] for arc in path)
            for arc in path:
                cap[arc] -= amount
                cap[arc ^ 1] += amount
            total += amount

    def max_flow(self, source: int, sink: int) -> int:
        """Augment to a maximum flow; returns the flow added."""
        added = 0
        while True:
            level = self._levels(source, sink)
            if level is None:
                return added
            added += self._blocking_flow(source, sink, level)
