"""Conditional requests (RFC 7232) on an object's ETag and Last-Modified.

GET and HEAD honour ``If-Match``, ``If-Unmodified-Since``, ``If-None-Match``
and ``If-Modified-Since`` in the RFC's order (section 6): a failed
``If-Match`` (or, without it, ``If-Unmodified-Since``) answers 412; then a
matching ``If-None-Match`` (or, without it, a not-modified
``If-Modified-Since``) answers 304. CopyObject's ``x-amz-copy-source-if-*``
headers follow the same order, every failure being 412, as S3.

Dates have a one-second resolution (``Last-Modified`` is sent in seconds);
an unparsable date is ignored, as the RFC says.
"""

from email.utils import parsedate_to_datetime

NOT_MODIFIED = 304
PRECONDITION_FAILED = 412


def _etags(value: str) -> list:
    return [tag.strip().removeprefix("W/").strip('"') for tag in value.split(",")
            if tag.strip()]


def etag_matches(value: str, etag: str) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list matches ``etag``."""
    tags = _etags(value)
    return "*" in tags or etag in tags


def _seconds(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def evaluate(header, etag: str, last_modified_ms: int, prefix: str = "") -> int | None:
    """``None`` if the request proceeds, else 304 or 412.

    :param header: ``header(name) -> str or None``.
    :param prefix: ``"x-amz-copy-source-"`` for a copy's source conditions
        (then every failure is 412).
    """
    modified = last_modified_ms // 1000
    if_match = header(prefix + "if-match")
    if if_match is not None:
        if not etag_matches(if_match, etag):
            return PRECONDITION_FAILED
    else:
        since = header(prefix + "if-unmodified-since")
        date = None if since is None else _seconds(since)
        if date is not None and modified > date:
            return PRECONDITION_FAILED
    not_modified = NOT_MODIFIED if not prefix else PRECONDITION_FAILED
    if_none_match = header(prefix + "if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            return not_modified
    else:
        since = header(prefix + "if-modified-since")
        date = None if since is None else _seconds(since)
        if date is not None and modified <= date:
            return not_modified
    return None
