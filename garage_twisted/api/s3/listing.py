"""ListObjects (v1) and ListObjectsV2 over the object table.

The walk reads the bucket's partition in sort-key order in batches, keeping
only objects with visible data. With a delimiter, a key that contains it after
the prefix is folded into a common prefix, and the walk jumps past every key
sharing that prefix (one range read, not one read per key). Continuation
tokens are opaque: URL-safe base64 of the key to resume *after*. The same
walk lists pending multipart uploads (multipart.py), several per key.

What the client sent (Prefix, Delimiter, Marker, StartAfter,
ContinuationToken) comes back as sent, XML-escaped; with
``encoding-type=url`` URL-encoded where AWS encodes it (and botocore, which
always asks for it, decodes it): never the Prefix of a v1 listing, never a
continuation token.
"""

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import quote

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.xml import document, element, iso8601, text
from garage_twisted.model.object import FILTER_IS_DATA
from garage_twisted.table.data import prefix_end

DEFAULT_MAX_KEYS = 1000
BATCH = 1002


def encode_token(after: str) -> str:
    """An opaque continuation token resuming after ``after``."""
    return base64.urlsafe_b64encode(after.encode()).decode()


def decode_token(token: str) -> str:
    """What :func:`encode_token` encoded; InvalidArgument if it is not one."""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, ValueError):
        raise errors.InvalidArgument("The continuation token provided is incorrect") from None


@dataclass
class ListingResult:
    contents: list = field(default_factory=list)  # (key, entry)
    common_prefixes: list = field(default_factory=list)
    truncated: bool = False
    last_returned: str | None = None  # key or common prefix, for markers
    # The entry last listed, if the page ends on a key (not a common prefix).
    last_entry: object = None


def _data_entries(obj) -> list:
    return [obj.last_data_version()]


async def walk(ctx: RequestContext, prefix: str, delimiter: str | None,
               max_keys: int, after: str | None, *, entry_filter=FILTER_IS_DATA,
               entries=_data_entries, resume=None) -> ListingResult:
    """Collect up to ``max_keys`` entries and common prefixes after ``after``.

    Each row of the object table read (those ``entry_filter`` keeps) gives
    the entries ``entries(obj)`` (by default its current data version; a
    multipart listing gives its pending uploads, possibly none), each
    counting towards ``max_keys``. The key ``after`` itself is skipped
    unless ``resume`` is given: then ``resume(obj)`` gives the entries of
    that key still to list (a page may end inside a key's uploads).
    """
    table = ctx.api.model.object_table
    result = ListingResult()
    if max_keys == 0:
        # As S3: an empty page that is not truncated (there is no next
        # page to point at).
        return result
    prefix_bytes = prefix.encode()
    cursor = prefix_bytes
    exclusive = resume_key = None
    if after is not None and after.encode() >= cursor:
        cursor = after.encode()
        if resume is None:
            exclusive = cursor
        else:
            resume_key = cursor
        if delimiter and after.endswith(delimiter) and len(after) > len(prefix):
            # Resuming after a common prefix: skip every key under it.
            end = prefix_end(cursor)
            if end is None:
                return result
            cursor, exclusive, resume_key = end, None, None
    while True:
        # Enough rows for the page in one read: what is missing, plus the
        # key resumed after (skipped) and one more (tells if truncated).
        wanted = max_keys - len(result.contents) - len(result.common_prefixes)
        limit = max(2, min(BATCH, wanted + 2))
        batch = await table.get_range(ctx.bucket_id, cursor, entry_filter, limit=limit)
        if not batch:
            return result
        jumped = False
        for obj in batch:
            key_bytes = obj.key.encode()
            if exclusive is not None and key_bytes <= exclusive:
                continue
            if not key_bytes.startswith(prefix_bytes):
                return result
            if delimiter:
                found = obj.key.find(delimiter, len(prefix))
                if found >= 0:
                    if len(result.contents) + len(result.common_prefixes) >= max_keys:
                        result.truncated = True
                        return result
                    common = obj.key[: found + len(delimiter)]
                    result.common_prefixes.append(common)
                    result.last_returned, result.last_entry = common, None
                    end = prefix_end(common.encode())
                    if end is None:
                        return result
                    cursor, exclusive, jumped = end, None, True
                    break
            listed = resume(obj) if key_bytes == resume_key else entries(obj)
            for entry in listed:
                if len(result.contents) + len(result.common_prefixes) >= max_keys:
                    result.truncated = True
                    return result
                result.contents.append((obj.key, entry))
                result.last_returned, result.last_entry = obj.key, entry
        if not jumped:
            if len(batch) < limit:
                return result
            cursor = batch[-1].key.encode()
            exclusive = cursor


