"""Per-bucket object counters (objects, bytes, unfinished uploads), for quotas.

All objects of a bucket are in one partition of the object table, so every
node holding that partition sees all of them. Each node keeps its own
counts of the rows it stores (tree ``counter:local``, changed in the same
transaction as the object row, by :meth:`LocalCounts.apply` from the object
table's ``updated()`` hook) and publishes them in the ``counter`` table:
one entry per bucket whose ``values`` map each node id to its last
``[objects, bytes, uploads]``, a last-writer-wins register per node ordered
by that node's own sequence number. Publishing goes through the insert
queue, so a crash between the row and its count loses nothing.

A node holding the bucket's partition reads its own local counts (exact
for its replica at once); another takes, among the nodes that hold the
partition now, the largest published count (a replica that is behind counts
fewer; the counts of nodes that handed the partition over are ignored).
"""

from dataclasses import dataclass

from garage_twisted.table.schema import Entry, TableSchema
from garage_twisted.util import codec
from garage_twisted.util.crdt import LwwMap

OBJECTS, BYTES, UPLOADS = 0, 1, 2


def object_counts(obj) -> list:
    """``[objects, bytes, uploads]`` an object entry accounts for."""
    if obj is None:
        return [0, 0, 0]
    objects = size = uploads = 0
    # Every stored version counts (a versioned bucket keeps several); an
    # unversioned entry holds at most one.
    for version in obj.versions:
        if version.is_data:
            objects += 1
            size += version.data.meta.size
        elif version.is_uploading:
            uploads += 1
    return [objects, size, uploads]


@dataclass(frozen=True)
class BucketCounters(Entry):
    MARKER = b"GT.counter.v1"

    bucket_id: bytes
    values: LwwMap  # node id -> [objects, bytes, uploads]

    def partition_hash(self) -> bytes:
        return self.bucket_id

    def sort_key(self) -> bytes:
        return b""

    def merge(self, other: "BucketCounters") -> "BucketCounters":
        return BucketCounters(self.bucket_id, self.values.merge(other.values))

    def counts(self, nodes) -> list:
        """The largest counts among ``nodes``."""
        out = [0, 0, 0]
        for node in nodes:
            value = self.values.get(node)
            if value is not None:
                out = [max(a, int(b)) for a, b in zip(out, value)]
        return out

    def to_cbor(self):
        return [self.bucket_id, self.values.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "BucketCounters":
        return cls(bytes(raw[0]), LwwMap.from_cbor(raw[1], value_from=list,
                                                   key_from=bytes))


class CounterTableSchema(TableSchema):
    table_name = "counter"
    entry_class = BucketCounters


class LocalCounts:
    """This node's counts, kept with the object rows they count.

    :param kv_store: the node's store (tree ``counter:local``).
    :param node_id: this node's id.
    :param counter_table: the replicated ``counter`` table (insert queue).
    """

    def __init__(self, kv_store, node_id: bytes, counter_table):
        self.tree = kv_store.open_tree("counter:local")
        self.node_id = node_id
        self.counter_table = counter_table

    def read(self, bucket_id: bytes) -> list:
        raw = self.tree.get(bucket_id)
        return [0, 0, 0] if raw is None else list(codec.loads(raw)[0])

    def apply(self, tx, bucket_id: bytes, old, new) -> None:
        before, after = object_counts(old), object_counts(new)
        if before == after:
            return
        raw = tx.get(self.tree, bucket_id)
        counts, seq = ([0, 0, 0], 0) if raw is None else codec.loads(raw)
        counts = [c + a - b for c, a, b in zip(counts, after, before)]
        seq += 1
        tx.insert(self.tree, bucket_id, codec.dumps([counts, seq]))
        # Only this node queues its own counts, each time with a higher
        # sequence number: the new entry supersedes the queued one.
        self.counter_table.queue_insert(tx, BucketCounters(
            bucket_id, LwwMap({self.node_id: (seq, counts)})), supersedes=True)
