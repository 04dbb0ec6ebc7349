"""Responses sent at once (``api/streaming.py``, ``send_now``) keep HTTP's order.

The attacks: a client that pipelines requests and stops reading, so that a
small answer is ready while a large one still fills the server's buffers;
a client that resets its connection right after its requests, so that the
answer sent at once meets a dead socket.

A response's first write with a small body goes to the socket at once when
nothing is queued on the connection. Over real loopback connections to a
:class:`StreamingSite`: pipelined requests get their answers in order, and
a small answer behind a large one its client has not read yet waits its
turn instead of overtaking it.
"""

import socket
import struct

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web import resource

from garage_twisted.api.streaming import EAGER_MAX, StreamingSite
from tests.integration.test_streaming import RawClient

BIG = 8 * 1024 * 1024


class _Answers(resource.Resource):
    """``/big``: BIG bytes of ``B``; ``/<name>``: ``answer <name>``; HEAD and
    ``/empty`` (204): no body."""

    isLeaf = True

    def render_GET(self, request):
        name = request.path.decode()[1:]
        if name == "big":
            body = b"B" * BIG
        elif name == "empty":
            request.setResponseCode(204)
            return b""
        else:
            body = f"answer {name}".encode()
        request.setHeader(b"content-length", b"%d" % len(body))
        return body

    render_HEAD = render_GET


def _responses(raw: bytes) -> list:
    """``(status line, body)`` of each response in ``raw``, in order."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if lines[0].split()[1] == b"204":
            length = 0
        out.append((lines[0], rest[:length]))
        raw = rest[length:]
    return out


class EagerResponseTests(TestCase):
    timeout = 60

    def setUp(self):
        site = StreamingSite(_Answers(), clock=reactor)
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)

    async def connect(self) -> RawClient:
        client = RawClient()
        await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port), client)
        self.addCleanup(lambda: (client.transport.loseConnection(), client.closed)[1])
        return client

    @staticmethod
    def request(path: str, method: str = "GET") -> bytes:
        return f"{method} {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()

    async def test_pipelined_answers_come_in_order(self):
        client = await self.connect()
        paths = ["/one", "/empty", "/two", "/three"]
        client.transport.write(b"".join(self.request(p) for p in paths)
                               + self.request("/four", "HEAD"))
        raw = await client.wait_until(lambda r: r.count(b"HTTP/1.1 ") == 5)
        answers = _responses(raw)
        self.assertEqual([status.split()[1] for status, _ in answers],
                         [b"200", b"204", b"200", b"200", b"200"])
        self.assertEqual([body for _, body in answers],
                         [b"answer one", b"", b"answer two", b"answer three", b""])

    async def test_small_answer_waits_behind_an_unread_large_one(self):
        """The large answer is still queued on the server (its client reads
        nothing): the small one must not go to the socket before it."""
        self.assertGreater(BIG, EAGER_MAX)
        client = await self.connect()
        client.transport.pauseProducing()
        client.transport.write(self.request("/big") + self.request("/small"))
        # Both requests handled: the small answer was written while the
        # large one filled the socket buffers.
        server_channel = await _first_channel(self.port)
        await _until(lambda: not server_channel.requests)
        client.transport.resumeProducing()
        raw = await client.wait_until(
            lambda r: r.count(b"HTTP/1.1 ") == 2 and len(r) >= BIG + len(b"answer small"))
        answers = _responses(raw)
        self.assertEqual([body[:1] for _, body in answers], [b"B", b"a"])
        self.assertEqual(len(answers[0][1]), BIG)
        self.assertEqual(answers[1][1], b"answer small")

    async def test_client_gone_before_its_answer(self):
        """A client that resets its connection right after its request: the
        answer sent at once meets a dead socket. Nothing is logged as an
        error (trial fails the test on one) and the connection is dropped."""
        port = self.port.getHost().port
        for _ in range(20):
            client = socket.create_connection(("127.0.0.1", port))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.sendall(self.request("/one") + self.request("/two"))
            client.close()  # RST: the answers find nobody
        await _until(lambda: not self.port.factory.channels)
        # The site still answers the next client.
        live = await self.connect()
        live.transport.write(self.request("/three"))
        raw = await live.wait_until(lambda r: r.endswith(b"answer three"))
        self.assertEqual(_responses(raw)[0][1], b"answer three")


async def _first_channel(port):
    """The server side of the one connection made to ``port``."""
    await _until(lambda: port.factory.channels)
    return next(iter(port.factory.channels))


async def _until(predicate, limit: float = 10.0):
    deadline = reactor.seconds() + limit
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError("condition not reached")
        await deferLater(reactor, 0.001, lambda: None)
