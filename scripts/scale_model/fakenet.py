"""An in-memory full mesh on a virtual clock, counting what the wire would carry.

:class:`Mesh` links :class:`Endpoint` objects (one per node) that provide
what the project's services use of ``Network``: ``node_id``,
``connections``, ``register``, ``call``, ``on_connected``,
``on_disconnected``. A call is encoded to CBOR as the real multiplexer
encodes its head, delivered after the link's one-way latency
(``latency(a, b)``), decoded, handed to the handler, and its answer comes
back the same way. Handlers run one after another on the clock, as on a
node's reactor; the CPU they take is not on the clock (it is measured apart).

Wire bytes count what ``net/mux.py`` and ``net/secure.py`` would send: the
request head ``[priority, path, message, has_stream]`` or the response head
``[message, has_stream]``, cut into frames of at most ``CHUNK`` bytes, each
with a 6-byte frame header, a 16-byte AEAD tag and a 2-byte length. TCP/IP
headers are not counted.
"""

import heapq
import itertools
from collections import Counter

from twisted.internet import defer

from garage_twisted.net.errors import RpcError
from garage_twisted.net.flow import CHUNK
from garage_twisted.net.mux import IncomingCall, PRIO_NORMAL, Reply
from garage_twisted.net.network import reply_locally
from garage_twisted.util import codec

FRAME_OVERHEAD = 6 + 16 + 2


def wire_bytes(head_length: int) -> int:
    """Bytes on the wire for a head of ``head_length`` bytes."""
    frames = max(1, -(-head_length // CHUNK))
    return head_length + frames * FRAME_OVERHEAD


class EventClock:
    """A virtual clock for many events: a heap instead of Clock's sorted list.

    ``twisted.internet.task.Clock`` re-sorts its whole list on every
    ``callLater``, too slow for 10^5 messages in flight. This one keeps the
    same order (time, then scheduling order) and the part of
    ``IReactorTime`` the services used here need: ``seconds``,
    ``callLater`` (its result has ``cancel``/``active``).
    """

    def __init__(self, start: float = 0.0):
        self.now = start
        self._heap = []
        self._seq = itertools.count()

    def seconds(self) -> float:
        return self.now

    def callLater(self, delay, f, *args, **kwargs):
        call = _Delayed(self.now + delay, f, args, kwargs)
        heapq.heappush(self._heap, (call.time, next(self._seq), call))
        return call

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Run events in order (up to ``until``); returns how many ran."""
        ran = 0
        heap = self._heap
        while heap and (until is None or heap[0][0] <= until):
            when, _, call = heapq.heappop(heap)
            if call.cancelled:
                continue
            self.now = max(self.now, when)
            call.called = True
            call.f(*call.args, **call.kwargs)
            ran += 1
            if max_events is not None and ran >= max_events:
                break
        if until is not None and (not heap or heap[0][0] > until):
            self.now = max(self.now, until)
        return ran

    def pending(self) -> int:
        return sum(1 for _, _, c in self._heap if not c.cancelled)


class _Delayed:
    __slots__ = ("time", "f", "args", "kwargs", "cancelled", "called")

    def __init__(self, time, f, args, kwargs):
        self.time, self.f, self.args, self.kwargs = time, f, args, kwargs
        self.cancelled = self.called = False

    def cancel(self):
        self.cancelled = True

    def active(self):
        return not (self.cancelled or self.called)

    def getTime(self):
        return self.time


class Mesh:
    """Every node connected to every other, with per-link latency.

    :param clock: an :class:`EventClock` (or a Clock).
    :param latency: ``latency(i, j)``: one-way seconds between node indexes.
    """

    def __init__(self, clock, latency):
        self.clock = clock
        self.latency = latency
        self.endpoints: dict[bytes, "Endpoint"] = {}
        self.order: dict[bytes, int] = {}
        self.calls = Counter()  # path -> calls
        self.bytes = Counter()  # path -> wire bytes, both directions
        self.sent_by = Counter()  # node id -> wire bytes sent
        self.received_by = Counter()  # node id -> wire bytes received

    def endpoint(self, node_id: bytes) -> "Endpoint":
        ep = Endpoint(self, node_id)
        self.order[node_id] = len(self.order)
        self.endpoints[node_id] = ep
        return ep

    def connect_all(self) -> None:
        """Tell every endpoint about every other one (``on_connected``)."""
        for ep in self.endpoints.values():
            for other in self.endpoints:
                if other != ep.node_id:
                    ep.connections[other] = True
        for ep in self.endpoints.values():
            for other in list(ep.connections):
                for callback in list(ep.on_connected):
                    callback(other)

    def delay(self, a: bytes, b: bytes) -> float:
        return self.latency(self.order[a], self.order[b])

    def count(self, path: str, src: bytes, dst: bytes, size: int) -> None:
        self.bytes[path] += size
        self.sent_by[src] += size
        self.received_by[dst] += size

    def reset_counters(self) -> None:
        for counter in (self.calls, self.bytes, self.sent_by, self.received_by):
            counter.clear()


class Endpoint:
    """One node's view of the mesh (the part of ``Network`` services use)."""

    def __init__(self, mesh: Mesh, node_id: bytes):
        self.mesh = mesh
        self.node_id = node_id
        self.endpoints = {}
        self.connections: dict[bytes, bool] = {}
        self.on_connected = []
        self.on_disconnected = []

    @property
    def clock(self):
        return self.mesh.clock

    def register(self, path: str, handler) -> None:
        if path in self.endpoints:
            raise ValueError(f"endpoint {path!r} registered twice")
        self.endpoints[path] = handler

    def _handle(self, caller: bytes, path: str, message, priority: int) -> defer.Deferred:
        handler = self.endpoints.get(path)

        def run():
            if handler is None:
                raise RpcError("NoSuchEndpoint", f"no endpoint {path!r}")
            return handler(IncomingCall(path, message, priority, None, caller))

        return reply_locally(run, path)

    def call(self, node_id: bytes, path: str, message=None, priority: int = PRIO_NORMAL,
             stream=None, timeout: float | None = None) -> defer.Deferred:
        if stream is not None:
            raise NotImplementedError("the scale model carries no bodies")
        if node_id == self.node_id:
            return self._handle(node_id, path, message, priority)
        mesh = self.mesh
        target = mesh.endpoints[node_id]
        mesh.calls[path] += 1
        head = codec.dumps([priority, path, message, False])
        mesh.count(path, self.node_id, node_id, wire_bytes(len(head)))
        delay = mesh.delay(self.node_id, node_id)
        result = defer.Deferred()

        def deliver():
            _, _, decoded, _ = codec.loads(head)
            d = target._handle(self.node_id, path, decoded, priority)
            d.addCallbacks(answer, failed)

        def answer(reply):
            raw = codec.dumps([reply.message, False])
            mesh.count(path, node_id, self.node_id, wire_bytes(len(raw)))
            mesh.clock.callLater(delay, lambda: result.callback(Reply(codec.loads(raw)[0])))

        def failed(failure):
            mesh.count(path, node_id, self.node_id, wire_bytes(64))
            mesh.clock.callLater(delay, result.errback, failure)

        mesh.clock.callLater(delay, deliver)
        return result
