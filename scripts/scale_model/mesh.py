"""The full mesh's cost per node: connections, their memory, ping traffic and CPU.

Measured on real objects over real loopback TCP (the reactor passed in):

- memory of one connection: ``count`` nodes (``Network``) dial one node,
  complete the Noise handshake and answer one call; the ``tracemalloc``
  growth of the process, divided by the ``2 * count`` connection ends
  (each end: the Twisted TCP transport, ``PeerConnection``,
  ``SecureChannel``, ``Mux``), plus one ``PeerInfo`` (what ``Peering``
  keeps per peer). Kernel socket buffers are not Python memory and are not
  counted (a few KB per idle socket).
- a ping exchange at cluster size ``n``: two nodes with the real
  ``Peering`` + ``LayoutGossip`` + ``LayoutManager`` holding the ``n``-node
  layout, each knowing the ``n`` nodes' addresses (so the peer-list hash
  and the layout digest they compute per ping cover ``n`` nodes), ping each
  other; CPU per exchange (both ends, this process) and bytes on the wire
  (Noise messages: length prefix + ciphertext; TCP/IP headers not counted).
  Then again with the layout digest and the peer-list hash computed once
  (what caching them per change would give: the code computes both on
  every ping sent or answered).

Per node and second, with ``PING_INTERVAL`` from ``net/peering.py``: each
node sends ``(n - 1) / PING_INTERVAL`` pings and answers as many.
"""

import gc
import os
import time
import tracemalloc
from collections import deque

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import deferLater

from garage_twisted.db.memory import MemoryStore
from garage_twisted.net.keys import NodeKey
from garage_twisted.net.mux import Reply
from garage_twisted.net.network import Network
from garage_twisted.net.peering import PING_INTERVAL, RTT_SAMPLES, PeerInfo, Peering
from garage_twisted.rpc.layout import LayoutManager
from garage_twisted.rpc.layout_gossip import LayoutGossip

SECRET = bytes(range(32))


async def _settle(reactor, done, limit: float = 30.0):
    deadline = reactor.seconds() + limit
    while not done():
        if reactor.seconds() > deadline:
            raise AssertionError("the loopback connections did not settle")
        await deferLater(reactor, 0.002, lambda: None)


async def connection_memory(reactor, count: int) -> dict:
    """Python memory of one connection end (see the module docstring)."""
    # Every peer dials from 127.0.0.1: lift the per-address handshake cap.
    hub = Network(NodeKey(os.urandom(32)), SECRET, reactor, max_pending=count + 1,
                  max_pending_per_address=count + 1)
    hub.register("echo", lambda call: Reply(call.message))
    peers = [Network(NodeKey(os.urandom(32)), SECRET, reactor) for _ in range(count)]
    for peer in peers:
        peer.register("echo", lambda call: Reply(call.message))
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        hub.server_factory())
    address = port.getHost()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await defer.gatherResults([p.connect(hub.node_id, address.host, address.port)
                                   for p in peers])
        await _settle(reactor, lambda: len(hub.connections) == count)
        # One call each way: the multiplexers have served a call.
        await defer.gatherResults([p.call(hub.node_id, "echo", b"x" * 100) for p in peers])
        await defer.gatherResults([hub.call(p.node_id, "echo", b"x" * 100) for p in peers])
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        info = PeerInfo(peers[0].node_id, "10.0.0.1:3901", time.time(),
                        deque([0.01] * RTT_SAMPLES, maxlen=RTT_SAMPLES), hostname="node-1",
                        version="0.1.0")
        gc.collect()
        mark = tracemalloc.get_traced_memory()[0]
        infos = [PeerInfo(os.urandom(32), f"10.0.{i // 250}.{i % 250}:3901", time.time(),
                          deque([0.01] * RTT_SAMPLES, maxlen=RTT_SAMPLES),
                          hostname=f"node-{i}", version="0.1.0") for i in range(100)]
        gc.collect()
        peer_info = (tracemalloc.get_traced_memory()[0] - mark) / len(infos)
        del info, infos
    finally:
        tracemalloc.stop()
        for network in [hub] + peers:
            await network.close_all()
        await port.stopListening()
    return {
        "connections_measured": count,
        "bytes_per_connection_end": (after - before) / (2 * count),
        "bytes_per_peer_info": peer_info,
    }


