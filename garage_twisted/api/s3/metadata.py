"""Which request headers an object keeps, and how they come back.

Stored (as Garage): Content-Type, Cache-Control, Content-Disposition,
Content-Encoding, Content-Language, Expires, x-amz-website-redirect-location
and every ``x-amz-meta-*`` (names lower-cased, as S3 returns them).
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
