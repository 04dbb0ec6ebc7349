"""Rendering of S3 XML responses, and small helpers to read request documents.

Responses are built as strings with explicit escaping rather than through an
element tree: listings of a thousand keys are on the hot path, and the shapes
are fixed. Request bodies are parsed with defusedxml (:func:`parse_document`,
:func:`safe_fromstring`), imported with the first body to parse (0.6 MB of
an idle node's memory, with ElementTree); element names are compared without their namespace (clients send the S3
namespace or none).
"""

import functools
import re
import time
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from garage_twisted.api.s3 import errors

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>'


# The control characters XML 1.0 cannot carry as is (S3 keys may contain
# them), written as character references: a carriage return (which a parser
# reads as a newline when raw) survives so; those XML 1.0 has no character
# for at all (all of C0 but tab, newline and CR) only a client asking for
# encoding-type=url can read, as AWS documents. With markup, what character
# data cannot carry as is.
_CONTROL_CHARS = "\x00-\x08\x0b-\x1f"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
_SPECIAL = re.compile(f"[&<>{_CONTROL_CHARS}]")


def text(value) -> str:
    """Escape a value for XML character data (including control characters
    that XML 1.0 cannot carry, which S3 keys may contain)."""
    s = str(value)
    if _SPECIAL.search(s) is None:
        return s  # the usual case, found by one scan in C
    return _CONTROL.sub(lambda m: f"&#x{ord(m.group()):X};", escape(s))


def element(name: str, value) -> str:
    return f"<{name}>{text(value)}</{name}>"


def document(root: str, parts) -> bytes:
    """A complete XML document with the S3 namespace on ``root``."""
    return (
        f'{XML_HEADER}<{root} xmlns="{S3_NAMESPACE}">' + "".join(parts) + f"</{root}>"
    ).encode("utf-8")


def iso8601(msec: int) -> str:
    """S3's timestamp format in listings: ``2024-01-02T03:04:05.678Z``."""
    seconds, millis = divmod(int(msec), 1000)
    return f"{_utc_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    # Cached: keys written together share their second, and a listing
    # renders a thousand of them.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def http_date(msec: int) -> str:
    """RFC 7231 date for Last-Modified headers."""
    return _http_date_of_second(int(msec) // 1000)


@functools.lru_cache(maxsize=4096)
def _http_date_of_second(seconds: int) -> str:
    # Cached: every GET and HEAD formats one, mostly of the same objects.
    dt = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


def safe_fromstring(body: bytes):
    """defusedxml's ``ElementTree.fromstring``: the root element of
    ``body``, refusing entities and DTDs.

    :raises Exception: what defusedxml or the parser raises.
    """
    import defusedxml.ElementTree

    return defusedxml.ElementTree.fromstring(body)


def parse_document(body: bytes, root: str):
    """The root element of a request document, which must be ``<root>``.

    :raises errors.MalformedXML: not well-formed, or another root.
    """
    try:
        node = safe_fromstring(body)
    except Exception:
        raise errors.MalformedXML("The XML you provided was not well-formed") from None
    if local_name(node.tag) != root:
        raise errors.MalformedXML(f"expected a <{root}> document")
    return node


def local_name(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def children(node) -> dict:
    """Child elements by local name (the last one of a repeated name)."""
    return {local_name(c.tag): c for c in node}
