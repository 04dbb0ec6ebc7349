"""Blocks on the nodes the layout assigns them: writes at quorum, reads with fallback.

A block lives on the nodes of its hash's partition (every active layout
version's, while data moves). :class:`BlockReplicator` writes a block to all
of them and returns once each version's node set has its write quorum (the
rest completes in the background); it reads from this node first if it holds
the partition, then from the others in turn (then from any other connected
node: a block may stay on its old nodes until its new ones fetched it after
a layout change), until one returns bytes that match the hash. Reads are
hedged: a node that has not started to answer within a delay derived from
its ping round trip is not waited for, the next one is asked too. Block bytes
travel as the body stream of an RPC, never pickled. A receiver does not
hash them again: the sender named the block from these bytes and the
channel's AEAD proves they arrived as sent; every read checks the hash.
A node asked for a block whose copy it finds corrupt answers
``CorruptBlock`` (its copy set aside and queued for resync by the block
manager) and the caller asks the next node, as it does for this node's own
corrupt copy.

Before this node deletes a block it no longer references (its references
moved to the block's new nodes after a layout change, or the object was
deleted), :meth:`BlockReplicator.hand_over` asks every other node of the
block whether it needs it (references it, lacks the file) and sends it to
those that do; the deletion waits until all of them answered.

Endpoints: ``block/put`` (message ``[hash]``, body = the block's plain
bytes, compressed by the receiver as it likes; or ``[hash, compressed]``,
body = the block in the stored form the sender chose, written as it comes),
``block/get`` (message ``[hash, size or None]``, answer body = the
plain bytes) and ``block/need`` (message ``[hash]``, answer: bool).
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from garage_twisted.block.data import DataBlock, Pieces, hash_matches
from garage_twisted.block.errors import BlockError, CorruptBlock, MissingBlock
from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_NORMAL, Reply
from garage_twisted.rpc.preference import read_order
from garage_twisted.rpc.quorum import try_write_many_sets

PUT_PATH = "block/put"
GET_PATH = "block/get"
NEED_PATH = "block/need"
TIMEOUT = 60.0
# A block body is at most the block size; anything larger is refused.
MAX_BLOCK = 64 * 1024 * 1024
# Blocks larger than this are hashed in the I/O pool rather than inline.
SMALL_HASH = 64 * 1024
# Hedged reads (BlockReplicator._get): a disk's allowance to find and start
# reading a block (an old spinning disk seeks in ~15 ms, and a busy one
# queues); a remote node also gets this many ping round trips; a node whose
# RTT is not known yet, this long.
HEDGE_LOCAL = 0.15
HEDGE_RTTS = 4
HEDGE_DEFAULT = 0.5
# ... and never less than this many times the node's usual time to start
# answering (a moving average): a node slow because the whole machine is
# busy is not raced, which would only add work where there is too much.
HEDGE_SLOWER = 4
LATENCY_WEIGHT = 0.2
# Hedged reads running at once, at most: past it, a late read waits (and is
# hedged once one ends), so hedging cannot multiply an overload.
MAX_HEDGES = 4


class _ThenFailed(Exception):
    """A block read's ``then`` raised (the original is ``__cause__``): the
    bytes were good, so the read does not move on to another node."""


def _guarded(then):
    if then is None:
        return None

    def guarded(data):
        try:
            return then(data)
        except Exception as e:
            raise _ThenFailed() from e
    return guarded


def _checked(data: bytes, hash_: bytes, then):
    """``then(data)`` once ``data`` is checked to be the block ``hash_``."""
    if not hash_matches(data, hash_):
        raise CorruptBlock(f"node sent bytes that do not match {hash_.hex()}")
    return data if then is None else _guarded(then)(data)


class _HedgedRead:
    """One hedged block read: ask the first node; ask the next at once when
    one fails, and also when one has not started to answer within its
    ``hedge_delay`` (a hung node costs that delay, not the call's whole
    timeout). The first good copy fires the Deferred :meth:`start` gave;
    the reads still running are cancelled; cancelling that Deferred stops
    everything.

    Invariant: once the caller's Deferred has fired, this object holds no
    reference to it. Its timers and read callbacks refer back to it, and
    so does the Deferred's canceller: holding the Deferred (and so its
    MiB of block) as well would leave every block in a reference cycle,
    freed only when the cyclic collector runs (GETs of 64 MiB objects on
    three nodes held 300 MB that way).
    """

    def __init__(self, replicator, hash_: bytes, size, then, nodes):
        self.replicator = replicator
        self.clock = replicator.manager.clock
        self.hash = hash_
        self.size = size
        self.then = then
        self.waiting = list(reversed(nodes))
        self.running, self.timers, self.errors = {}, {}, []
        # The caller's Deferred, until it fires (then None: class docstring).
        self._pending = defer.Deferred(self._cancel)

    def start(self) -> defer.Deferred:
        """Ask the first node; the Deferred of the block's bytes."""
        result = self._pending
        self._start_next()
        return result

    def _fire(self, value) -> None:
        result = self._pending
        self._stop_all()
        if isinstance(value, Failure):
            result.errback(value)
        else:
            result.callback(value)

    def _cancel(self, result) -> None:
        # The reader went away (a client that disconnected).
        self._stop_all()

    def _stop_all(self) -> None:
        """Drop the caller's Deferred; stop every timer and running read;
        ask no other node."""
        self._pending = None
        self.waiting.clear()
        for node in list(self.timers):
            self._stop_timer(node)
        for d in list(self.running.values()):
            d.cancel()

    def _stop_timer(self, node) -> None:
        timer = self.timers.pop(node, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _hedge(self, node) -> None:
        self.timers.pop(node, None)
        if self._pending is None or not self.waiting or node not in self.running:
            return
        replicator = self.replicator
        if replicator.hedges_running >= MAX_HEDGES:
            self.timers[node] = self.clock.callLater(replicator.hedge_delay(node),
                                                     self._hedge, node)
            return
        replicator.hedged += 1
        replicator.hedges_running += 1
        self._start_next().addBoth(self._hedge_done)

    def _hedge_done(self, passthrough):
        self.replicator.hedges_running -= 1
        return passthrough

    def _start_next(self) -> defer.Deferred:
        node = self.waiting.pop()
        sent = self.clock.seconds()

        def started():
            self._stop_timer(node)
            self.replicator._observe_start(node, self.clock.seconds() - sent)
        d = defer.ensureDeferred(self.replicator._read_from(node, self.hash, self.size,
                                                            self.then, started))
        if not d.called:
            self.running[node] = d
            if self.waiting:
                self.timers[node] = self.clock.callLater(
                    self.replicator.hedge_delay(node), self._hedge, node)
        d.addCallbacks(self._succeeded, self._failed, callbackArgs=(node,),
                       errbackArgs=(node,))
        return d

    def _succeeded(self, data, node) -> None:
        self.running.pop(node, None)
        if self._pending is not None:
            self._fire(data)

    def _failed(self, failure, node) -> None:
        self.running.pop(node, None)
        self._stop_timer(node)
        if self._pending is None:
            return  # a read cancelled, or beaten by another
        if failure.check(_ThenFailed):
            # Good bytes that ``then`` refused (a key that does not decrypt
            # them): no other node's copy would do better.
            self._fire(Failure(failure.value.__cause__))
            return
        self.errors.append(f"{node.hex()[:16]}: {failure.getErrorMessage()}")
        if self.waiting:
            self._start_next()
        elif not self.running:
            self._fire(Failure(MissingBlock(
                f"block {self.hash.hex()} is on none of its nodes: " + "; ".join(self.errors))))


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
    :param rtt_of: ``(node id) -> seconds or None``, the ping round trip
        that orders reads among a zone's nodes, or ``None`` (not by RTT).
    :param rtt_generation: ``() -> int`` changing whenever ``rtt_of``'s
        answers may have (read orders are remembered until then), or None.
    :param ram_buffer: a :class:`~garage_twisted.util.byte_budget.ByteBudget`
        (``block_ram_buffer_max``): a block write holds its size from before
        its first copy is sent until its last copy is written or has
        failed, the copies that go on after the quorum included; ``None``:
        no limit.
    """

    log = Logger()

    def __init__(self, manager, layout, network, write_quorum: int, rtt_of=None,
                 rtt_generation=None, ram_buffer=None):
        self.manager = manager
        self.layout = layout
        self.network = network
        self.node_id = network.node_id
        self.write_quorum = write_quorum
        self.rtt_of = rtt_of
        self.ram_buffer = ram_buffer
        self._order = read_order(self.node_id, rtt_of, rtt_generation)
        # Reads that asked another node because one was slow to answer.
        self.hedged = 0
        self.hedges_running = 0
        # node id -> moving average of its seconds to start answering.
        self.start_latency = {}
        network.register(PUT_PATH, lambda call: defer.ensureDeferred(self._serve_put(call)))
        network.register(GET_PATH, lambda call: defer.ensureDeferred(self._serve_get(call)))
        network.register(NEED_PATH, lambda call: defer.ensureDeferred(self._serve_need(call)))

    def write_sets(self, hash_: bytes) -> list:
        """The node sets a write of this block goes to (one per active
        layout version)."""
        sets = [list(v.nodes_of(hash_)) for v in self.layout.active_versions()]
        return [s for s in sets if s]

    def only_local(self, hash_: bytes) -> bool:
        """True when this node alone holds the block (or no layout yet)."""
        return all(s == [self.node_id] for s in self.write_sets(hash_))

    # -- serving -------------------------------------------------------------

    async def _serve_put(self, call) -> Reply:
        try:
            hash_, *form = call.message
            hash_ = bytes(hash_)
            if len(form) > 1 or (form and not isinstance(form[0], bool)):
                raise ValueError("bad stored form")
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "block/put takes [hash] or [hash, compressed] "
                           "and a body") from None
        if call.stream is None:
            raise RpcError("BadRequest", "block/put needs the block as its body")
        # Not hashed again here (as Garage): the sender named the block from
        # these very bytes, and the channel's AEAD proves they arrived as
        # sent from a cluster member. Re-hashing cost each replica 1 ms of
        # CPU per MiB. Every read still checks the hash (and falls back to
        # another replica), and the scrub worker re-hashes stored blocks.
        if form:
            # In its stored form: to the store in the pieces it arrived in,
            # copied once into the file's buffer, in the I/O pool.
            parts = await call.stream.read_parts(MAX_BLOCK)
            await self.manager.write_packed(hash_, DataBlock(form[0], Pieces(parts)))
        else:
            await self.manager.put_local(hash_, await call.stream.read_all(MAX_BLOCK))
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
        except CorruptBlock as e:  # set aside and queued for resync by get_local
            raise RpcError("CorruptBlock", str(e)) from None
        return Reply(None, stream=_Bytes(data))

    async def _serve_need(self, call) -> Reply:
        try:
            (hash_,) = call.message
            hash_ = bytes(hash_)
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "block/need takes [hash]") from None
        needed = self.manager.refcount(hash_) > 0 and not (
            await self.manager.store.has_block(hash_))
        return Reply(needed)

    # -- calling ---------------------------------------------------------------

    def _call_put(self, node, hash_, data, compressed=None):
        message = [hash_] if compressed is None else [hash_, compressed]
        return self.network.call(node, PUT_PATH, message, priority=PRIO_NORMAL,
                                 stream=_Bytes(data), timeout=TIMEOUT)

    async def hand_over(self, hash_: bytes) -> int:
        """Send this node's copy to every other node of the block that needs
        it. Raises if one of them cannot be asked or sent to (the caller keeps
        its copy and retries later). Returns how many nodes received it."""
        others = [n for s in self.write_sets(hash_) for n in s if n != self.node_id]
        others = list(dict.fromkeys(others))
        if not others:
            return 0
        answers = await defer.gatherResults(
            [self.network.call(n, NEED_PATH, [hash_], priority=PRIO_NORMAL, timeout=TIMEOUT)
             for n in others], consumeErrors=True)
        needing = [n for n, reply in zip(others, answers) if reply.message]
        if needing:
            data = await self.manager.get_local(hash_)
            await defer.gatherResults([self._call_put(n, hash_, data) for n in needing],
                                      consumeErrors=True)
        return len(needing)

    def put(self, hash_: bytes, data: bytes) -> defer.Deferred:
        """Store the block on its nodes (each compresses it as it likes);
        fires at write quorum in every set."""
        return self._put_everywhere(hash_, len(data),
                                    lambda: self.manager.put_local(hash_, data),
                                    lambda node: self._call_put(node, hash_, data))

    def put_packed(self, hash_: bytes, block: DataBlock) -> defer.Deferred:
        """Store a block in its stored form on its nodes (each writes it as
        it comes); fires at write quorum in every set."""
        return self._put_everywhere(
            hash_, len(block.payload), lambda: self.manager.write_packed(hash_, block),
            lambda node: self._call_put(node, hash_, block.payload, block.compressed))

    def _put_everywhere(self, hash_: bytes, size: int, write_here, send_to) -> defer.Deferred:
        def call(node, path, message):
            return write_here() if node == self.node_id else send_to(node)

        budget = self.ram_buffer
        release = None if budget is None else (lambda: budget.release(size))

        def send(_=None):
            # The sets are read once the budget lets the write go: a layout
            # may have changed while it waited.
            try:
                sets = self.write_sets(hash_)
            except BaseException:
                if release is not None:
                    release()  # no call was made: nothing else gives it back
                raise
            return try_write_many_sets(call, sets, PUT_PATH, [hash_], self.write_quorum,
                                       on_all_done=release)
        if budget is None:
            return send()
        return budget.acquire(size).addCallback(send)

    def _read_order(self, hash_: bytes) -> list:
        read_version = self.layout.read_version()
        nodes = self._order(read_version.nodes_of(hash_), read_version.roles)
        # Then the other versions' nodes (data on the move), newest first.
        nodes += [n for s in reversed(self.write_sets(hash_)) for n in s if n not in nodes]
        # Last resort: a node of an older layout may still hold the block
        # until its new nodes' resync fetched it.
        nodes += [n for n in self.network.connections if n not in nodes]
        return nodes

    def hedge_delay(self, node: bytes) -> float:
        """How long a read waits for ``node`` to start answering before it
        also asks the next node: its own disk's allowance for this node;
        for another, the allowance plus a few ping round trips
        (:data:`HEDGE_DEFAULT` when its RTT is not known yet); and at least
        :data:`HEDGE_SLOWER` times the node's usual time to start."""
        if node == self.node_id:
            base = HEDGE_LOCAL
        else:
            rtt = self.rtt_of(node) if self.rtt_of is not None else None
            base = HEDGE_DEFAULT if rtt is None else HEDGE_LOCAL + HEDGE_RTTS * rtt
        usual = self.start_latency.get(node)
        return base if usual is None else max(base, HEDGE_SLOWER * usual)

    def _observe_start(self, node: bytes, seconds: float) -> None:
        usual = self.start_latency.get(node)
        self.start_latency[node] = seconds if usual is None else \
            usual + LATENCY_WEIGHT * (seconds - usual)

    async def _read_from(self, node: bytes, hash_: bytes, size, then, started):
        """The block from ``node``, checked and passed through ``then``;
        ``started()`` is called once the node began to answer."""
        if node == self.node_id:
            data = await self.manager.get_local(hash_, size, _guarded(then))
            started()
            return data
        reply = await self.network.call(node, GET_PATH, [hash_, size],
                                        priority=PRIO_NORMAL, timeout=TIMEOUT)
        # The node found the block and streams it: a thin link may take a
        # while now, which is no reason to ask another node.
        started()
        data = bytes(await reply.stream.read_all(MAX_BLOCK))
        # A large block is hashed (and ``then`` applied) in the I/O pool,
        # in one trip, not on the reactor.
        if len(data) <= SMALL_HASH:
            return _checked(data, hash_, then)
        return await self.manager.run_in_thread(_checked, data, hash_, then)

    def _get(self, hash_: bytes, size, then=None) -> defer.Deferred:
        """Hedged read (:class:`_HedgedRead`) of the nodes of :meth:`_read_order`."""
        nodes = self._read_order(hash_)
        if not nodes:
            return defer.fail(BlockError(f"block {hash_.hex()} has no node in the layout"))
        return _HedgedRead(self, hash_, size, then, nodes).start()

    def get(self, hash_: bytes, size=None, then=None) -> defer.Deferred:
        """The block's bytes, from the first of its nodes that has them
        (passed through ``then``: see ``BlockManager.get_block``)."""
        return self._get(hash_, size, then)
