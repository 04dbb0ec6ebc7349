"""GatherWriter on a real loopback TCP connection: every byte, in order."""

import hashlib
import os

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from garage_twisted.net.gather import GatherWriter, supports


class Collector(Protocol):
    def __init__(self, expected: int):
        self.expected = expected
        self.digest = hashlib.sha256()
        self.received = 0
        self.done = defer.Deferred()

    def dataReceived(self, data):
        self.digest.update(data)
        self.received += len(data)
        if self.received >= self.expected and not self.done.called:
            self.done.callback(self.digest.digest())


class GatherWriterTests(TestCase):
    async def connect(self, expected: int):
        collector = Collector(expected)
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(lambda: collector))
        self.addCleanup(port.stopListening)
        client = await TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
            Factory.forProtocol(Protocol))
        self.addCleanup(client.transport.abortConnection)
        return client.transport, collector

    async def test_more_than_the_socket_takes_arrives_whole_and_in_order(self):
        """32 MiB written in one turn (far more than the kernel buffers take
        at once): the writer's own sends, then the transport's buffering
        for the rest, deliver every piece in order."""
        pieces = [os.urandom(2), os.urandom(65533)] * 512
        pieces += [b"%08d" % i for i in range(2000)]  # many small ones: MAX_PIECES
        expected = hashlib.sha256(b"".join(pieces)).digest()
        size = sum(len(p) for p in pieces)
        transport, collector = await self.connect(size)
        self.assertTrue(supports(transport))
        writer = GatherWriter(transport, reactor, 256 * 1024)
        for start in range(0, len(pieces), 2):
            writer.write(pieces[start:start + 2])
        self.assertTrue(transport._tempDataLen or len(transport.dataBuffer) > transport.offset,
                        "the kernel took everything: the fallback was not exercised")
        self.assertEqual(await collector.done, expected)
        self.assertEqual(collector.received, size)

    async def test_small_writes_wait_for_the_end_of_the_turn(self):
        """Writes below the limit are gathered, and leave together when the
        end-of-turn call runs (a Clock stands for the turn here)."""
        transport, collector = await self.connect(8)
        clock = Clock()
        writer = GatherWriter(transport, clock, 256 * 1024)
        writer.write([b"he", b"llo"])
        writer.write([b"!!", b"!"])
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        self.assertEqual(writer._size, 8)  # still gathered, nothing sent
        clock.advance(0)
        self.assertEqual(writer._size, 0)
        self.assertEqual(await collector.done, hashlib.sha256(b"hello!!!").digest())

    async def test_cancel_drops_what_is_gathered(self):
        transport, collector = await self.connect(1)
        writer = GatherWriter(transport, reactor, 256 * 1024)
        writer.write([b"dropped"])
        writer.cancel()
        writer.write([b"x"])
        self.assertEqual(await collector.done, hashlib.sha256(b"x").digest())
