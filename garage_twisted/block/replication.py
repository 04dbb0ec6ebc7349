"""Blocks on the nodes the layout assigns them: writes at quorum, reads with fallback.

A block lives on the nodes of its hash's partition (every active layout
version's, while data moves). :class:`BlockReplicator` writes a block to all
of them and returns once each version's node set has its write quorum (the
rest completes in the background); it reads from this node first if it holds
the partition, then from the others in turn, until one returns bytes that
match the hash. Block bytes travel as the body stream of an RPC, never
pickled, and the receiver checks the hash before storing.

Endpoints: ``block/put`` (message ``[hash]``, body = the block's plain
bytes) and ``block/get`` (message ``[hash, size or None]``, answer body = the
plain bytes).
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.block.data import blake2sum
from garage_twisted.block.errors import BlockError, CorruptBlock, MissingBlock
from garage_twisted.net.mux import PRIO_NORMAL, Reply, RpcError
from garage_twisted.rpc.quorum import try_write_many_sets

PUT_PATH = "block/put"
GET_PATH = "block/get"
TIMEOUT = 60.0
# A block body is at most the block size; anything larger is refused.
MAX_BLOCK = 64 * 1024 * 1024


class _Bytes:
    """A body source handing out one bytes object."""

    def __init__(self, data: bytes):
        self._data = data

    def read(self):
        data, self._data = self._data, b""
        return defer.succeed(data)


class BlockReplicator:
    """Block placement over the cluster.

    :param manager: the node's ``BlockManager`` (local store and locks).
    :param layout: the node's ``LayoutManager``.
    :param network: the node's ``Network``.
    :param write_quorum: acknowledgements needed in each node set.
    """

    log = Logger()

    def __init__(self, manager, layout, network, write_quorum: int):
        self.manager = manager
        self.layout = layout
        self.network = network
        self.node_id = network.node_id
        self.write_quorum = write_quorum
        network.register(PUT_PATH, lambda call: defer.ensureDeferred(self._serve_put(call)))
        network.register(GET_PATH, lambda call: defer.ensureDeferred(self._serve_get(call)))

    def _sets(self, hash_: bytes) -> list:
        sets = [list(v.nodes_of(hash_)) for v in self.layout.active_versions()]
        return [s for s in sets if s]

    def only_local(self, hash_: bytes) -> bool:
        """True when this node alone holds the block (or no layout yet)."""
        return all(s == [self.node_id] for s in self._sets(hash_))

    # -- serving -------------------------------------------------------------

    async def _serve_put(self, call) -> Reply:
        try:
            (hash_,) = call.message
            hash_ = bytes(hash_)
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "block/put takes [hash] and a body") from None
        if call.stream is None:
            raise RpcError("BadRequest", "block/put needs the block as its body")
        data = await call.stream.read_all(MAX_BLOCK)
        data = bytes(data)
        if blake2sum(data) != hash_:
            raise RpcError("CorruptBlock", f"block {hash_.hex()} does not match its hash")
        await self.manager.put_local(hash_, data)
        return Reply(None)

    async def _serve_get(self, call) -> Reply:
        try:
            hash_, size = call.message
            hash_ = bytes(hash_)
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "block/get takes [hash, size]") from None
        try:
            data = await self.manager.get_local(hash_, size)
        except MissingBlock as e:
            raise RpcError("MissingBlock", str(e)) from None
        except CorruptBlock as e:
            self.manager.store.quarantine(hash_)
            raise RpcError("CorruptBlock", str(e)) from None
        return Reply(None, stream=_Bytes(data))

    # -- calling ---------------------------------------------------------------

    def put(self, hash_: bytes, data: bytes) -> defer.Deferred:
        """Store the block on its nodes; fires at write quorum in every set."""

        def call(node, path, message):
            if node == self.node_id:
                return self.manager.put_local(hash_, data)
            return self.network.call(node, path, message, priority=PRIO_NORMAL,
                                     stream=_Bytes(data), timeout=TIMEOUT)

        return try_write_many_sets(call, self._sets(hash_), PUT_PATH, [hash_],
                                   self.write_quorum)

    async def _get(self, hash_: bytes, size):
        nodes = list(dict.fromkeys(n for s in reversed(self._sets(hash_)) for n in s))
        if self.node_id in nodes:
            nodes.remove(self.node_id)
            nodes.insert(0, self.node_id)
        errors = []
        for node in nodes:
            try:
                if node == self.node_id:
                    return await self.manager.get_local(hash_, size)
                reply = await self.network.call(node, GET_PATH, [hash_, size],
                                                priority=PRIO_NORMAL, timeout=TIMEOUT)
                data = bytes(await reply.stream.read_all(MAX_BLOCK))
                if blake2sum(data) != hash_:
                    raise CorruptBlock(f"node sent bytes that do not match {hash_.hex()}")
                return data
            except Exception as e:  # next node; all errors reported if none has it
                errors.append(f"{node.hex()[:16]}: {e}")
        raise MissingBlock(f"block {hash_.hex()} is on none of its nodes: " +
                           "; ".join(errors)) if errors else BlockError(
            f"block {hash_.hex()} has no node in the layout")

    def get(self, hash_: bytes, size=None) -> defer.Deferred:
        """The block's bytes, from the first of its nodes that has them."""
        return defer.ensureDeferred(self._get(hash_, size))