class _Counting:
    """Counts the bytes a connection's SecureChannel writes."""

    def __init__(self, connection):
        self.total = 0
        channel = connection.channel
        original = channel.encrypt_parts

        def counting(frame):
            pieces = original(frame)
            self.total += sum(len(p) for p in pieces)
            return pieces

        channel.encrypt_parts = counting


def _stack(reactor, key: NodeKey, state, entries, public: str):
    """Network + LayoutManager (holding ``state``) + Peering + LayoutGossip."""
    network = Network(key, SECRET, reactor)
    manager = LayoutManager(MemoryStore(), state.current.replication_factor, key.node_id,
                            reactor, sync_on_receipt=False)
    manager.state = state
    peering = Peering(network, reactor, None, public_address=public, version="0.1.0")
    for node_id, address in entries:
        peering._learn(node_id, address, persist=False)
    LayoutGossip(manager, network, peering)
    return network, peering, manager


def _memoize(obj, name: str) -> None:
    """Replace ``obj.name()`` by its value now (the what-if of caching it)."""
    value = getattr(obj, name)()
    setattr(obj, name, lambda: value)


async def ping_cost(reactor, state, size: int, pings: int) -> dict:
    """CPU and bytes of one ping exchange between two nodes of a ``size``
    cluster holding ``state`` (see the module docstring)."""
    a_key, b_key = NodeKey(os.urandom(32)), NodeKey(os.urandom(32))
    a_addr, b_addr = "10.0.0.1:3901", "10.0.0.2:3901"
    others = [(os.urandom(32), f"10.1.{i // 250}.{i % 250}:3901") for i in range(size - 2)]
    a, a_peering, a_layout = _stack(reactor, a_key, state,
                                    others + [(b_key.node_id, b_addr)], a_addr)
    b, b_peering, b_layout = _stack(reactor, b_key, state,
                                    others + [(a_key.node_id, a_addr)], b_addr)
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(b.server_factory())
    try:
        where = port.getHost()
        await a.connect(b.node_id, where.host, where.port)
        await _settle(reactor, lambda: a.node_id in b.connections)
        if a_peering.peer_list_hash() != b_peering.peer_list_hash():
            raise AssertionError("the two nodes' peer lists differ: pings would pull lists")
        counters = (_Counting(a.connections[b.node_id]), _Counting(b.connections[a.node_id]))
        await a_peering.ping(b.node_id)  # warm
        sent_before = [c.total for c in counters]
        cpu = time.process_time()
        wall = time.perf_counter()
        for _ in range(pings):
            await a_peering.ping(b.node_id)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        request = (counters[0].total - sent_before[0]) / pings
        reply = (counters[1].total - sent_before[1]) / pings
        status_start = time.process_time()
        for _ in range(pings):
            a_peering._status()
        status = (time.process_time() - status_start) / pings
        # What-if: the layout digest and the peer-list hash computed once per
        # change instead of on every ping (neither changes here).
        for obj, name in ((a_layout, "digest"), (b_layout, "digest"),
                          (a_peering, "peer_list_hash"), (b_peering, "peer_list_hash")):
            _memoize(obj, name)
        cached = time.process_time()
        for _ in range(pings):
            await a_peering.ping(b.node_id)
        cached = (time.process_time() - cached) / pings
    finally:
        await a.close_all()
        await b.close_all()
        await port.stopListening()
    per_second = (size - 1) / PING_INTERVAL
    exchange_cpu = cpu / pings
    return {
        "ping_interval": PING_INTERVAL,
        "request_bytes": request,
        "reply_bytes": reply,
        "exchange_cpu_seconds": exchange_cpu,
        "status_cpu_seconds": status,
        "exchange_wall_seconds": wall / pings,
        "pings_sent_per_second": per_second,
        "bytes_sent_per_second": per_second * (request + reply),
        "cpu_share_of_a_core": per_second * exchange_cpu,
        "cached_exchange_cpu_seconds": cached,
        "cached_cpu_share_of_a_core": per_second * cached,
    }
