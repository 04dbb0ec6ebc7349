"""Peer connections for real: loopback TCP, Noise handshakes, RPC both ways."""

import hashlib
import os

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import TestCase

from garage_twisted.net.keys import NodeKey
from garage_twisted.net.errors import PeerDisconnected, RemoteError
from garage_twisted.net.mux import PRIO_HIGH, Reply
from garage_twisted.net.network import Network
from tests.support.waiting import RepeatedBody

SECRET = bytes(range(32))
MARKER = b"PLAINTEXT-MARKER-" * 4


class _Source:
    def __init__(self, data, piece=50_000):
        self.data, self.piece, self.offset = data, piece, 0

    def read(self):
        chunk = self.data[self.offset:self.offset + self.piece]
        self.offset += len(chunk)
        return defer.succeed(chunk)


class _Recorder(protocol.Protocol):
    """One side of a recording TCP proxy."""

    def __init__(self, log, peer=None):
        self.log, self.peer, self.buffer = log, peer, []

    def connectionMade(self):
        if self.peer is None:
            # Client side of the proxy: dial the real server.
            self.transport.pauseProducing()
            factory = protocol.ClientFactory()
            factory.protocol = lambda: _Recorder(self.log, self)
            reactor.connectTCP("127.0.0.1", self.factory.target, factory)
        else:
            self.peer.peer = self
            self.peer.transport.resumeProducing()

    def dataReceived(self, data):
        self.log.append(data)
        self.peer.transport.write(data)

    def connectionLost(self, reason):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.loseConnection()


class NetworkTests(TestCase):
    def _node(self, secret=SECRET):
        network = Network(NodeKey(os.urandom(32)), secret, reactor)
        network.register("test/echo", lambda call: Reply(["echo", call.message]))
        self.addCleanup(network.close_all)
        return network

    async def _listen(self, network):
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            network.server_factory())
        self.addCleanup(port.stopListening)
        return port.getHost().port

    async def test_call_both_ways_over_one_dialled_connection(self):
        """B never dials A (as if A were behind NAT), yet calls it."""
        a, b = self._node(), self._node()
        port = await self._listen(b)
        await a.connect(b.node_id, "127.0.0.1", port)
        reply = await a.call(b.node_id, "test/echo", {"n": 1})
        self.assertEqual(reply.message, ["echo", {"n": 1}])
        self.assertIn(a.node_id, b.connections)
        reply = await b.call(a.node_id, "test/echo", "back")
        self.assertEqual(reply.message, ["echo", "back"])
        with self.assertRaises(RemoteError) as caught:
            await a.call(b.node_id, "no/such/endpoint")
        self.assertEqual(caught.exception.code, "NoSuchEndpoint")

    async def test_call_to_self_needs_no_network(self):
        a = self._node()
        reply = await a.call(a.node_id, "test/echo", 42)
        self.assertEqual(reply.message, ["echo", 42])
        self.assertEqual(a.connections, {})

    async def test_wrong_secret_exchanges_no_rpc(self):
        served = []
        b = self._node()
        b.register("test/record", lambda call: served.append(call) or Reply("ok"))
        port = await self._listen(b)
        stranger = self._node(secret=bytes(32))
        with self.assertRaises(PeerDisconnected):
            await stranger.connect(b.node_id, "127.0.0.1", port)
        self.assertEqual(served, [])
        self.assertEqual(b.connections, {})
        self.assertEqual(stranger.connections, {})

    async def test_dialled_under_the_wrong_id_exchanges_no_rpc(self):
        b = self._node()
        port = await self._listen(b)
        a = self._node()
        impostor_id = NodeKey(os.urandom(32)).node_id
        with self.assertRaises(PeerDisconnected):
            await a.connect(impostor_id, "127.0.0.1", port)
        self.assertEqual(b.connections, {})
        self.assertEqual(a.connections, {})

    async def test_bytes_on_the_wire_are_not_plaintext(self):
        a, b = self._node(), self._node()
        port = await self._listen(b)
        wire = []
        proxy_factory = protocol.Factory()
        proxy_factory.protocol = lambda: _Recorder(wire)
        proxy_factory.target = port
        proxy = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(proxy_factory)
        self.addCleanup(proxy.stopListening)
        await a.connect(b.node_id, "127.0.0.1", proxy.getHost().port)
        reply = await a.call(b.node_id, "test/echo", MARKER)
        self.assertEqual(reply.message, ["echo", MARKER])
        seen = b"".join(wire)
        self.assertGreater(len(seen), 2 * len(MARKER))
        self.assertNotIn(MARKER, seen)
        self.assertNotIn(b"test/echo", seen)

    async def test_streams_and_priorities_over_tcp(self):
        """A 4 MiB body goes up and comes back while pings keep answering."""
        a, b = self._node(), self._node()

        async def mirror(call):
            body = await call.stream.read_all(8 * 1024 * 1024)
            return Reply(hashlib.sha256(body).hexdigest(), stream=_Source(body))

        b.register("test/mirror", lambda call: defer.ensureDeferred(mirror(call)))
        port = await self._listen(b)
        await a.connect(b.node_id, "127.0.0.1", port)
        data = os.urandom(4 * 1024 * 1024)
        upload = a.call(b.node_id, "test/mirror", stream=_Source(data))
        pings = [a.call(b.node_id, "test/echo", i, priority=PRIO_HIGH) for i in range(5)]
        self.assertEqual([(await p).message for p in pings], [["echo", i] for i in range(5)])
        reply = await upload
        self.assertEqual(reply.message, hashlib.sha256(data).hexdigest())
        self.assertEqual(await reply.stream.read_all(8 * 1024 * 1024), data)

    async def test_lost_connection_fails_calls_in_flight(self):
        a, b = self._node(), self._node()
        b.register("test/hang", lambda call: defer.Deferred())
        port = await self._listen(b)
        connection = await a.connect(b.node_id, "127.0.0.1", port)
        pending = a.call(b.node_id, "test/hang")
        connection.transport.abortConnection()
        with self.assertRaises(PeerDisconnected):
            await pending
        self.assertNotIn(b.node_id, a.connections)


class StreamLatencyTests(TestCase):
    timeout = 120

    async def test_pings_answer_while_256_mib_flow(self):
        """Pings sent while a 256 MiB stream fills the connection answer fast
        (generous bound here; scripts/bench-rpc measures the real figure)."""
        a = Network(NodeKey(os.urandom(32)), SECRET, reactor)
        b = Network(NodeKey(os.urandom(32)), SECRET, reactor)
        self.addCleanup(a.close_all)
        self.addCleanup(b.close_all)
        b.register("test/ping", lambda call: Reply("pong"))
        received = []

        async def sink(call):
            total = 0
            while True:
                data = await call.stream.read()
                if not data:
                    break
                total += len(data)
            received.append(total)
            return Reply(total)

        b.register("test/sink", lambda call: defer.ensureDeferred(sink(call)))
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            b.server_factory())
        self.addCleanup(port.stopListening)
        await a.connect(b.node_id, "127.0.0.1", port.getHost().port)
        size = 256 * 1024 * 1024
        upload = a.call(b.node_id, "test/sink", stream=RepeatedBody(os.urandom(1 << 20), 256))
        latencies = []
        while not upload.called:
            started = reactor.seconds()
            await a.call(b.node_id, "test/ping", priority=PRIO_HIGH)
            latencies.append(reactor.seconds() - started)
        self.assertEqual((await upload).message, size)
        self.assertGreater(len(latencies), 3)
        self.assertLess(max(latencies), 0.5, latencies)
