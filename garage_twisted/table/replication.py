"""Replication strategies that need no other node.

:class:`LocalReplication` places every partition on the local node: it is
what a single-node cluster (``replication_factor = 1``, one storage node)
uses, for sharded and full-copy tables alike. The quorum-based strategies
over the cluster layout implement the same
:class:`~garage_twisted.table.interfaces.ITableReplication`.
"""

from zope.interface import implementer

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

    def read_quorum(self):
        return 1

    def write_quorum(self):
        return 1
