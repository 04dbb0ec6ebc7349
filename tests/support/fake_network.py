"""An in-memory twin of the peer network, with faults, for fast cluster tests.

:class:`FakeHub` links :class:`FakeNetwork` instances (one per node) on a
``Clock``. A call crosses the hub as CBOR (encoded and decoded, as on the
wire) and is delivered after the hub's delay; the hub can cut the link
between two nodes (calls fail with ``PeerDisconnected``, as a closed
connection), drop a fraction of calls, or make a node hang (its calls fail
with ``CallTimeout`` when their timeout expires, never earlier).

``FakeNetwork`` provides :class:`~garage_twisted.net.interfaces.IPeerNetwork`,
as ``Network`` does (``tests/unit/net/test_peer_network_interface.py`` runs
the same behaviours against both): ``node_id``, ``connections`` (the peers
reachable now), ``on_connected`` / ``on_disconnected`` (called when a link
comes or goes: a node joining the hub, :meth:`FakeHub.partition`,
:meth:`FakeHub.isolate`, :meth:`FakeHub.heal`; a hung node stays connected),
``register`` and ``call``. Bodies (``stream``) are not carried: block
transfer is tested on the real network.
"""

import random

from twisted.internet import defer
from zope.interface import implementer

from garage_twisted.net.interfaces import IPeerNetwork
from garage_twisted.net.errors import CallTimeout, PeerDisconnected, RpcError
from garage_twisted.net.mux import IncomingCall, PRIO_NORMAL, Reply
from garage_twisted.net.network import reply_locally
from garage_twisted.util import codec


class FakeHub:
    """The links between fake nodes, and the faults on them.

    :param clock: a ``twisted.internet.task.Clock``.
    :param delay: one-way delay of every call, in seconds.
    :param seed: seed of the drop decisions.
    """

    def __init__(self, clock, delay: float = 0.001, seed: int = 0):
        self.clock = clock
        self.delay = delay
        self.drop_rate = 0.0
        self.random = random.Random(seed)
        self.networks: dict[bytes, "FakeNetwork"] = {}
        self.cut: set[frozenset] = set()
        self.hung: set[bytes] = set()
        self.calls = 0
        self.failed = 0

    def network(self, node_id: bytes) -> "FakeNetwork":
        net = FakeNetwork(self, node_id)
        self.networks[node_id] = net
        for other in list(self.networks):
            if other != node_id and self.linked(node_id, other):
                self._notify(node_id, other, "on_connected")
        return net

    def _notify(self, a: bytes, b: bytes, event: str) -> None:
        for this, that in ((a, b), (b, a)):
            for callback in list(getattr(self.networks[this], event)):
                callback(that)

    def partition(self, a: bytes, b: bytes) -> None:
        link = frozenset((a, b))
        if link in self.cut:
            return
        self.cut.add(link)
        if a in self.networks and b in self.networks:
            self._notify(a, b, "on_disconnected")

    def isolate(self, node: bytes) -> None:
        for other in self.networks:
            if other != node:
                self.partition(node, other)

    def heal(self) -> None:
        restored, self.cut = self.cut, set()
        self.hung.clear()
        self.drop_rate = 0.0
        for link in restored:
            a, b = tuple(link) if len(link) == 2 else (None, None)
            if a in self.networks and b in self.networks:
                self._notify(a, b, "on_connected")

    def linked(self, a: bytes, b: bytes) -> bool:
        return frozenset((a, b)) not in self.cut


@implementer(IPeerNetwork)
class FakeNetwork:
    """One node's view of the hub."""

    def __init__(self, hub: FakeHub, node_id: bytes):
        self.hub = hub
        self.node_id = node_id
        self.endpoints = {}
        self.on_connected = []
        self.on_disconnected = []

    @property
    def connections(self) -> dict:
        return {n: True for n in self.hub.networks
                if n != self.node_id and self.hub.linked(self.node_id, n)}

    def register(self, path: str, handler) -> None:
        if path in self.endpoints:
            raise ValueError(f"endpoint {path!r} registered twice")
        self.endpoints[path] = handler

    def _handle(self, caller: bytes, path: str, message) -> defer.Deferred:
        handler = self.endpoints.get(path)
        incoming = IncomingCall(path, message, 0, None, caller)

        def run():
            if handler is None:
                raise RpcError("NoSuchEndpoint", f"no endpoint {path!r}")
            return handler(incoming)

        return reply_locally(run, path)

    def call(self, node_id: bytes, path: str, message=None, priority: int = PRIO_NORMAL,
             stream=None, timeout: float | None = None) -> defer.Deferred:
        if stream is not None:
            raise NotImplementedError("the fake network carries no bodies")
        hub = self.hub
        if node_id == self.node_id:
            return self._handle(node_id, path, message)
        hub.calls += 1
        target = hub.networks.get(node_id)
        if target is None or not hub.linked(self.node_id, node_id):
            hub.failed += 1
            return defer.fail(PeerDisconnected(f"not connected to {node_id.hex()[:8]}"))
        if hub.drop_rate and hub.random.random() < hub.drop_rate:
            hub.failed += 1
            return defer.fail(PeerDisconnected("connection reset (dropped by the hub)"))
        result = defer.Deferred()
        if node_id in hub.hung or self.node_id in hub.hung:
            hub.failed += 1
            hub.clock.callLater(timeout or 30.0, result.errback,
                                CallTimeout(f"{path}: no answer within {timeout} s"))
            return result
        wire = codec.dumps(message)

        def deliver():
            if not hub.linked(self.node_id, node_id):
                result.errback(PeerDisconnected("connection lost"))
                return
            d = target._handle(self.node_id, path, codec.loads(wire))
            d.addCallbacks(answer, lambda f: hub.clock.callLater(hub.delay, result.errback, f))

        def answer(reply):
            raw = codec.dumps(reply.message)
            hub.clock.callLater(hub.delay, result.callback, Reply(codec.loads(raw)))

        hub.clock.callLater(hub.delay, deliver)
        return result
