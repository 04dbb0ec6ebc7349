"""The model's composition: every table of the node, wired together.

:class:`GarageModel` builds the tables in dependency order (a table's
``updated()`` hook needs the tables it cascades into), exposes them by name,
and lists the background workers that keep them consistent. It does no I/O
of its own beyond opening trees of the given store.
"""

from garage_twisted.block.manager import BlockDeleter, BlockManager, BlockResyncer
from garage_twisted.model.admin_token import AdminTokenTableSchema
from garage_twisted.model.block_ref import BlockRefTableSchema
from garage_twisted.model.bucket import BucketAliasTableSchema, BucketTableSchema
from garage_twisted.model.counter import CounterTableSchema, LocalCounts
from garage_twisted.model.key import KeyTableSchema
from garage_twisted.model.mpu import MpuTableSchema
from garage_twisted.model.object import ObjectTableSchema
from garage_twisted.model.version import VersionTableSchema
from garage_twisted.table.data import TableData
from garage_twisted.table.merkle import MerkleUpdater
from garage_twisted.table.queue import InsertQueueWorker
from garage_twisted.table.table import Table


class GarageModel:
    """The S3 data model of one node.

    :param kv_store: the node's ``IKeyValueStore``.
    :param block_manager: the node's :class:`BlockManager`.
    :param local_node_id: this node's id.
    :param sharded: ``ITableReplication`` for object, version, block_ref.
    :param full_copy: ``ITableReplication`` for bucket, bucket_alias, key,
        admin_token.
    :param clock: ``IReactorTime`` for timestamps.
    :param remote: every table's client for other nodes' tables
        (:class:`~garage_twisted.table.rpc.TableRpc`), or ``None`` (one node).
    """

    def __init__(self, kv_store, block_manager: BlockManager, local_node_id: bytes,
                 sharded, full_copy, clock, remote=None):
        self.kv_store = kv_store
        self.block_manager = block_manager
        self.local_node_id = local_node_id
        self.clock = clock

        def table(schema, replication, cache_rows=False):
            return Table(TableData(schema, kv_store, cache_rows, clock), replication,
                         local_node_id, remote)

        self.block_ref_table = table(BlockRefTableSchema(block_manager), sharded)
        self.version_table = table(VersionTableSchema(self.block_ref_table), sharded)
        self.mpu_table = table(MpuTableSchema(self.version_table), sharded)
        # Counters live with the objects they count (same partition: the
        # bucket id), and are published through their table's insert queue.
        self.counter_table = table(CounterTableSchema(), sharded)
        self.local_counts = LocalCounts(kv_store, local_node_id, self.counter_table)
        self.object_table = table(
            ObjectTableSchema(self.version_table, self.mpu_table, self.local_counts), sharded)
        # Read on every request, and small: their rows stay in memory.
        self.bucket_table = table(BucketTableSchema(), full_copy, cache_rows=True)
        self.bucket_alias_table = table(BucketAliasTableSchema(), full_copy, cache_rows=True)
        self.key_table = table(KeyTableSchema(), full_copy, cache_rows=True)
        # Read on every admin request with a scoped token.
        self.admin_token_table = table(AdminTokenTableSchema(), full_copy, cache_rows=True)
        self.tables = [
            self.bucket_table, self.bucket_alias_table, self.key_table, self.admin_token_table,
            self.object_table, self.mpu_table, self.version_table, self.block_ref_table,
            self.counter_table,
        ]

    def workers(self, merkle_paused=None) -> list:
        """The background workers this model needs, not yet started.

        :param merkle_paused: ``() -> bool``, True while the Merkle tries
            have no reader (see :class:`MerkleUpdater`).
        """
        workers = []
        for table in self.tables:
            workers.append(MerkleUpdater(table.data, merkle_paused))
            workers.append(InsertQueueWorker(table))
        workers.append(BlockDeleter(self.block_manager))
        workers.append(BlockResyncer(self.block_manager))
        return workers
