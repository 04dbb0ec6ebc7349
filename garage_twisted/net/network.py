"""The node's peer network: authenticated connections by node id, and named endpoints.

One :class:`Network` per node. Endpoints are registered by path
(``"garage/ping"``, ``"table/object"``...); the same :meth:`Network.call`
reaches a remote node over its connection, or this node itself without the
network (the message object is handed over as is). Connections come from
dialling (:meth:`connect`) or from the listener (:meth:`server_factory`);
either way RPCs then flow in both directions, so a node that can only dial
out (behind NAT) still serves calls.

Invariants: at most one connection per peer is kept: when two nodes dial
each other at once, both keep the one dialled by the node with the smaller
id and close the other. Handlers never see a peer that did not complete the
handshake.

Anybody who can reach the RPC port can open connections without knowing
the cluster secret. Accepted connections still in their handshake are
therefore capped: at most ``MAX_PENDING_HANDSHAKES`` in all and
``MAX_PENDING_PER_ADDRESS`` from one address; beyond that a connection is
closed as soon as it is accepted, and each has ``HANDSHAKE_TIMEOUT``
(``net/connection.py``) to complete. Authenticated peers are not counted:
a handshake flood holds a bounded number of descriptors and never pushes
out a member of the cluster.
"""

from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from garage_twisted.net.connection import PeerConnection
from garage_twisted.net.interfaces import IPeerNetwork
from garage_twisted.net.errors import CallTimeout, PeerDisconnected, RemoteError, RpcError
from garage_twisted.net.mux import IncomingCall, PRIO_NORMAL, Reply
from garage_twisted.util.address_budget import AddressBudget, address_key
from garage_twisted.util.metrics import MetricRecorder

MAX_PENDING_HANDSHAKES = 128
# Nodes of one machine (tests, a dev cluster) dial from one address.
MAX_PENDING_PER_ADDRESS = 32
# Refused connections are logged at most once per this many seconds.
REFUSAL_LOG_INTERVAL = 10.0
# Seconds close_all waits for a graceful close before dropping a connection.
CLOSE_GRACE = 5.0


def reply_locally(run, path: str, log=None) -> defer.Deferred:
    """Deferred[Reply] of ``run()``, a handler called in this process, with
    the errors a remote caller would see: a ``RemoteError`` (or a
    cancellation) as it is; an ``RpcError`` as the ``RemoteError`` of its
    code; anything else a ``RemoteError`` InternalError, logged on ``log``
    if given. Used by the network's calls to its own node, and by the fake
    networks of the tests and the scale model."""

    def as_reply(result):
        return result if isinstance(result, Reply) else Reply(result)

    def as_remote_error(failure):
        if failure.check(RemoteError, defer.CancelledError):
            return failure
        if failure.check(RpcError):
            raise RemoteError(failure.value.code, failure.value.message)
        if log is not None:
            log.failure("local RPC handler for {path} failed", failure, path=path)
        raise RemoteError("InternalError",
                          f"{failure.type.__name__}: {failure.getErrorMessage()}")

    return defer.maybeDeferred(run).addCallbacks(as_reply, as_remote_error)


class _ServerFactory(Factory):
    def __init__(self, network: "Network"):
        self.network = network

    def buildProtocol(self, addr):
        address = str(getattr(addr, "host", ""))
        if not self.network._admit_pending(address):
            return None  # Twisted closes the socket at once
        connection = PeerConnection(self.network)
        self.network._pending[connection] = address
        return self.network._track(connection)


class _DialFactory(Factory):
    def __init__(self, network: "Network", node_id: bytes):
        self.network = network
        self.node_id = node_id

    def buildProtocol(self, addr):
        return self.network._track(PeerConnection(self.network, peer_node_id=self.node_id))


