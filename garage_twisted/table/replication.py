"""Replication strategies: which nodes hold a partition, and the quorums.

:class:`LocalReplication` places every partition on the local node (tests,
and nodes without a layout). :class:`ShardedReplication` follows the cluster
layout's partition assignment (object, version, block_ref, multipart
tables); :class:`FullCopyReplication` puts the whole table on every node of
the layout (bucket, alias, key tables). All implement
:class:`~garage_twisted.table.interfaces.ITableReplication`.
"""

from zope.interface import implementer

from garage_twisted.rpc.preference import read_order
from garage_twisted.table.interfaces import ITableReplication


@implementer(ITableReplication)
class LocalReplication:
    """Every partition lives on this node alone; quorums are one.

    :param local_node_id: this node's 32-byte id.
    """

    def __init__(self, local_node_id: bytes):
        self.local_node_id = local_node_id

    def read_nodes(self, position_hash):
        return [self.local_node_id]

    def write_sets(self, position_hash):
        return [[self.local_node_id]]

    def all_nodes(self, position_hash):
        return [self.local_node_id]

    def read_quorum(self):
        return 1

    def write_quorum(self):
        return 1


def _quorums(replication_factor: int, consistency_mode: str) -> tuple[int, int]:
    """``(read, write)`` quorums, as Garage computes them."""
    consistent_read = (replication_factor + 1) // 2
    read = consistent_read if consistency_mode == "consistent" else 1
    write = 1 if consistency_mode == "dangerous" else replication_factor + 1 - consistent_read
    return read, write


def _local_first(nodes, local_node_id: bytes) -> list:
    nodes = list(nodes)
    if local_node_id in nodes:
        nodes.remove(local_node_id)
        nodes.insert(0, local_node_id)
    return nodes


@implementer(ITableReplication)
class ShardedReplication:
    """Partitions on the nodes the cluster layout assigns them.

    Reads go to the nodes of the layout's read version (the newest version
    every node reports synced), this node first, then by zone and RTT; writes need a quorum in the
    node set of every active version, so data written during a layout change
    is where either version looks for it, and data from before the change is
    read where it is until it has been synced to the new nodes. Before any layout
    exists, everything is local (the node is being set up).

    :param layout: the node's ``LayoutManager``.
    :param consistency_mode: ``consistent``, ``degraded`` or ``dangerous``.
    :param rtt_of: ``(node id) -> seconds or None``, the ping round trip
        that orders reads among a zone's nodes, or ``None`` (not by RTT).
    :param rtt_generation: ``() -> int`` changing whenever ``rtt_of``'s
        answers may have: read orders are then remembered until it does.
    """

    def __init__(self, layout, local_node_id: bytes, replication_factor: int,
                 consistency_mode: str = "consistent", rtt_of=None, rtt_generation=None):
        self.layout = layout
        self.local_node_id = local_node_id
        self._read_quorum, self._write_quorum = _quorums(replication_factor, consistency_mode)
        self._order = read_order(local_node_id, rtt_of, rtt_generation)

    def read_nodes(self, position_hash):
        version = self.layout.read_version()
        nodes = version.nodes_of(position_hash)
        if not nodes:
            return [self.local_node_id]
        return self._order(nodes, version.roles)

    def write_sets(self, position_hash):
        sets = [list(v.nodes_of(position_hash)) for v in self.layout.active_versions()]
        sets = [s for s in sets if s]
        return sets or [[self.local_node_id]]

    def all_nodes(self, position_hash):
        return list(dict.fromkeys(n for s in self.write_sets(position_hash) for n in s))

    def read_quorum(self):
        return self._read_quorum

    def write_quorum(self):
        return self._write_quorum


@implementer(ITableReplication)
class FullCopyReplication:
    """Every node of the layout holds the whole table (buckets, keys, aliases).

    Reads are local once this node reports the current layout synced; a
    write goes to every node of the current layout and needs all but one of
    them, as Garage's full-copy tables (which are eventually consistent:
    anti-entropy brings the last one up to date). A node that has not synced
    yet (just joined) reads from a quorum that meets every write's.

    :param layout: the node's ``LayoutManager``.
    :param rtt_of: ``(node id) -> seconds or None``, the ping round trip
        that orders reads among a zone's nodes, or ``None`` (not by RTT).
    :param rtt_generation: as for :class:`ShardedReplication`.
    """

    def __init__(self, layout, local_node_id: bytes, rtt_of=None, rtt_generation=None):
        self.layout = layout
        self.local_node_id = local_node_id
        self._order = read_order(local_node_id, rtt_of, rtt_generation)

    def _nodes(self) -> list:
        nodes = sorted(self.layout.current().roles)
        return _local_first(nodes, self.local_node_id) if nodes else [self.local_node_id]

    def read_nodes(self, position_hash):
        # A node that has not yet synced the current layout (one that just
        # joined) does not hold the table yet: it reads from the others.
        if self.layout.synced_locally():
            return [self.local_node_id]
        return self._order(self._nodes(), self.layout.current().roles)

    def write_sets(self, position_hash):
        return [self._nodes()]

    def all_nodes(self, position_hash):
        return self._nodes()

    def read_quorum(self):
        if self.layout.synced_locally():
            return 1
        # Intersects every write quorum (all nodes but one).
        return len(self._nodes()) - self.write_quorum() + 1

    def write_quorum(self):
        count = len(self._nodes())
        return count - 1 if count > 1 else 1
