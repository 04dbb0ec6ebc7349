"""The link proxy used for latency and link-cut experiments: real sockets,
delays driven by a Clock."""

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from tests.support.link_proxy import LinkProxy


class _Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class _Client(protocol.Protocol):
    def __init__(self):
        self.received = b""
        self.waiting = None
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.received += data
        if self.waiting is not None:
            d, self.waiting = self.waiting, None
            d.callback(None)

    def connectionLost(self, reason):
        self.closed.callback(None)


class LinkProxyTests(TestCase):
    timeout = 10

    async def setUp(self):
        echo = reactor.listenTCP(0, protocol.Factory.forProtocol(_Echo), interface="127.0.0.1")
        self.addCleanup(echo.stopListening)
        self.clock = Clock()
        self.proxy = LinkProxy(reactor, ("127.0.0.1", echo.getHost().port), delay=0.05,
                               clock=self.clock)
        port = reactor.listenTCP(0, self.proxy, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.addCleanup(self.proxy.close_all)
        self.port = port.getHost().port

    async def connect(self):
        client = await protocol.ClientCreator(reactor, _Client).connectTCP("127.0.0.1",
                                                                           self.port)
        self.addCleanup(lambda: client.transport.loseConnection() or client.closed)
        return client

    async def test_delay_each_way(self):
        client = await self.connect()
        client.transport.write(b"ping")
        await _turns(10)
        self.assertEqual(client.received, b"")
        self.clock.advance(0.05)  # to the echo server
        await _turns(10)
        self.assertEqual(client.received, b"")
        client.waiting = defer.Deferred()
        self.clock.advance(0.05)  # and back
        await client.waiting
        self.assertEqual(client.received, b"ping")

    async def test_cut_and_heal(self):
        client = await self.connect()
        self.proxy.cut_link()
        await client.closed
        refused = await self.connect()
        await refused.closed
        self.proxy.heal()
        again = await self.connect()
        again.waiting = defer.Deferred()
        again.transport.write(b"x")
        await _turns(10)
        self.clock.advance(0.05)
        await _turns(10)
        self.clock.advance(0.05)
        await again.waiting
        self.assertEqual(again.received, b"x")


async def _turns(count):
    """Let the real sockets deliver what is already due (no time passes)."""
    for _ in range(count):
        await task.deferLater(reactor, 0, lambda: None)
