"""Hostile header lines and header values on a real node's S3 listener.

The S3 channel stores request headers itself (``StreamingHTTPChannel.
headerReceived``) and response headers without Twisted's second pass
(``StreamingRequest.setHeader``). Neither may let through what Twisted's
own path refuses: a header line without a colon, a name that is not a
token, a value carrying NUL or a line break (request smuggling), more
headers than the limit; nor a response header that splits the answer.
"""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel

from garage_twisted.api.streaming import StreamingRequest
from tests.integration.test_streaming import _NodeWithBucket


class MalformedRequestHeaderTests(_NodeWithBucket):
    async def answer_to(self, header_lines: bytes) -> bytes:
        client = await self.connect()
        client.transport.write(b"GET /stream/obj HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               + header_lines + b"\r\n")
        return await client.closed

    def assertRefused(self, answer: bytes):
        """A 400 and the connection closed, the request never handled."""
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:80])
        self.assertNotIn(b"x-amz-request-id", answer.lower())

    async def test_line_without_colon(self):
        # A valid name alone: only the missing colon is wrong.
        self.assertRefused(await self.answer_to(b"X-Amz-Meta-Nocolon\r\n"))

    async def test_name_not_a_token(self):
        self.assertRefused(await self.answer_to(b"X Amz Date: 20260101T000000Z\r\n"))

    async def test_nul_in_value(self):
        self.assertRefused(await self.answer_to(b"X-Amz-Meta-A: left\x00right\r\n"))

    async def test_bare_carriage_return_in_value(self):
        # A bare CR inside a value: clients and proxies that split on it
        # would see a second header the node did not.
        self.assertRefused(await self.answer_to(
            b"X-Amz-Meta-A: left\rX-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n"))

    async def test_too_many_headers(self):
        lines = b"".join(b"X-Amz-Meta-H%d: v\r\n" % i for i in range(600))
        self.assertRefused(await self.answer_to(lines))


class ResponseHeaderTests(SynchronousTestCase):
    def test_set_header_sanitizes_line_breaks(self):
        """A value with a line break set through the fast path is still
        folded to one line, as Twisted folds it."""
        request = StreamingRequest(DummyChannel())
        # The name once clean first: its canonical form is then cached,
        # which is when the fast path takes a value.
        request.setHeader(b"x-amz-meta-a", b"clean")
        request.setHeader(b"x-amz-meta-a", b"left\r\nSet-Cookie: evil")
        request.setHeader(b"x-amz-meta-b", b"plain")
        request.setHeader("x-amz-meta-c", "text")
        self.assertEqual(request.responseHeaders.getRawHeaders(b"x-amz-meta-a"),
                         [b"left Set-Cookie: evil"])
        self.assertEqual(request.responseHeaders.getRawHeaders(b"x-amz-meta-b"), [b"plain"])
        self.assertEqual(request.responseHeaders.getRawHeaders(b"x-amz-meta-c"), [b"text"])
        request.setHeader(b"x-amz-meta-b", b"replaced")
        self.assertEqual(request.responseHeaders.getRawHeaders(b"x-amz-meta-b"),
                         [b"replaced"])
