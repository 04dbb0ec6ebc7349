"""A TCP connection to a peer: the Noise handshake, then a :class:`~.mux.Mux`.

Thin glue between Twisted and the sans-IO parts: bytes from the socket go
to the :class:`~.secure.SecureChannel`; once the peer is authenticated each
decrypted message is a frame for the mux, and the mux's frames are
encrypted and written. The connection is the transport's streaming
producer, so TCP backpressure pauses the mux's sending.

Invariants: nothing reaches the mux before the handshake completed; any
handshake or protocol error aborts the connection (logged, with the peer's
address) and nothing it sent is used; a handshake not finished within
``handshake_timeout`` seconds aborts too.
"""

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.net import gather
from garage_twisted.net.errors import ProtocolViolation
from garage_twisted.net.mux import Mux
from garage_twisted.net.noise import NoiseError
from garage_twisted.net.secure import PeerAuthenticated, SecureChannel

HANDSHAKE_TIMEOUT = 10.0
IO_SIZE = 256 * 1024


@implementer(IPushProducer)
class PeerConnection(Protocol):
    """One connection, dialled (``peer_node_id`` given) or accepted.

    :param network: the owner: gives ``node_key``, ``rpc_secret``, ``clock``,
        ``handle(IncomingCall)``, and is told ``connection_ready(conn)`` and
        ``connection_lost(conn, reason)``.
    """

    log = Logger()

    def __init__(self, network, peer_node_id: bytes | None = None,
                 handshake_timeout: float = HANDSHAKE_TIMEOUT):
        self.network = network
        self.dialled = peer_node_id is not None
        key = network.node_key
        self.channel = SecureChannel(key.node_id, key.x25519_private(), network.rpc_secret,
                                     peer_node_id=peer_node_id)
        self.handshake_timeout = handshake_timeout
        self.peer_node_id = peer_node_id
        self.mux = None
        self._writer = None
        self._timer = None
        self._failed = False
        self.closed = defer.Deferred()

    def _peer_text(self) -> str:
        peer = self.transport.getPeer() if self.transport is not None else None
        address = f"{peer.host}:{peer.port}" if peer is not None and hasattr(peer, "host") else "?"
        node = self.peer_node_id.hex()[:16] if self.peer_node_id else "unknown node"
        return f"{node} at {address}"

    def connectionMade(self):
        # Block streams are 64 KiB Noise messages back to back. Twisted
        # reads 64 KiB and sends 128 KiB per system call, one call per
        # reactor turn, and pauses its producer past 64 KiB buffered: at
        # those sizes the turns, not the encryption, bounded a stream. Larger
        # reads and sends take many messages per turn.
        if hasattr(self.transport, "bufferSize"):
            self.transport.bufferSize = IO_SIZE
            self.transport.SEND_LIMIT = IO_SIZE
        # Small RPCs (pings, table reads) must not wait for the peer's
        # delayed ACK: with Nagle on, some pings took 40 ms.
        if hasattr(self.transport, "setTcpNoDelay"):
            self.transport.setTcpNoDelay(True)
        self.transport.registerProducer(self, True)
        self._timer = self.network.clock.callLater(self.handshake_timeout, self._handshake_late)
        if self.dialled:
            self.transport.write(self.channel.start())

    def _handshake_late(self):
        self._timer = None
        self._abort("handshake not completed within "
                    f"{self.handshake_timeout:g} s")

    def _abort(self, why: str) -> None:
        if self._failed:
            return
        self._failed = True
        self.log.warn("peer connection with {peer} refused: {why}",
                      peer=self._peer_text(), why=why)
        self.transport.abortConnection()

    def dataReceived(self, data: bytes):
        if self._failed:
            return
        try:
            out, events = self.channel.receive(data)
        except NoiseError as e:
            self._abort(f"handshake or transport error: {e}")
            return
        if out:
            self.transport.write(out)
        for event in events:
            if self._failed:
                return
            if isinstance(event, PeerAuthenticated):
                self._authenticated(event.node_id)
                continue
            try:
                self.mux.frame_received(event)
            except ProtocolViolation as e:
                self._abort(f"protocol violation: {e}")
                return

    def _authenticated(self, node_id: bytes) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.peer_node_id = node_id
        if gather.supports(self.transport):
            self._writer = gather.GatherWriter(self.transport, self.network.clock, IO_SIZE)
        self.mux = Mux(self._send_frame, self.network.clock, self.network.handle, node_id)
        self.network.connection_ready(self)

    def _send_frame(self, frame: bytes) -> None:
        pieces = self.channel.encrypt_parts(frame)
        if self._writer is not None:
            self._writer.write(pieces)
        else:
            self.transport.writeSequence(pieces)

    # IPushProducer: the transport's buffer fills and drains.
    def pauseProducing(self):
        if self.mux is not None:
            self.mux.pause()

    def resumeProducing(self):
        if self.mux is not None:
            self.mux.resume()

    def stopProducing(self):
        pass

    def connectionLost(self, reason):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._writer is not None:
            self._writer.cancel()
        # The network forgets the connection before calls in flight fail, so
        # their callers already see the peer as disconnected.
        self.network.connection_lost(self, reason.getErrorMessage())
        if self.mux is not None:
            self.mux.connection_lost(reason.getErrorMessage())
        self.closed.callback(None)

    def close(self) -> None:
        """Close once what was written has gone out (a peer that reads
        nothing keeps it open: see :meth:`abort`)."""
        if self._writer is not None:
            self._writer.flush()  # what was written goes out before the close
        self.transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection now, unsent bytes and all: for a peer that
        stopped answering. Its calls in flight fail at once, and what they
        held (block data for a write's last copy) is freed."""
        self.transport.abortConnection()
