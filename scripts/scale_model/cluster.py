"""A synthetic cluster: node ids, zones, capacities and link latencies.

Deterministic for a given size and seed, so every section of a run, and two
runs, describe the same cluster.

Latency model (one way): nodes of one zone are on a LAN,
``SAME_ZONE`` seconds apart; zones sit evenly on a circle and two zones
``d`` apart (``0 < d <= 1``, half a turn = 1) are ``FAR_MIN + (FAR_MAX -
FAR_MIN) * d`` apart: 5 to 80 ms. Each link adds a fixed jitter below
``JITTER`` (smaller than ``SAME_ZONE``), so no two paths take exactly the
same time and the latencies keep a strict triangle inequality (a relay is
never faster than the direct link): what the gossip closed form relies on.
"""

import hashlib
import random
from dataclasses import dataclass

from garage_twisted.rpc.layout import NodeRole

TB = 10 ** 12
CAPACITIES_TB = (1, 2, 4, 8)
SAME_ZONE = 0.0005
FAR_MIN = 0.005
FAR_MAX = 0.080
JITTER = 0.0004


def default_zones(nodes: int) -> int:
    """5 zones for 10 nodes, 20 for 100, 50 for 1,000 (and between)."""
    return max(1, min(50, max(5, nodes // 5), nodes))


def node_id(index: int, seed: int = 0) -> bytes:
    return hashlib.blake2b(f"scale-node-{seed}-{index}".encode(), digest_size=32).digest()


@dataclass
class Cluster:
    """``size`` storage nodes over ``zones`` zones (round robin), capacities
    drawn from 1, 2, 4 and 8 TB."""

    size: int
    zones: int
    seed: int = 0

    def __post_init__(self):
        rng = random.Random(self.seed * 1_000_003 + self.size)
        self.ids = [node_id(i, self.seed) for i in range(self.size)]
        self.zone_of = [i % self.zones for i in range(self.size)]
        self.capacity = [rng.choice(CAPACITIES_TB) * TB for _ in range(self.size)]
        self.index = {n: i for i, n in enumerate(self.ids)}

    def role(self, i: int) -> NodeRole:
        return NodeRole(f"zone-{self.zone_of[i]:02d}", self.capacity[i])

    def roles(self) -> dict:
        return {self.ids[i]: self.role(i) for i in range(self.size)}

    def zone_distance(self, a: int, b: int) -> float:
        """0 for one zone, else the share of half a turn between them."""
        if a == b:
            return 0.0
        steps = abs(a - b) % self.zones
        steps = min(steps, self.zones - steps)
        return max(steps / (self.zones / 2), 1e-9)

    def latency(self, i: int, j: int) -> float:
        """One-way seconds between nodes ``i`` and ``j`` (symmetric)."""
        if i == j:
            return 0.0
        a, b = (i, j) if i < j else (j, i)
        jitter = JITTER * (((a * 2_654_435_761) ^ (b * 40_503) ^ self.seed) % 10_007) / 10_007
        za, zb = self.zone_of[a], self.zone_of[b]
        if za == zb:
            return SAME_ZONE + jitter
        return FAR_MIN + (FAR_MAX - FAR_MIN) * self.zone_distance(za, zb) + jitter

    def mean_inter_zone_rtt(self) -> float:
        """Mean round trip between two nodes of different zones."""
        if self.zones < 2:
            return 2 * SAME_ZONE
        total = count = 0
        for a in range(self.zones):
            for b in range(self.zones):
                if a != b:
                    total += FAR_MIN + (FAR_MAX - FAR_MIN) * self.zone_distance(a, b)
                    count += 1
        return 2 * total / count
