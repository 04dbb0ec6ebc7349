"""A small object in one round trip: every piece to every replica in one message.

A block-backed PutObject normally takes two round trips: the data and its
rows, then the *complete* object entry (``api/s3/put.py``), so that a
complete version is never visible where its data is not durable. When the
object entry, the version, the block's references and the block all live on
the same node set, this node among them, and the write quorum is at most
two (every cluster of three nodes with replication factor 3, the setup of
most small associations, and single nodes), one round trip keeps that
invariant:

1. this node stores the version, the references and the block;
2. it sends ``[hash, block, version, references, complete entry]`` to the
   other nodes of the set (``object/put_small``); each stores the rows, then
   the block (hash checked), then the complete entry, and answers its
   object entry after the merge;
3. once ``write quorum - 1`` of them answered, this node stores the complete
   entry too: the write is acknowledged.

A node makes the complete entry visible only after it holds every piece
itself, and the sender held them all before sending: wherever the entry is
visible, the data is on at least two nodes, the write quorum. The merged
answers tell, as ``Table.insert_and_read`` does, whether a newer version
exists (the caller then moves the upload above it).

If the quorum is not reached, the caller aborts the version and deletes its
rows; a node that did store the entry then sees it aborted by the merge.
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_NORMAL, Reply
from garage_twisted.rpc.quorum import try_call_many
from garage_twisted.table.data import update_tables

PATH = "object/put_small"
TIMEOUT = 30.0
# Blocks at most this large travel inside the message (not as a stream).
MAX_SMALL = 64 * 1024


class SmallObjectWriter:
    """Writes and serves one-message small objects.

    :param model: the node's :class:`~garage_twisted.model.garage.GarageModel`.
    :param replicator: the block manager's ``BlockReplicator``.
    :param network: the node's ``Network`` (``object/put_small`` is served).
    :param write_quorum: the sharded tables' write quorum.
    """

    log = Logger()

    def __init__(self, model, replicator, network, write_quorum: int):
        self.model = model
        self.block_manager = model.block_manager
        self.replicator = replicator
        self.network = network
        self.node_id = network.node_id
        self.write_quorum = write_quorum
        network.register(PATH, lambda call: defer.ensureDeferred(self._serve(call)))

    def node_set(self, bucket_id: bytes, version_uuid: bytes):
        """The one node set holding the object's entry and its version, if
        there is one, this node is in it and the write quorum is at most
        two; else ``None`` (two round trips). Checked before the block is
        hashed: in larger clusters it usually fails."""
        if self.write_quorum > 2:
            return None
        model = self.model
        nodes = _single_set(model.object_table.replication.write_sets(bucket_id))
        if nodes is None or nodes != _single_set(
                model.version_table.replication.write_sets(version_uuid)):
            return None
        if self.node_id not in nodes or len(nodes) < self.write_quorum:
            return None
        return sorted(nodes)

    def holds_block(self, nodes, block_hash: bytes) -> bool:
        """Whether the block and its references live on ``nodes`` too."""
        wanted = frozenset(nodes)
        return _single_set(self.model.block_ref_table.replication.write_sets(block_hash)) \
            == wanted and _single_set(self.replicator.write_sets(block_hash)) == wanted

    async def put(self, nodes, entry, version, refs, block_hash: bytes, stored: bytes):
        """Store a small object on ``nodes`` (from :meth:`node_set`, checked
        with :meth:`holds_block`).

        :param entry: the ``Object`` with the complete version.
        :returns: the object entry merged over the answers.
        :raises QuorumError: fewer than the write quorum stored it.
        """
        model = self.model
        # References before the block (no deletion delay to arm), the
        # block before the entry.
        update_tables([(model.version_table.data, [version]),
                       (model.block_ref_table.data, refs)])
        await self.block_manager.put_local(block_hash, stored)
        others = [n for n in nodes if n != self.node_id]
        message = None if not others else \
            [block_hash, stored, version.encode(), [r.encode() for r in refs], entry.encode()]

        budget = self.replicator.ram_buffer \
            if others and len(others) >= self.write_quorum - 1 else None
        size = len(stored)
        # The block's bytes, held by the calls until the last one ended
        # (block_ram_buffer_max, as a block write holds them: a hung or slow
        # replica must not pile small objects up in memory either).
        calls_left = [len(others)]

        def ended(result):
            calls_left[0] -= 1
            if calls_left[0] == 0:
                budget.release(size)
            return result

        def call(node, path, message):
            d = self.network.call(node, path, message, priority=PRIO_NORMAL,
                                  timeout=TIMEOUT)
            return d if budget is None else d.addBoth(ended)

        if budget is not None:
            await budget.acquire(size)
        replies = await try_call_many(call, others, PATH, message, self.write_quorum - 1)
        table = model.object_table
        table.data.update_entries([entry])
        seen = table.data.read_entry(entry.partition_hash(), entry.sort_key())
        for _, reply in replies:
            if reply.message is not None:
                seen = seen.merge(table.schema.decode_entry(bytes(reply.message)))
        return seen

    async def _serve(self, call) -> Reply:
        model = self.model
        try:
            block_hash, stored, version_raw, ref_raws, entry_raw = call.message
            block_hash, stored = bytes(block_hash), bytes(stored)
            if len(stored) > MAX_SMALL:
                raise ValueError("block too large")
            version = model.version_table.schema.decode_entry(bytes(version_raw))
            refs = [model.block_ref_table.schema.decode_entry(bytes(r)) for r in ref_raws]
            entry = model.object_table.schema.decode_entry(bytes(entry_raw))
        except Exception as e:
            raise RpcError("BadRequest", f"put_small: {e}") from None
        # Rows, then the block, then the entry: the entry is never here
        # without its data.
        update_tables([(model.version_table.data, [version]),
                       (model.block_ref_table.data, refs)])
        await self.block_manager.put_local(block_hash, stored, verify=True)
        model.object_table.data.update_entries([entry])
        return Reply(model.object_table.data.read_raw(entry.partition_hash(), entry.sort_key()))


def _single_set(sets):
    """The node set of a position, or ``None`` while a layout change keeps
    several versions active."""
    return frozenset(sets[0]) if len(sets) == 1 and sets[0] else None
