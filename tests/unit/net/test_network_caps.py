"""The RPC listener's cap on pending handshakes (net/network.py), on a Clock."""

import os

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net.connection import HANDSHAKE_TIMEOUT, PeerConnection
from garage_twisted.net.keys import NodeKey
from garage_twisted.net.network import Network


class PendingHandshakeCapTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.secret = os.urandom(32)
        self.server = Network(NodeKey.generate(), self.secret, self.clock,
                              max_pending=4, max_pending_per_address=2)
        self.factory = self.server.server_factory()

    def accept(self, host: str):
        address = IPv4Address("TCP", host, 50000)
        protocol = self.factory.buildProtocol(address)
        if protocol is None:
            return None, None
        transport = StringTransport(peerAddress=address)
        protocol.makeConnection(transport)
        return protocol, transport

    def lose(self, protocol):
        protocol.connectionLost(Failure(ConnectionDone()))

    def test_per_address_and_total_caps(self):
        """Strangers get at most max_pending_per_address handshakes from one
        address and max_pending in all; beyond that they are not accepted."""
        self.assertIsNotNone(self.accept("192.0.2.1")[0])
        self.assertIsNotNone(self.accept("192.0.2.1")[0])
        self.assertIsNone(self.accept("192.0.2.1")[0])
        self.assertIsNotNone(self.accept("192.0.2.2")[0])
        self.assertIsNotNone(self.accept("192.0.2.3")[0])
        self.assertIsNone(self.accept("192.0.2.4")[0])
        self.assertEqual(self.server.refused_connections, 2)

    def test_timed_out_handshakes_free_their_places(self):
        """A silent connection is aborted at HANDSHAKE_TIMEOUT and its place
        is given to the next one."""
        held = [self.accept("192.0.2.1") for _ in range(2)]
        self.clock.advance(HANDSHAKE_TIMEOUT)
        for protocol, transport in held:
            self.assertTrue(transport.disconnected)
            self.lose(protocol)
        self.assertIsNotNone(self.accept("192.0.2.1")[0])

    def test_garbage_frees_its_place_at_once(self):
        """A connection sending garbage is aborted at once and uncounted."""
        for _ in range(3):
            protocol, transport = self.accept("192.0.2.1")
            self.assertIsNotNone(protocol)
            protocol.dataReceived(b"\x00\x20" + os.urandom(32))
            self.assertTrue(transport.disconnected)
            self.lose(protocol)
        self.flushLoggedErrors()

    def test_authenticated_peers_are_not_counted(self):
        """Once a peer completes its handshake, its connection no longer
        holds a pending place."""
        for _ in range(2):
            client = Network(NodeKey.generate(), self.secret, self.clock)
            server_side, server_transport = self.accept("192.0.2.1")
            dialled = PeerConnection(client, peer_node_id=self.server.node_id)
            client_transport = StringTransport()
            dialled.makeConnection(client_transport)
            for _ in range(10):  # a few round trips complete the handshake
                data = client_transport.value()
                client_transport.clear()
                if data:
                    server_side.dataReceived(data)
                data = server_transport.value()
                server_transport.clear()
                if data:
                    dialled.dataReceived(data)
            self.assertIs(self.server.connections[client.node_id], server_side)
        # Both of the earlier connections authenticated: two places are free.
        self.assertIsNotNone(self.accept("192.0.2.1")[0])
        self.assertIsNotNone(self.accept("192.0.2.1")[0])
