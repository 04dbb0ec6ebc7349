"""What an S3 handler receives: the request, its endpoint and its caller.

A :class:`RequestContext` is built by the dispatcher once the endpoint is
parsed and the signature checked; handlers read from it and write their
response through :func:`respond` (which sets Content-Length, so replies are
never chunked) or stream it themselves.
"""

from dataclasses import dataclass, field
from typing import Any

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.router import Endpoint

# The rights a key may have on a bucket, as handlers require them.
READ, WRITE, OWNER = "read", "write", "owner"


@dataclass
class RequestContext:
    """One S3 request being served.

    :ivar api: the :class:`~garage_twisted.api.s3.api.S3Api` (model, blocks,
        configuration, clock).
    :ivar request: the Twisted ``Request``.
    :ivar endpoint: the parsed :class:`Endpoint`.
    :ivar api_key: the caller's :class:`~garage_twisted.model.key.Key`.
    :ivar auth: the verified signature (payload mode, chunk-signing state).
    :ivar bucket_id: the addressed bucket's id, for bucket-level endpoints.
    :ivar bucket: the addressed bucket, for bucket-level endpoints.
    :ivar request_id: identifier logged and returned in errors.
    """

    api: Any
    request: Any
    endpoint: Endpoint
    api_key: Any
    auth: Any
    request_id: str
    bucket_id: bytes | None = None
    bucket: Any = None
    checks: Any = None
    # Fields every complete version this request writes gets: versioned,
    # retention, legal_hold (api/s3/versioning.py sets them).
    write_fields: dict = field(default_factory=dict)
    # Lower-case name -> first value, made on the first header() call: a
    # PUT asks for about twenty headers, and Twisted's lookups normalize
    # the name each time. Request headers do not change once received.
    _headers: dict | None = field(default=None, repr=False)

    @property
    def versioning(self) -> str | None:
        """The bucket's versioning: None (never set), Enabled, Suspended."""
        params = self.bucket.params if self.bucket is not None else None
        return None if params is None else params.versioning_state

    @property
    def versioned_writes(self) -> bool:
        """Whether the versions this request writes are versions of their own."""
        return self.versioning == "Enabled"

    def header(self, name: bytes | str) -> str | None:
        """First value of a request header (``name`` in lower case, bytes
        or text), decoded as Latin-1 (as HTTP).

        The table holds each name both ways, so the many checks that ask
        by text name (``header(lower-case name)`` callbacks) need no
        encoding and no wrapper per lookup."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for key, values in self.request.requestHeaders.getAllRawHeaders():
                if values:
                    key = key.lower()
                    headers[key] = headers[key.decode("latin-1")] = values[0].decode("latin-1")
            # Later calls go straight to the table's lookup (a PUT asks
            # for some forty headers, most of them absent).
            self.header = headers.get
        return headers.get(name)


def int_argument(raw: str | None, name: str, default: int, maximum: int) -> int:
    """A non-negative integer query parameter or header, capped at
    ``maximum``; ``default`` when absent; InvalidArgument otherwise."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise errors.InvalidArgument(f"{name} must be a non-negative integer")
    return min(value, maximum)


def respond(request, body: bytes = b"", status: int = 200,
            content_type: bytes | None = b"application/xml") -> bytes:
    """Set status, Content-Type and Content-Length; return the body for S3Resource."""
    request.setResponseCode(status)
    if content_type is not None and body:
        request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-length", b"%d" % len(body))
    return body