def max_keys_of(query) -> int:
    raw = query.get("max-keys")
    if raw is None:
        return DEFAULT_MAX_KEYS
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidArgument("max-keys must be an integer") from None
    if value < 0:
        raise errors.InvalidArgument("max-keys must be positive")
    return min(value, DEFAULT_MAX_KEYS)


def encoder(query):
    """The function rendering a key-like value: as is, or URL-encoded with
    ``encoding-type=url``; InvalidArgument for another encoding."""
    encoding = query.get("encoding-type")
    if encoding is None:
        return lambda s: s
    if encoding != "url":
        raise errors.InvalidArgument("Invalid Encoding Method specified in Request")
    return lambda s: quote(s, safe="/")


def _contents_xml(contents, enc, owner=None) -> list:
    # One f-string per key: a page renders a thousand of them.
    tail = f"<StorageClass>STANDARD</StorageClass>{owner or ''}</Contents>"
    parts = []
    for key, version in contents:
        meta = version.data.meta
        etag = text(f'"{meta.etag}"')
        parts.append(
            f"<Contents><Key>{text(enc(key))}</Key>"
            f"<LastModified>{iso8601(version.timestamp)}</LastModified>"
            f"<ETag>{etag}</ETag>"
            f"<Size>{int(meta.size)}</Size>{tail}"
        )
    return parts


def _prefixes_xml(prefixes, enc) -> list:
    return ["<CommonPrefixes>" + element("Prefix", enc(p)) + "</CommonPrefixes>"
            for p in prefixes]


def owner_xml(ctx, name: str = "Owner") -> str:
    key = ctx.api_key
    if key is None:
        # An anonymous listing (a public bucket): no key to name.
        return f"<{name}>" + element("ID", "") + element("DisplayName", "") + f"</{name}>"
    return (f"<{name}>" + element("ID", key.key_id)
            + element("DisplayName", key.params.name.value) + f"</{name}>")


async def list_objects_v2(ctx: RequestContext) -> bytes:
    query = ctx.endpoint.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    max_keys = max_keys_of(query)
    enc = encoder(query)
    token = query.get("continuation-token")
    start_after = query.get("start-after")
    after = start_after
    if token is not None:
        after = decode_token(token)
    result = await walk(ctx, prefix, delimiter, max_keys, after)
    owner = owner_xml(ctx) if query.get("fetch-owner") == "true" else None
    parts = [
        element("Name", ctx.endpoint.bucket), element("Prefix", enc(prefix)),
    ]
    if start_after is not None:
        parts.append(element("StartAfter", enc(start_after)))
    if token is not None:
        parts.append(element("ContinuationToken", token))
    if result.truncated:
        next_token = encode_token(result.last_returned)
        parts.append(element("NextContinuationToken", next_token))
    parts.append(element("KeyCount", len(result.contents) + len(result.common_prefixes)))
    parts.append(element("MaxKeys", max_keys))
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if "encoding-type" in query:
        parts.append(element("EncodingType", "url"))
    parts.append(element("IsTruncated", "true" if result.truncated else "false"))
    parts += _contents_xml(result.contents, enc, owner)
    parts += _prefixes_xml(result.common_prefixes, enc)
    return respond(ctx.request, document("ListBucketResult", parts))


async def list_objects_v1(ctx: RequestContext) -> bytes:
    query = ctx.endpoint.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    max_keys = max_keys_of(query)
    enc = encoder(query)
    marker = query.get("marker")
    result = await walk(ctx, prefix, delimiter, max_keys, marker)
    parts = [
        # The Prefix of a v1 listing is never URL-encoded: AWS sends it as
        # given, and botocore (which asks for encoding-type=url on every
        # listing) decodes only Delimiter, Marker, NextMarker and keys.
        element("Name", ctx.endpoint.bucket), element("Prefix", prefix),
        element("Marker", enc(marker or "")), element("MaxKeys", max_keys),
    ]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if "encoding-type" in query:
        parts.append(element("EncodingType", "url"))
    parts.append(element("IsTruncated", "true" if result.truncated else "false"))
    if result.truncated and delimiter:
        parts.append(element("NextMarker", enc(result.last_returned)))
    parts += _contents_xml(result.contents, enc, owner_xml(ctx))
    parts += _prefixes_xml(result.common_prefixes, enc)
    return respond(ctx.request, document("ListBucketResult", parts))
