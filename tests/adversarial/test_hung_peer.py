"""A peer that stops reading (a stopped process, a frozen machine) is dropped.

Its TCP connection stays up, so the kernel and Twisted keep the bytes queued
for it: block copies that made their write quorum elsewhere, each holding its
block in memory. The node closed such a connection after missed pings, but
gracefully, and a graceful close waits for the peer to read what is queued:
it never closed, its calls stayed in flight until their own timeouts, and
every new call went to it again (a real run with one node stopped: 59 missed
pings, 15 minutes, still "connected"). Now the connection is dropped at once
and its calls fail; and a node that stops does not wait for such a peer.
"""

import os

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import TestCase

from garage_twisted.net import network as network_module
from garage_twisted.net.errors import PeerDisconnected
from garage_twisted.net.keys import NodeKey
from garage_twisted.net.network import Network
from garage_twisted.net.peering import MAX_FAILED_PINGS, Peering
from tests.support.waiting import RepeatedBody, until

SECRET = bytes(range(32))


def queued(connection) -> int:
    transport = connection.transport
    return len(transport.dataBuffer) + transport._tempDataLen


class HungPeerTests(TestCase):
    timeout = 60

    async def _pair(self, with_peering=False):
        a = Network(NodeKey(os.urandom(32)), SECRET, reactor)
        # Peering sees the connection made (it keeps the peers it pings).
        peering = Peering(a, reactor, None, ping_timeout=0.05) if with_peering else None
        b = Network(NodeKey(os.urandom(32)), SECRET, reactor)
        # Never answered: the writes the hung peer was sent.
        b.register("test/sink", lambda call: defer.Deferred())
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            b.server_factory())
        self.addCleanup(port.stopListening)
        self.addCleanup(a.close_all)
        self.addCleanup(b.close_all)
        connection = await a.connect(b.node_id, "127.0.0.1", port.getHost().port)
        await until(lambda: a.node_id in b.connections, "B sees the connection")
        b_side = b.connections[a.node_id]
        # B stops reading: its process is frozen, as far as A can tell.
        b_side.transport.pauseProducing()
        self.addCleanup(b_side.transport.resumeProducing)
        # Sixteen 4 MiB writes to it: more than the kernel's buffers hold.
        calls = [a.call(b.node_id, "test/sink", stream=RepeatedBody(os.urandom(1 << 20), 4))
                 for _ in range(16)]
        for call in calls:
            call.addErrback(lambda failure: failure.value)
        await until(lambda: queued(connection) > 0, "bytes queued for the peer")
        return a, b, connection, calls, peering

    async def test_missed_pings_drop_the_connection_and_fail_its_calls(self):
        a, b, connection, calls, peering = await self._pair(with_peering=True)
        for _ in range(MAX_FAILED_PINGS):
            await peering.ping(b.node_id).addErrback(lambda f: None)
        await until(lambda: connection.closed.called, "the connection dropped", 5)
        self.assertNotIn(b.node_id, a.connections)
        for call in calls:
            self.assertIsInstance(await call, PeerDisconnected)

    async def test_stopping_does_not_wait_for_a_hung_peer(self):
        self.patch(network_module, "CLOSE_GRACE", 0.2)
        a, b, connection, calls, _ = await self._pair()
        started = reactor.seconds()
        await a.close_all()
        self.assertTrue(connection.closed.called)
        self.assertLess(reactor.seconds() - started, 10)
        for call in calls:
            self.assertIsInstance(await call, PeerDisconnected)
