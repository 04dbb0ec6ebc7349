"""Which request headers an object keeps, and how they come back.

Stored (as Garage): Content-Type, Cache-Control, Content-Disposition,
Content-Encoding, Content-Language, Expires, x-amz-website-redirect-location
and every ``x-amz-meta-*`` (names lower-cased, as S3 returns them).

Invariant: a stored value is the bytes received, decoded as Latin-1 (one
character per byte, any byte allowed), and :func:`header_value` encodes it
back to those bytes. So a value comes back as sent whatever its charset:
the byte 0xE9 that Python's http.client sends for ``é``, the UTF-8 that
botocore and browsers send, an RFC 2047 word (kept as sent, not decoded).
The SigV4 canonical request is built from the same bytes. Rows written by
browser POSTs before this held UTF-8 text (characters past U+00FF
possible): :func:`header_value` gives those back as UTF-8.
"""

from garage_twisted.api.s3 import errors

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
STORED_HEADERS = (
    b"content-type", b"cache-control", b"content-disposition", b"content-encoding",
    b"content-language", b"expires", b"x-amz-website-redirect-location",
)
MAX_METADATA_SIZE = 2048  # S3's limit on user metadata


def extract_object_headers(request) -> tuple:
    """``((name, value), ...)`` to store with a new object, sorted by name."""
    headers = []
    user_size = 0
    for name, values in request.requestHeaders.getAllRawHeaders():
        lname = name.lower()
        if lname in STORED_HEADERS or lname.startswith(b"x-amz-meta-"):
            value = values[0].decode("latin-1")
            if lname.startswith(b"x-amz-meta-"):
                user_size += len(lname) - 11 + len(value)
            if lname == b"content-encoding":
                # aws-chunked is the transport of the request, not the
                # object's encoding; the rest is kept as sent.
                codings = [v.strip() for v in value.split(",")]
                if "aws-chunked" in codings:
                    value = ", ".join(v for v in codings if v != "aws-chunked")
                if not value:
                    continue
            headers.append((lname.decode("latin-1"), value))
    if user_size > MAX_METADATA_SIZE:
        raise errors.MetadataTooLarge(
            f"user metadata is {user_size} bytes, more than {MAX_METADATA_SIZE}")
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", DEFAULT_CONTENT_TYPE))
    headers.sort()
    return tuple(headers)


def header_value(value: str) -> bytes:
    """The bytes a stored header ``value`` was received as (see the module's
    invariant); a value from an older row that Latin-1 cannot hold is UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
