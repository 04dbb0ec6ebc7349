"""Peering's timers with a Clock: pings, missed pings, backoff, persistence."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net.keys import parse_peer_address
from garage_twisted.net.errors import CallTimeout
from garage_twisted.net.mux import Reply
from garage_twisted.net.peering import (
    MAX_FAILED_PINGS, PEER_LIST_FILE, PING_PATH, RECONNECT_MAX, Peering,
)

PEER = bytes([7]) * 32


class FakeConnection:
    def __init__(self):
        self.closed = False
        self.aborted = False

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


class FakeNetwork:
    """The part of Network that Peering uses; calls answered by the test."""

    def __init__(self, clock):
        self.node_id = bytes([1]) * 32
        self.clock = clock
        self.connections = {}
        self.endpoints = {}
        self.on_connected = []
        self.on_disconnected = []
        self.calls = []  # (node_id, path, Deferred)
        self.dials = []  # (node_id, host, port, Deferred)

    def register(self, path, handler):
        self.endpoints[path] = handler

    def call(self, node_id, path, message=None, priority=None, stream=None, timeout=None):
        d = defer.Deferred()
        self.calls.append((node_id, path, d))
        return d

    def connect(self, node_id, host, port, timeout=10.0):
        d = defer.Deferred()
        self.dials.append((node_id, host, port, d))
        return d

    def close_all(self):
        return defer.succeed(None)

    def connect_now(self, node_id):
        self.connections[node_id] = FakeConnection()
        for callback in self.on_connected:
            callback(node_id)


class PeeringTimerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.network = FakeNetwork(self.clock)
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.peering = Peering(self.network, self.clock, self.dir,
                               bootstrap=[parse_peer_address(f"{PEER.hex()}@10.0.0.7:3901")],
                               public_address="10.0.0.1:3901")

    def test_peer_list_hash_follows_the_list(self):
        """The hash every ping compares is kept, and renewed when a peer's
        address is learnt or changes, or the public address does."""
        import hashlib

        from garage_twisted.util import codec

        def fresh():
            return hashlib.blake2b(codec.dumps(self.peering.peer_list()),
                                   digest_size=32).digest()
        first = self.peering.peer_list_hash()
        self.assertEqual(first, fresh())
        self.assertIs(self.peering.peer_list_hash(), first)
        self.peering._learn(b"\x42" * 32, "10.0.0.9:3901")
        self.assertNotEqual(self.peering.peer_list_hash(), first)
        self.assertEqual(self.peering.peer_list_hash(), fresh())
        second = self.peering.peer_list_hash()
        self.peering._learn(b"\x42" * 32, "10.0.0.10:3901")
        self.assertEqual(self.peering.peer_list_hash(), fresh())
        self.assertNotEqual(self.peering.peer_list_hash(), second)
        self.peering._public_address = "10.0.0.2:3901"
        self.assertEqual(self.peering.peer_list_hash(), fresh())

    def test_backoff_then_connection_then_missed_pings_close_it(self):
        self.peering.startService()
        self.clock.advance(0)
        self.assertEqual(len(self.network.dials), 1)
        # Unreachable: retried after 1, 2, 4... seconds, capped.
        delays = []
        for _ in range(8):
            self.network.dials[-1][3].errback(ConnectionRefusedError())
            before = self.clock.seconds()
            while len(self.network.dials) == len(delays) + 1:
                self.clock.advance(0.5)
            delays.append(self.clock.seconds() - before)
        self.assertEqual(delays[:4], [1.0, 2.0, 4.0, 8.0])
        self.assertLessEqual(max(delays), RECONNECT_MAX + 0.5)
        # Connected: an immediate ping, answered with an address and a hash.
        self.network.connect_now(PEER)
        node, path, d = self.network.calls[-1]
        self.assertEqual((node, path), (PEER, PING_PATH))
        d.callback(Reply({"addr": "10.0.0.7:3901", "hash": self.peering.peer_list_hash(),
                          "hostname": "far", "version": "x"}))
        self.assertEqual(self.peering.peers[PEER].hostname, "far")
        # Then pings every 15 s; MAX_FAILED_PINGS unanswered ones drop the
        # link at once (a graceful close waits for a hung peer to read).
        for _ in range(MAX_FAILED_PINGS):
            self.assertFalse(self.network.connections[PEER].aborted)
            self.clock.advance(15)
            self.network.calls[-1][2].errback(CallTimeout("late"))
        self.assertTrue(self.network.connections[PEER].aborted)
        self.assertFalse(self.network.connections[PEER].closed)
        self.peering.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_peer_list_is_persisted_and_reloaded(self):
        self.peering.startService()
        self.clock.advance(0)
        self.network.dials[-1][3].callback(None)
        self.network.connect_now(PEER)
        self.clock.advance(2)  # the delayed save
        self.peering.stopService()
        self.assertTrue(os.path.exists(os.path.join(self.dir, PEER_LIST_FILE)))
        network = FakeNetwork(self.clock)
        again = Peering(network, self.clock, self.dir)
        again.startService()
        self.clock.advance(0)
        self.assertEqual([(d[0], d[1], d[2]) for d in network.dials],
                         [(PEER, "10.0.0.7", 3901)])
        again.stopService()
