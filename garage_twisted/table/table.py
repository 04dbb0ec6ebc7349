"""The replicated table: quorum reads and writes of CRDT entries.

:class:`Table` is the core object the model layer talks to. It decides which
nodes hold an entry (through its replication strategy) and merges what they
answer. Requests addressed to the local node are served by the local
:class:`~garage_twisted.table.data.TableData` without serialization; requests
to other nodes go through the ``remote`` client
(:class:`~garage_twisted.table.rpc.TableRpc`; absent in unit tests of one
node).

All methods return Deferreds, so callers do not change when the nodes are far.
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.table.data import TableData
from garage_twisted.util.errors import QuorumError


class Table:
    """A replicated table.

    :param data: local storage of this table.
    :param replication: an ``ITableReplication``.
    :param local_node_id: this node's id.
    :param remote: client for other nodes' tables (``TableRpc``), or ``None``.
    """

    log = Logger()

    def __init__(self, data: TableData, replication, local_node_id: bytes, remote=None):
        self.data = data
        self.schema = data.schema
        self.name = data.name
        self.replication = replication
        self.local_node_id = local_node_id
        self.remote = remote
        # Requests made of this table by this node (``/metrics``).
        self.request_counts = {"get": 0, "get_range": 0, "insert": 0}

    def _only_local(self, nodes) -> bool:
        if nodes == [self.local_node_id]:
            return True
        if self.remote is None:
            raise QuorumError(
                f"table {self.name}: nodes {[n.hex()[:16] for n in nodes]} are "
                "not reachable (this node has no peer connections)"
            )
        return False

    def insert(self, entry) -> defer.Deferred:
        """Write ``entry`` (merged with what each replica holds).

        :returns: a Deferred firing once a write quorum acknowledged.
        """
        return self.insert_many([entry])

    def insert_many(self, entries) -> defer.Deferred:
        """Write several entries; one local transaction per node set."""
        entries = list(entries)
        if not entries:
            return defer.succeed(None)
        self.request_counts["insert"] += 1
        try:
            remote = []
            local = []
            for entry in entries:
                sets = self.replication.write_sets(entry.partition_hash())
                if all(self._only_local(s) for s in sets):
                    local.append(entry)
                else:
                    remote.append(entry)
            if local:
                self.data.update_entries(local)
        except Exception:
            return defer.fail()
        if remote:
            return self.remote.insert_many(self, remote)
        return defer.succeed(None)

    def insert_and_read(self, entry) -> defer.Deferred:
        """Write ``entry`` and learn, in the same round trip, what the write
        quorum then holds.

        :returns: a Deferred firing, once a write quorum acknowledged, with
            the merge of the replicas' entries after the write: it includes
            every write acknowledged before this one started.
        """
        self.request_counts["insert"] += 1
        try:
            sets = self.replication.write_sets(entry.partition_hash())
            if all(self._only_local(s) for s in sets):
                self.data.update_entries([entry])
                stored = self.data.read_entry(entry.partition_hash(), entry.sort_key())
                return defer.succeed(stored if stored is not None else entry)
        except Exception:
            return defer.fail()
        return self.remote.insert_and_read(self, entry)

    def queue_insert(self, tx, entry, supersedes: bool = False) -> None:
        """Persist ``entry`` in this table's insert queue, inside ``tx``
        (see :meth:`TableData.queue_insert`)."""
        self.data.queue_insert(tx, entry, supersedes)

    def get(self, partition_hash: bytes, sort_key: bytes) -> defer.Deferred:
        """Read one entry from a read quorum and merge the answers.

        :returns: a Deferred firing with the entry, or ``None``.
        """
        self.request_counts["get"] += 1
        try:
            nodes = self.replication.read_nodes(partition_hash)
            if self._only_local(nodes):
                return defer.succeed(self.data.read_entry(partition_hash, sort_key))
        except Exception:
            return defer.fail()
        return self.remote.get(self, partition_hash, sort_key)

    def get_range(
        self,
        partition_hash: bytes,
        start_sort_key: bytes | None = None,
        entry_filter=None,
        limit: int = 1000,
        reverse: bool = False,
    ) -> defer.Deferred:
        """Read entries of a partition in sort-key order, merged over a quorum.

        :returns: a Deferred firing with a list of at most ``limit`` entries.
        """
        self.request_counts["get_range"] += 1
        try:
            nodes = self.replication.read_nodes(partition_hash)
            if self._only_local(nodes):
                return defer.succeed(
                    self.data.read_range(
                        partition_hash, start_sort_key, entry_filter, limit, reverse
                    )
                )
        except Exception:
            return defer.fail()
        return self.remote.get_range(
            self, partition_hash, start_sort_key, entry_filter, limit, reverse
        )