@implementer(IPeerNetwork)
class Network:
    """Peer connections and endpoints of one node.

    :param node_key: the node's :class:`~garage_twisted.net.keys.NodeKey`.
    :param rpc_secret: the cluster's 32-byte secret.
    :param reactor: ``IReactorTCP`` + ``IReactorTime`` (dialling, timeouts).
    """

    log = Logger()

    def __init__(self, node_key, rpc_secret: bytes, reactor,
                 max_pending: int = MAX_PENDING_HANDSHAKES,
                 max_pending_per_address: int = MAX_PENDING_PER_ADDRESS):
        self.node_key = node_key
        self.node_id = node_key.node_id
        self.rpc_secret = rpc_secret
        self.reactor = reactor
        self.clock = reactor
        self.endpoints = {}
        self.connections: dict[bytes, PeerConnection] = {}
        self.on_connected = []
        self.on_disconnected = []
        self._ready_waiters: dict[int, defer.Deferred] = {}
        # Every open connection, authenticated or not.
        self._live: set[PeerConnection] = set()
        # Accepted connections still in their handshake, and their address,
        # counted per host (not per /64: peers may share one).
        self._pending: dict[PeerConnection, str] = {}
        self.pending_budget = AddressBudget(max_pending, max_pending_per_address,
                                            key=address_key)
        self._refusal_logged_at = None
        # Calls to and from other nodes, per endpoint path (a fixed set).
        self.metrics = MetricRecorder()
        self.metrics.counter("rpc_request_counter", "Calls made to other nodes, per endpoint.")
        self.metrics.counter("rpc_error_counter",
                             "Calls to other nodes that failed (not timeouts), per endpoint.")
        self.metrics.counter("rpc_timeout_counter",
                             "Calls to other nodes that timed out, per endpoint.")
        self.metrics.counter("rpc_served_counter", "Calls served to other nodes, per endpoint.")
        self.metrics.histogram("rpc_duration_seconds",
                               "Time until another node answered a call, per endpoint.")
        self.metrics.histogram("rpc_serve_duration_seconds",
                               "Time to serve a call from another node, per endpoint.")

    def _track(self, connection: PeerConnection) -> PeerConnection:
        self._live.add(connection)
        return connection

    @property
    def refused_connections(self) -> int:
        """Connections refused so far for the pending-handshake caps."""
        return self.pending_budget.refused

    def _admit_pending(self, address: str) -> bool:
        budget = self.pending_budget
        if budget.admit(address):
            return True
        now = self.clock.seconds()
        if self._refusal_logged_at is None or \
                now - self._refusal_logged_at >= REFUSAL_LOG_INTERVAL:
            self._refusal_logged_at = now
            self.log.warn(
                "refusing RPC connections beyond {total} pending handshakes ({per_address} "
                "per client): {refused} refused so far, the last from {address}",
                total=budget.total, per_address=budget.per_client,
                refused=budget.refused, address=address)
        return False

    def _handshake_over(self, connection: PeerConnection) -> None:
        address = self._pending.pop(connection, None)
        if address is not None:
            self.pending_budget.release(address)

    # -- endpoints ---------------------------------------------------------

    def register(self, path: str, handler) -> None:
        """``handler(IncomingCall) -> Reply | message | Deferred`` for ``path``."""
        if path in self.endpoints:
            raise ValueError(f"endpoint {path!r} registered twice")
        self.endpoints[path] = handler

    def handle(self, incoming: IncomingCall):
        handler = self.endpoints.get(incoming.path)
        if handler is None:
            raise RpcError("NoSuchEndpoint", f"no endpoint {incoming.path!r} on this node")
        if incoming.peer == self.node_id:
            return handler(incoming)
        labels = (("rpc_endpoint", incoming.path),)
        self.metrics.inc("rpc_served_counter", labels)
        started = self.clock.seconds()
        result = handler(incoming)
        if isinstance(result, defer.Deferred):
            def measured(passthrough):
                self.metrics.observe("rpc_serve_duration_seconds", labels,
                                     self.clock.seconds() - started)
                return passthrough
            return result.addBoth(measured)
        self.metrics.observe("rpc_serve_duration_seconds", labels, self.clock.seconds() - started)
        return result

    def call(self, node_id: bytes, path: str, message=None, priority: int = PRIO_NORMAL,
             stream=None, timeout: float | None = None) -> defer.Deferred:
        """Call ``path`` on ``node_id`` (possibly this node). Deferred[Reply]."""
        if node_id == self.node_id:
            return self._call_self(path, message, priority, stream)
        labels = (("rpc_endpoint", path),)
        self.metrics.inc("rpc_request_counter", labels)
        connection = self.connections.get(node_id)
        if connection is None:
            self.metrics.inc("rpc_error_counter", labels)
            return defer.fail(PeerDisconnected(f"not connected to node {node_id.hex()[:16]}"))
        started = self.clock.seconds()

        def measured(result):
            self.metrics.observe("rpc_duration_seconds", labels, self.clock.seconds() - started)
            if isinstance(result, Failure):
                self.metrics.inc("rpc_timeout_counter" if result.check(CallTimeout)
                                 else "rpc_error_counter", labels)
            return result
        return connection.mux.call(path, message, priority, stream, timeout).addBoth(measured)

    def _call_self(self, path, message, priority, stream) -> defer.Deferred:
        incoming = IncomingCall(path, message, priority, stream, self.node_id)
        return reply_locally(lambda: self.handle(incoming), path, self.log)

    # -- connections ---------------------------------------------------------

    def server_factory(self) -> Factory:
        """Factory for the RPC listener (accepted connections)."""
        return _ServerFactory(self)

    def connect(self, node_id: bytes, host: str, port: int,
                timeout: float = 10.0) -> defer.Deferred:
        """Dial ``node_id`` at ``host:port``. Deferred firing once authenticated."""
        if node_id == self.node_id:
            return defer.fail(ValueError("a node does not dial itself"))
        existing = self.connections.get(node_id)
        if existing is not None:
            return defer.succeed(existing)
        endpoint = HostnameEndpoint(self.reactor, host, port, timeout=timeout)
        ready = defer.Deferred()

        def connected(connection):
            self._ready_waiters[id(connection)] = ready
            return ready

        d = endpoint.connect(_DialFactory(self, node_id))
        d.addCallback(connected)
        return d

    def connection_ready(self, connection: PeerConnection) -> None:
        self._handshake_over(connection)
        node_id = connection.peer_node_id
        existing = self.connections.get(node_id)
        if existing is not None and existing is not connection:
            keep = self._preferred(existing, connection)
            drop = connection if keep is existing else existing
            self.connections[node_id] = keep
            drop.close()
            self._fire_ready(connection, keep)
            return
        self.connections[node_id] = connection
        self.log.info("connected to node {node} ({how})", node=node_id.hex()[:16],
                      how="dialled" if connection.dialled else "accepted")
        self._fire_ready(connection, connection)
        for callback in self.on_connected:
            callback(node_id)

    def _preferred(self, a: PeerConnection, b: PeerConnection) -> PeerConnection:
        # Both ends decide alike: keep the connection the smaller id dialled.
        we_dial = self.node_id < a.peer_node_id
        return a if a.dialled == we_dial else b

    def _fire_ready(self, connection, result) -> None:
        waiter = self._ready_waiters.pop(id(connection), None)
        if waiter is not None:
            waiter.callback(result)

    def connection_lost(self, connection: PeerConnection, reason: str) -> None:
        self._live.discard(connection)
        self._handshake_over(connection)
        waiter = self._ready_waiters.pop(id(connection), None)
        if waiter is not None:
            waiter.errback(PeerDisconnected(f"connection closed before the handshake "
                                            f"completed: {reason}"))
        node_id = connection.peer_node_id
        if node_id is not None and self.connections.get(node_id) is connection:
            del self.connections[node_id]
            self.log.info("disconnected from node {node}: {reason}",
                          node=node_id.hex()[:16], reason=reason)
            for callback in self.on_disconnected:
                callback(node_id)

    def close_all(self) -> defer.Deferred:
        """Close every connection; fires once all are gone. A connection
        still open after ``CLOSE_GRACE`` seconds (its peer reads nothing)
        is dropped, so a hung peer cannot hold up the node's stop."""
        live = list(self._live)
        for connection in live:
            connection.close()
        if not live:
            return defer.succeed([])
        done = defer.DeferredList([c.closed for c in live])

        def drop_the_rest():
            for connection in live:
                if not connection.closed.called:
                    self.log.warn("connection with {peer} not closed after {grace:g} s: "
                                  "dropping it", grace=CLOSE_GRACE,
                                  peer=connection.peer_node_id.hex()[:16]
                                  if connection.peer_node_id else "a peer")
                    connection.abort()
        timer = self.clock.callLater(CLOSE_GRACE, drop_the_rest)

        def cancel(result):
            if timer.active():
                timer.cancel()
            return result
        return done.addBoth(cancel)
