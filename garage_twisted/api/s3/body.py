"""Reading an S3 request's payload: transport, aws-chunked, limits.

:class:`PayloadReader` turns the raw body (streamed by the HTTP layer, or
spooled for small requests) into payload bytes: it decodes ``aws-chunked``
bodies (verifying chunk signatures as they end) and collects trailers.
Digest checks over the payload (SHA-256, MD5, ``x-amz-checksum-*``) belong to
:class:`~garage_twisted.api.s3.body_digests.BodyChecks`, which the caller feeds
block by block in the thread pool.

Invariant: nothing read from a :class:`PayloadReader` may be published
before ``read()`` returned ``b""`` — only then are the last chunk signature
and the trailers verified.
"""

from twisted.internet import defer

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.aws_chunked import AwsChunkedDecoder
from garage_twisted.api.s3.body_digests import BodyChecks
from garage_twisted.block.chunker import Chunker


class _SpooledReader:
    """Body reader over a request whose body twisted.web already spooled."""

    READ_SIZE = 1 << 20

    def __init__(self, content):
        self._content = content

    def read(self):
        if self._content is None:
            return defer.succeed(b"")
        return defer.succeed(self._content.read(self.READ_SIZE))


def raw_body_reader(request):
    reader = getattr(request, "body_reader", None)
    if reader is not None:
        return reader
    content = getattr(request, "content", None)
    if content is not None:
        content.seek(0)
    return _SpooledReader(content)


class PayloadReader:
    """The decoded payload of one request.

    :param ctx: the request's
        :class:`~garage_twisted.api.s3.context.RequestContext`.
    """

    def __init__(self, ctx):
        self._ctx = ctx
        self._raw = raw_body_reader(ctx.request)
        self._decoder = AwsChunkedDecoder.for_request(ctx.auth, ctx.request) \
            if ctx.auth is not None and ctx.auth.is_streaming else None
        self._pending = []
        self._received = 0
        self.trailers = {}
        self._done = False

    def declared_length(self) -> int | None:
        """Payload length announced by the client, if any."""
        value = self._ctx.header(b"x-amz-decoded-content-length")
        if value is None and self._decoder is None:
            value = self._ctx.header(b"content-length")
        try:
            return None if value is None else int(value)
        except ValueError:
            raise errors.InvalidArgument(f"bad length header: {value!r}") from None

    async def read(self) -> bytes:
        """Next piece of payload; ``b""`` once the payload ended and checked."""
        while not self._pending:
            if self._done:
                return b""
            data = await self._raw.read()
            if not data:
                self._done = True
                if self._decoder is not None:
                    self.trailers = self._decoder.finish()
                self._check_length()
                return b""
            if self._decoder is None:
                self._received += len(data)
                return data
            for piece in self._decoder.feed(data):
                if piece:
                    self._received += len(piece)
                    self._pending.append(piece)
        return self._pending.pop(0)

    def _check_length(self):
        declared = self._ctx.header(b"x-amz-decoded-content-length")
        if declared is not None and self._decoder is not None:
            if int(declared) != self._received:
                raise errors.IncompleteBody(
                    f"x-amz-decoded-content-length is {declared} but "
                    f"{self._received} bytes were received")


async def iter_blocks(payload: PayloadReader, block_size: int):
    """Cut a payload into blocks of ``block_size`` bytes (the last shorter).

    An async generator; yields at least one block (possibly empty).
    """
    chunker = Chunker(block_size)
    yielded = False
    while True:
        data = await payload.read()
        if not data:
            break
        for block in chunker.feed(data):
            yielded = True
            yield block
    last = chunker.flush()
    if last or not yielded:
        yield last or b""


async def read_small_body(ctx, limit: int, checksum_headers: bool = True) -> bytes:
    """The whole payload of a request that must be small (XML documents).

    :param checksum_headers: see :meth:`BodyChecks.from_request`.
    :raises errors.EntityTooLarge: past ``limit`` bytes.
    """
    payload = PayloadReader(ctx)
    parts = []
    size = 0
    while True:
        data = await payload.read()
        if not data:
            break
        size += len(data)
        if size > limit:
            raise errors.EntityTooLarge(f"request body larger than {limit} bytes")
        parts.append(data)
    body = b"".join(parts)
    checks = BodyChecks.from_request(ctx, checksum_headers)
    checks.update(body)
    checks.verify(payload.trailers)
    return body
