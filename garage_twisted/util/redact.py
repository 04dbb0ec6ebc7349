"""Secrets out of logs: request targets and headers as they may be logged.

A presigned URL is a bearer credential until it expires: its query string
carries ``X-Amz-Signature`` (SigV4) or ``Signature`` (SigV2-style links),
with ``X-Amz-Credential`` naming the key and scope it was made with. An
``Authorization`` header is the same for one request. A log line that holds
either hands the request to whoever can read the log file, so every log
event that carries a request's URI or headers passes it through this
module first.

Invariant: only the values of :data:`SECRET_QUERY_PARAMETERS` (matched
without regard to case, before or after percent-decoding of the name) and
:data:`SECRET_HEADERS` are replaced, by :data:`REDACTED`; everything else
of the line is kept byte for byte, so a log still says which request it
was.
"""

import re
from urllib.parse import unquote

REDACTED = "REDACTED"
SECRET_QUERY_PARAMETERS = frozenset({"x-amz-signature", "x-amz-credential", "signature"})
SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})

# One query field: its name up to "=" and its value up to the next "&"
# (or "#", or the end).
_FIELD = re.compile(r"(?P<sep>^|[?&;])(?P<name>[^=&;#]*)=(?P<value>[^&;#]*)")


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_QUERY_PARAMETERS or \
        unquote(lowered) in SECRET_QUERY_PARAMETERS


def _redact_query(query: str) -> str:
    def replace(match):
        if not _is_secret_name(match["name"]):
            return match[0]
        return f"{match['sep']}{match['name']}={REDACTED}"

    return _FIELD.sub(replace, query)


def redact_uri(uri) -> str:
    """A request target (``/bucket/key?query``) fit for a log line.

    :param uri: ``bytes`` (as twisted.web gives it, read as latin-1) or ``str``.
    :returns: the same target, the values of secret query parameters
        replaced by ``REDACTED``.
    """
    if isinstance(uri, (bytes, bytearray)):
        uri = bytes(uri).decode("latin-1")
    path, sep, query = uri.partition("?")
    if not sep:
        return uri
    return f"{path}?{_redact_query(query)}"


def redact_headers(headers) -> dict:
    """Request headers fit for a log line, as ``{name: [values]}``.

    :param headers: a twisted ``Headers`` or a mapping of names to a value
        or a list of values (``bytes`` or ``str``).
    :returns: lower-cased ``str`` names to lists of ``str`` values, secret
        headers' values replaced by ``REDACTED``.
    """
    if hasattr(headers, "getAllRawHeaders"):
        items = headers.getAllRawHeaders()
    else:
        items = headers.items()
    result: dict[str, list[str]] = {}
    for name, values in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(values, (bytes, str)):
            values = [values]
        name = name.lower()
        if name in SECRET_HEADERS:
            texts = [REDACTED for _ in values]
        else:
            texts = [v.decode("latin-1") if isinstance(v, bytes) else v for v in values]
        result.setdefault(name, []).extend(texts)
    return result
