"""Incremental decoder of ``aws-chunked`` request bodies (sans-IO).

Wire format (``STREAMING-*`` values of ``x-amz-content-sha256``)::

    signed:    <hex size>;chunk-signature=<64 hex>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n
    unsigned:  <hex size>\\r\\n<data>\\r\\n ... 0\\r\\n
    then, for -TRAILER modes, trailer lines <name>:<value>\\r\\n (and, signed,
    x-amz-trailer-signature:<sig>\\r\\n), and a final \\r\\n.

A chunk's signature chains from the previous one (the seed is the request's
signature) over ``sha256(chunk data)``; the trailer signature covers the
trailer lines joined with ``\\n``. Payload bytes are returned as they arrive
(never buffering a whole chunk); a chunk's signature can only be checked at
its end, so callers publish nothing before :meth:`finish` returned.
"""

import hashlib
import hmac

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.sigv4 import EMPTY_SHA256, PayloadMode

MAX_LINE = 4096
MAX_TRAILER_BYTES = 16 * 1024

_HEADER, _DATA, _DATA_END, _TRAILER, _END = range(5)


class AwsChunkedDecoder:
    """Decode one aws-chunked body.

    :param mode: the request's :class:`PayloadMode` (a STREAMING one).
    :param seed_signature: the request's signature (signed modes).
    :param signing_key: the request's SigV4 signing key (signed modes).
    :param scope: the credential scope string.
    :param amz_date: the request's ``x-amz-date``.
    """

    def __init__(self, mode: PayloadMode, seed_signature: str = "",
                 signing_key: bytes = b"", scope: str = "", amz_date: str = ""):
        self.mode = mode
        self.signed = mode in (PayloadMode.STREAMING_SIGNED,
                               PayloadMode.STREAMING_SIGNED_TRAILER)
        self.has_trailer = mode in (PayloadMode.STREAMING_SIGNED_TRAILER,
                                    PayloadMode.STREAMING_UNSIGNED_TRAILER)
        self._previous = seed_signature
        self._key = signing_key
        self._prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n"
        self._trailer_prefix = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n"
        self._state = _HEADER
        self._buffer = b""
        self._remaining = 0
        self._chunk_signature = None
        self._chunk_hash = None
        self._trailer_lines = []
        self._trailer_bytes = 0
        self.trailers = {}

    @classmethod
    def for_request(cls, auth, request=None) -> "AwsChunkedDecoder":
        """A decoder for a request verified as ``auth`` (a VerifiedAuth)."""
        return cls(auth.payload_mode, auth.signature, auth.signing_key,
                   auth.scope, auth.amz_date)

    def feed(self, data: bytes) -> list[bytes]:
        """Decode more body bytes; return the payload pieces they complete.

        :raises errors.S3Error: on malformed framing or a bad signature.
        """
        out = []
        buf = self._buffer + data if self._buffer else data
        self._buffer = b""
        pos = 0
        n = len(buf)
        while pos < n:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, n - pos)
                piece = buf[pos:pos + take] if (pos or take != n) else buf
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _DATA_END
                continue
            if state == _DATA_END:
                if n - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise errors.IncompleteBody("aws-chunked: missing CRLF after chunk data")
                pos += 2
                self._end_chunk()
                self._state = _HEADER
                continue
            if state == _END:
                raise errors.InvalidRequest("aws-chunked: data after the end of the body")
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if n - pos > MAX_LINE:
                    raise errors.InvalidRequest("aws-chunked: line too long")
                break
            line = buf[pos:end]
            pos = end + 2
            if state == _HEADER:
                self._start_chunk(line)
            else:
                self._trailer_line(line)
        if pos < n:
            self._buffer = buf[pos:]
        return out

    def _start_chunk(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise errors.InvalidRequest("aws-chunked: invalid chunk size") from None
        if size < 0:
            raise errors.InvalidRequest("aws-chunked: invalid chunk size")
        if self.signed:
            name, _, value = extension.partition(b"=")
            if name.strip() != b"chunk-signature" or len(value) != 64:
                raise errors.SignatureDoesNotMatch("aws-chunked: missing chunk signature")
            self._chunk_signature = value.decode("ascii", "replace").lower()
            self._chunk_hash = hashlib.sha256()
        self._remaining = size
        if size == 0:
            self._end_chunk()
            self._state = _TRAILER
        else:
            self._state = _DATA

    def _end_chunk(self) -> None:
        if not self.signed:
            return
        string = (self._prefix + self._previous + "\n" + EMPTY_SHA256 + "\n"
                  + self._chunk_hash.hexdigest())
        expected = hmac.new(self._key, string.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self._chunk_signature):
            raise errors.SignatureDoesNotMatch(
                "The chunk signature does not match the chunk's data")
        self._previous = expected
        self._chunk_hash = None

    def _trailer_line(self, line: bytes) -> None:
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER_BYTES:
            raise errors.InvalidRequest("aws-chunked: trailers too large")
        if line == b"":
            self._finish_trailers()
            self._state = _END
            return
        if not self.has_trailer:
            raise errors.InvalidRequest("aws-chunked: unexpected data after the last chunk")
        name, colon, value = line.partition(b":")
        if not colon:
            raise errors.InvalidRequest("aws-chunked: malformed trailer line")
        self._trailer_lines.append((name.strip().lower().decode("latin-1"),
                                    value.strip().decode("latin-1")))

    def _finish_trailers(self) -> None:
        signature = None
        text = ""
        for name, value in self._trailer_lines:
            if name == "x-amz-trailer-signature":
                signature = value.lower()
            else:
                self.trailers[name] = value
                text += f"{name}:{value}\n"
        if self.mode == PayloadMode.STREAMING_SIGNED_TRAILER:
            if signature is None:
                raise errors.SignatureDoesNotMatch("aws-chunked: missing trailer signature")
            string = (self._trailer_prefix + self._previous + "\n"
                      + hashlib.sha256(text.encode("latin-1")).hexdigest())
            expected = hmac.new(self._key, string.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature):
                raise errors.SignatureDoesNotMatch("The trailer signature does not match")

    def finish(self) -> dict:
        """Check that the body ended properly; return the trailers.

        :raises errors.IncompleteBody: if the body was cut short.
        """
        if self._state == _TRAILER and not self._buffer:
            # Some clients end right after the last chunk's line, without
            # the final empty line.
            self._finish_trailers()
            self._state = _END
        if self._state != _END or self._buffer:
            raise errors.IncompleteBody(
                "You did not provide the number of bytes specified by the Content-Length "
                "HTTP header")
        return dict(self.trailers)
