"""The real network and the in-memory fake both provide IPeerNetwork, and
behave alike where the layers above look: the same tests run on both."""

import os

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from garage_twisted.net.interfaces import IPeerNetwork
from garage_twisted.net.keys import NodeKey
from garage_twisted.net.errors import PeerDisconnected, RemoteError, RpcError
from garage_twisted.net.mux import Reply
from garage_twisted.net.network import Network
from tests.support.fake_network import FakeHub

SECRET = bytes(range(32))
# Longest wait for a connection to come or go on loopback.
SETTLE_TIMEOUT = 5.0


class PeerNetworkConformance:
    """Behaviours every IPeerNetwork shows. A subclass gives ``pair()``
    (two connected networks), ``cut(a, b)``, ``relink(a, b)``,
    ``resolve(d)`` (the result of a call's Deferred) and ``settle()``."""

    async def connected_pair(self):
        a, b = await self.pair()
        self.events = []
        for network in (a, b):
            network.on_connected.append(
                lambda node, net=network: self.events.append((net.node_id, "up", node)))
            network.on_disconnected.append(
                lambda node, net=network: self.events.append((net.node_id, "down", node)))
        for network in (a, b):
            network.register("test/echo", lambda call: Reply(["echo", call.peer, call.message]))
        return a, b

    async def test_provides_the_interface(self):
        """Both implementations carry every member IPeerNetwork declares."""
        a, b = await self.connected_pair()
        self.assertTrue(verifyObject(IPeerNetwork, a))
        self.assertTrue(verifyObject(IPeerNetwork, b))

    async def test_call_a_peer_and_get_its_answer(self):
        """A call reaches the peer's handler, which sees the caller's id, and
        its answer comes back as a Reply, CBOR types kept."""
        a, b = await self.connected_pair()
        self.assertIn(b.node_id, a.connections)
        self.assertIn(a.node_id, b.connections)
        reply = await self.resolve(a.call(b.node_id, "test/echo", {"n": [1, b"x"]}))
        self.assertIsInstance(reply, Reply)
        self.assertEqual(reply.message, ["echo", a.node_id, {"n": [1, b"x"]}])
        reply = await self.resolve(b.call(a.node_id, "test/echo", "back"))
        self.assertEqual(reply.message, ["echo", b.node_id, "back"])

    async def test_call_this_node(self):
        """A call to this node's own id is served here, with the same Reply."""
        a, _ = await self.connected_pair()
        reply = await self.resolve(a.call(a.node_id, "test/echo", 42))
        self.assertEqual(reply.message, ["echo", a.node_id, 42])
        self.assertNotIn(a.node_id, a.connections)

    async def test_handler_errors_come_back_as_remote_errors(self):
        """A handler's RpcError is the caller's RemoteError with its code;
        an unknown endpoint is NoSuchEndpoint; anything else InternalError."""
        a, b = await self.connected_pair()

        def refuse(call):
            raise RpcError("Refused", "not today")

        b.register("test/refuse", refuse)
        b.register("test/crash", lambda call: 1 // 0)
        for path, code in (("test/refuse", "Refused"), ("no/such/endpoint", "NoSuchEndpoint"),
                           ("test/crash", "InternalError")):
            with self.assertRaises(RemoteError) as caught:
                await self.resolve(a.call(b.node_id, path, None))
            self.assertEqual(caught.exception.code, code)
        self.flushLoggedErrors(ZeroDivisionError)

    async def test_register_twice_is_refused(self):
        """A path has one handler: registering it again is a ValueError."""
        a, _ = await self.connected_pair()
        self.assertRaises(ValueError, a.register, "test/echo", lambda call: None)

    async def test_unreachable_peer_fails(self):
        """A call to a node never connected fails with PeerDisconnected."""
        a, _ = await self.connected_pair()
        with self.assertRaises(PeerDisconnected):
            await self.resolve(a.call(NodeKey(os.urandom(32)).node_id, "test/echo", 1))

    async def test_peer_down_and_up(self):
        """Losing a peer calls on_disconnected on both sides, drops it from
        ``connections`` and fails calls to it; getting it back calls
        on_connected on both sides and calls reach it again."""
        a, b = await self.connected_pair()
        await self.cut(a, b)
        await self.settle(lambda: len(self.events) == 2)
        self.assertEqual(sorted(self.events),
                         sorted([(a.node_id, "down", b.node_id), (b.node_id, "down", a.node_id)]))
        self.assertNotIn(b.node_id, a.connections)
        self.assertNotIn(a.node_id, b.connections)
        with self.assertRaises(PeerDisconnected):
            await self.resolve(a.call(b.node_id, "test/echo", 1))
        del self.events[:]
        await self.relink(a, b)
        await self.settle(lambda: len(self.events) == 2)
        self.assertEqual(sorted(self.events),
                         sorted([(a.node_id, "up", b.node_id), (b.node_id, "up", a.node_id)]))
        reply = await self.resolve(a.call(b.node_id, "test/echo", 2))
        self.assertEqual(reply.message, ["echo", a.node_id, 2])


class RealNetworkTests(PeerNetworkConformance, TestCase):
    """Two ``Network`` objects on loopback TCP, Noise handshakes included."""

    timeout = 30

    async def pair(self):
        a, b = (Network(NodeKey(os.urandom(32)), SECRET, reactor) for _ in range(2))
        for network in (a, b):
            self.addCleanup(network.close_all)
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            b.server_factory())
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port
        await a.connect(b.node_id, "127.0.0.1", self.port)
        # The listener reports the peer once its confirmation decrypts.
        await self.settle(lambda: a.node_id in b.connections)
        return a, b

    async def cut(self, a, b):
        a.connections[b.node_id].close()

    async def relink(self, a, b):
        await a.connect(b.node_id, "127.0.0.1", self.port)

    async def resolve(self, d):
        return await d

    async def settle(self, done):
        deadline = reactor.seconds() + SETTLE_TIMEOUT
        while not done():
            if reactor.seconds() > deadline:
                self.fail("the networks did not settle")
            await deferLater(reactor, 0.005, lambda: None)


class FakeNetworkTests(PeerNetworkConformance, TestCase):
    """Two ``FakeNetwork`` objects on a ``FakeHub`` driven by a ``Clock``."""

    async def pair(self):
        self.clock = Clock()
        self.hub = FakeHub(self.clock)
        return self.hub.network(b"a" * 32), self.hub.network(b"b" * 32)

    async def cut(self, a, b):
        self.hub.partition(a.node_id, b.node_id)

    async def relink(self, a, b):
        self.hub.heal()

    async def resolve(self, d):
        outcome = []
        d.addBoth(outcome.append)
        for _ in range(1000):
            if outcome:
                break
            self.clock.advance(self.hub.delay)
        self.assertTrue(outcome, "the call never ended")
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        return outcome[0]

    async def settle(self, done):
        for _ in range(1000):
            if done():
                return
            self.clock.advance(self.hub.delay)
        self.fail("the hub did not settle")

