"""Rendering of S3 XML responses.

Responses are built as strings with explicit escaping rather than through an
element tree: listings of a thousand keys are on the hot path, and the shapes
are fixed. Request bodies are parsed elsewhere with defusedxml.
"""

from datetime import datetime, timezone
from xml.sax.saxutils import escape

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>'


def text(value) -> str:
    """Escape a value for XML character data (including control characters
    that XML 1.0 cannot carry, which S3 keys may contain)."""
    s = escape(str(value))
    if any(ord(c) < 0x20 and c not in "\t\n\r" for c in s):
        s = "".join(c if ord(c) >= 0x20 or c in "\t\n\r" else f"&#x{ord(c):X};" for c in s)
    return s


def element(name: str, value) -> str:
    return f"<{name}>{text(value)}</{name}>"


def document(root: str, parts) -> bytes:
    """A complete XML document with the S3 namespace on ``root``."""
    return (
        f'{XML_HEADER}<{root} xmlns="{S3_NAMESPACE}">' + "".join(parts) + f"</{root}>"
    ).encode("utf-8")


def iso8601(msec: int) -> str:
    """S3's timestamp format in listings: ``2024-01-02T03:04:05.678Z``."""
    dt = datetime.fromtimestamp(msec / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def http_date(msec: int) -> str:
    """RFC 7231 date for Last-Modified headers."""
    dt = datetime.fromtimestamp(msec // 1000, tz=timezone.utc)
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")
