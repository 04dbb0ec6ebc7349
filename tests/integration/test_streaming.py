"""Upload streaming over raw HTTP: lazy 100 Continue, early rejection, chunked bodies."""

import hashlib

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from tests.support import signer
from tests.support.node import NodeFixture


class RawClient(protocol.Protocol):
    """Sends bytes, collects everything the server answers."""

    def __init__(self):
        self.received = b""
        self.waiters = []
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.received += data
        for predicate, d in list(self.waiters):
            if predicate(self.received):
                self.waiters.remove((predicate, d))
                d.callback(self.received)

    def wait_until(self, predicate) -> defer.Deferred:
        """Fires with everything received once ``predicate(received)`` holds."""
        if predicate(self.received):
            return defer.succeed(self.received)
        d = defer.Deferred()
        self.waiters.append((predicate, d))
        return d

    def wait_for(self, marker: bytes) -> defer.Deferred:
        return self.wait_until(lambda received: marker in received)

    def connectionLost(self, reason):
        self.closed.callback(self.received)


class _NodeWithBucket(TestCase):
    """One node with bucket ``stream``, spoken to over raw connections."""

    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self)
        self.key = await self.fixture.create_key()
        await self.fixture.create_bucket("stream", self.key)
        self.port = self.fixture.node.s3_listener.port

    async def connect(self):
        client = RawClient()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), client)
        self.addCleanup(lambda: (client.transport.loseConnection(), client.closed)[1])
        return client

    def head(self, body_length, secret=None, extra=None):
        url = f"http://127.0.0.1:{self.port}/stream/obj"
        headers, *_ = signer.sign("PUT", url, self.key.key_id,
                                  secret or self.key.params.secret_key, "garage",
                                  "UNSIGNED-PAYLOAD",
                                  dict({"content-length": str(body_length),
                                        "expect": "100-continue"}, **(extra or {})))
        return ("PUT /stream/obj HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()



class StreamingUploadTests(_NodeWithBucket):
    async def test_rejected_upload_gets_no_100_continue(self):
        """A request refused before its body is read gets its error, never a 100."""
        client = await self.connect()
        client.transport.write(self.head(10_000_000, secret="0" * 64))
        answer = await client.closed
        self.assertNotIn(b"100 Continue", answer)
        self.assertIn(b"403", answer.split(b"\r\n", 1)[0])
        self.assertIn(b"SignatureDoesNotMatch", answer)

    async def test_accepted_upload_gets_100_then_200(self):
        """A valid request gets 100 Continue, then its body is stored."""
        body = b"z" * 300_000
        client = await self.connect()
        client.transport.write(self.head(len(body)))
        await client.wait_for(b"100 Continue\r\n\r\n")
        client.transport.write(body)
        answer = await client.wait_until(
            lambda r: b"\r\n\r\n" in r.partition(b"HTTP/1.1 200")[2])
        self.assertIn(b'"%s"' % hashlib.md5(body).hexdigest().encode(), answer.lower())
        bucket_id = await self.fixture.node.helper.resolve_global_alias("stream")
        obj = await self.fixture.node.model.object_table.get(bucket_id, b"obj")
        self.assertEqual(obj.last_data_version().data.meta.size, len(body))

    async def test_client_gone_mid_body_leaves_nothing_visible(self):
        """A client that disconnects mid-body leaves no visible object."""
        client = await self.connect()
        client.transport.write(self.head(5_000_000))
        await client.wait_for(b"100 Continue")
        client.transport.write(b"y" * 2_000_000)
        client.transport.loseConnection()
        await client.closed
        # The node notices the loss, aborts the version and answers reads.
        bucket_id = await self.fixture.node.helper.resolve_global_alias("stream")
        for _ in range(50):
            obj = await self.fixture.node.model.object_table.get(bucket_id, b"obj")
            if obj is not None and not any(v.is_uploading for v in obj.versions):
                break
            await deferLater(0.05)
        self.assertTrue(obj is None or obj.last_data_version() is None)


class ClientGoneMidResponseTests(_NodeWithBucket):
    """A client that leaves while a GET streams its body is not an error."""

    async def put(self, body: bytes) -> None:
        client = await self.connect()
        client.transport.write(self.head(len(body)))
        await client.wait_for(b"100 Continue\r\n\r\n")
        client.transport.write(body)
        await client.wait_until(lambda r: b"\r\n\r\n" in r.partition(b"HTTP/1.1 200")[2])

    async def test_client_gone_mid_get_is_logged_as_such(self):
        """The handler stops at the loss: no InternalError, no producer left
        registered (either would be a logged error, which fails the test)."""
        # 32 blocks: more than loopback's socket buffers hold, so the
        # response is still streaming when the client leaves.
        await self.put(b"g" * (32 << 20))
        gone = defer.Deferred()

        def observe(event):
            if event.get("error") == "client went away" and event.get("method") == "GET" \
                    and not gone.called:
                gone.callback(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        url = f"http://127.0.0.1:{self.port}/stream/obj"
        headers, *_ = signer.sign("GET", url, self.key.key_id, self.key.params.secret_key,
                                  "garage", "UNSIGNED-PAYLOAD", {})
        client = await self.connect()
        client.transport.write(("GET /stream/obj HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        await client.wait_for(b"HTTP/1.1 200")
        # Reading no more: the server fills the socket buffers and waits.
        client.transport.pauseProducing()
        client.transport.abortConnection()
        event = await gone
        self.assertEqual(event["uri"], "/stream/obj")
        self.assertLess(len(client.received), 32 << 20)


def deferLater(seconds):
    from twisted.internet.task import deferLater as later

    return later(reactor, seconds, lambda: None)
