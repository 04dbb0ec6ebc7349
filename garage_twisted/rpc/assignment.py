"""Assignment of the ring's partitions to storage nodes (pure, no I/O).

This is a baseline: weighted rendezvous hashing. Each partition ranks the
storage nodes by ``-ln(u) / capacity`` with ``u`` a hash of (partition,
node) in (0, 1); it then takes the best node of each zone in rank order
(as many distinct zones as ``replication_factor`` allows) and fills the rest
with the best remaining nodes. Properties: deterministic, load roughly
proportional to capacity, zone spread maximal, and adding or removing a node
moves only the partitions that node gains or loses (rendezvous hashing's
minimal disruption).

It does not compute the optimal partition size of Garage's max-flow
formulation (issue 4 replaces this module's ``compute_assignment``); the
partition size reported is what this assignment achieves.
"""

import hashlib
import math
from dataclasses import dataclass

from garage_twisted.rpc.ring import PARTITION_COUNT


@dataclass(frozen=True)
class Assignment:
    """Which nodes hold each partition, and the resulting partition size."""

    partitions: tuple  # PARTITION_COUNT tuples of node ids
    partition_size: int

    def stored_partitions(self, node_id: bytes) -> int:
        return sum(1 for nodes in self.partitions if node_id in nodes)


def _score(partition: int, node_id: bytes, capacity: int) -> float:
    digest = hashlib.blake2b(partition.to_bytes(2, "big") + node_id, digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (2 ** 64 + 2)
    return -math.log(u) / capacity


class AssignmentError(ValueError):
    pass


def compute_assignment(roles: dict, replication_factor: int) -> Assignment:
    """Assign every partition to ``replication_factor`` distinct storage nodes.

    :param roles: node id -> role with ``zone`` and ``capacity`` (``None`` for
        gateways, which store nothing).
    :raises AssignmentError: with fewer storage nodes than the factor.
    """
    storage = {n: r for n, r in roles.items() if r.capacity is not None}
    if len(storage) < replication_factor:
        raise AssignmentError(
            f"not enough storage nodes: {len(storage)} for replication factor "
            f"{replication_factor}")
    if any(r.capacity <= 0 for r in storage.values()):
        raise AssignmentError("storage nodes need a positive capacity")
    partitions = []
    for partition in range(PARTITION_COUNT):
        ranked = sorted(storage, key=lambda n: (_score(partition, n, storage[n].capacity), n))
        chosen, zones = [], set()
        for node in ranked:
            if storage[node].zone not in zones:
                chosen.append(node)
                zones.add(storage[node].zone)
                if len(chosen) == replication_factor:
                    break
        for node in ranked:
            if len(chosen) == replication_factor:
                break
            if node not in chosen:
                chosen.append(node)
        partitions.append(tuple(sorted(chosen)))
    counts = {n: 0 for n in storage}
    for nodes in partitions:
        for node in nodes:
            counts[node] += 1
    size = min((storage[n].capacity // c for n, c in counts.items() if c), default=0)
    return Assignment(tuple(partitions), size)
