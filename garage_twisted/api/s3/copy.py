"""CopyObject: a new version that shares the source's blocks.

``PUT /bucket/key`` with ``x-amz-copy-source: [/]srcbucket/srckey[?versionId=]``
(URL-encoded). The key needs read on the source bucket and write on the
destination. No data is copied: the new version lists the source's blocks,
and its ``block_ref`` rows take references on them (so deleting the source
later frees nothing the copy uses). An inline source is copied inline.

``x-amz-metadata-directive``: ``COPY`` (default; the source's headers) or
``REPLACE`` (this request's); ``x-amz-tagging-directive`` likewise for the
tags (``REPLACE`` takes ``x-amz-tagging``). Copying an object onto itself needs
``REPLACE``, as S3 requires. ``x-amz-copy-source-if-*`` conditions are
evaluated on the source (412 PreconditionFailed). The ETag is the source's
(same bytes).

Encryption: the destination is encrypted as this request (or the
destination bucket's default) asks, whatever the source was. Between two
SSE-S3 objects the blocks are shared and so is the data key, wrapped anew
with the current master key (copying an object onto itself with
``x-amz-server-side-encryption`` moves it to the current key: rotation).
Any other copy where either side is encrypted decrypts and stores the
bytes anew (blocks cannot be shared between keys).

The copy is written as an upload is: an "uploading" version with its rows
and its blocks' references, then "complete", above any version completed
meanwhile (the last write to complete wins, ``put.publish``); a failure
aborts it, so a half-made copy is never visible.
"""

from urllib.parse import unquote

from garage_twisted.api.s3 import errors, preconditions, sse_s3, tagging, version_fields
from garage_twisted.api.s3.body_digests import BodyChecks
from garage_twisted.api.s3.context import READ, RequestContext, respond
from garage_twisted.api.s3.encryption import COPY_PREFIX, key_for_read, key_for_write
from garage_twisted.api.s3.metadata import extract_object_headers
from garage_twisted.api.s3.put import (
    check_quotas, publish_inline, publish_rows, store_object,
)
from garage_twisted.api.s3.versioning import check_version_id, set_version_header
from garage_twisted.api.s3.xml import document, element, iso8601
from garage_twisted.model.object import (
    DATA_INLINE, ObjectVersion, ObjectVersionData, ObjectVersionMeta, version_id_of,
)
from garage_twisted.model.version import Version


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """``(bucket, key, version id or None)`` of an ``x-amz-copy-source``."""
    path, _, query = value.partition("?")
    path = unquote(path).lstrip("/")
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise errors.InvalidArgument("x-amz-copy-source must be /bucket/key (URL-encoded)")
    version_id = None
    for pair in query.split("&") if query else []:
        name, _, val = pair.partition("=")
        if name == "versionId":
            version_id = unquote(val)
    return bucket, key, version_id


async def source_version(ctx: RequestContext, header: str):
    """``(bucket id, key, object version)`` of a copy source the key may read,
    after its ``x-amz-copy-source-if-*`` conditions."""
    bucket_name, key, version_id = parse_copy_source(header)
    if version_id is not None:
        check_version_id(version_id, "x-amz-copy-source")
    bucket_id, _ = await ctx.api.bucket_for(ctx, bucket_name, READ, "CopySource", key,
                                            version_id)
    obj = await ctx.api.model.object_table.get(bucket_id, key.encode())
    if version_id is None:
        version = None if obj is None else obj.last_data_version()
        if version is None:
            raise errors.NoSuchKey("The specified key does not exist.", extra={"Key": key})
    else:
        version = None if obj is None else obj.find_version(version_id)
        if version is None:
            raise errors.NoSuchVersion("The specified version does not exist.",
                                       extra={"Key": key, "VersionId": version_id})
        if not version.is_data:
            raise errors.InvalidRequest("The source of a copy request may not specifically "
                                        "refer to a delete marker by version id.")
    outcome = preconditions.evaluate(ctx.header, version.data.meta.etag, version.timestamp,
                                  prefix="x-amz-copy-source-")
    if outcome is not None:
        raise errors.PreconditionFailed("At least one of the pre-conditions you specified "
                                        "did not hold")
    return bucket_id, key, version


async def copy_object(ctx: RequestContext) -> bytes:
    dest_key = ctx.endpoint.key
    if len(dest_key.encode()) > 1024:
        raise errors.KeyTooLongError("object keys are at most 1024 bytes")
    src_bucket, src_key, src = await source_version(ctx, ctx.header(b"x-amz-copy-source"))
    directive = (ctx.header(b"x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE")
    # Onto itself unchanged: refused, unless a version is named (restoring
    # an older version by copying it over the key, as AWS documents) or the
    # encryption is given (encrypting an object in place, as AWS allows).
    if directive == "COPY" and src_bucket == ctx.bucket_id and src_key == dest_key and \
            parse_copy_source(ctx.header(b"x-amz-copy-source"))[2] is None and \
            ctx.header(b"x-amz-server-side-encryption") is None:
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.")
    tag_directive = (ctx.header(b"x-amz-tagging-directive") or "COPY").upper()
    if tag_directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("Unknown tagging directive.")
    tags = src.tag_set if tag_directive == "COPY" else \
        tagging.from_header(ctx.header(b"x-amz-tagging")) or ()
    meta = src.data.meta
    version_fields.prepare_write(ctx)
    await check_quotas(ctx, dest_key, meta.size)
    headers = meta.headers if directive == "COPY" else extract_object_headers(ctx.request)
    src_sse = key_for_read(ctx, meta, COPY_PREFIX)
    dest_sse = key_for_write(ctx)
    if isinstance(src_sse, sse_s3.ManagedKey) and isinstance(dest_sse, sse_s3.ManagedKey):
        # Both SSE-S3: the source's blocks under its own data key, wrapped
        # anew (the fresh key key_for_write made is not used).
        dest_sse = sse_s3.keyring_of(ctx).rewrap(src_sse)
    elif src_sse is not None or dest_sse is not None:
        # Encrypted on one side: the bytes are decrypted and stored anew
        # (blocks cannot be shared between keys).
        version = await _copy_bytes(ctx, src, src_sse, dest_key, headers, dest_sse, tags)
        for name, value in dest_sse.response_headers() if dest_sse is not None else ():
            ctx.request.setHeader(name, value)
        parts = [element("ETag", f'"{version.data.meta.etag}"'),
                 element("LastModified", iso8601(version.timestamp))]
        _set_copy_headers(ctx, src, version)
        return respond(ctx.request, document("CopyObjectResult", parts))
    new_meta = ObjectVersionMeta(headers, meta.size, meta.etag, meta.checksum,
                                 None if dest_sse is None else dest_sse.meta_value, tags)
    if src.data.kind == DATA_INLINE:
        data = ObjectVersionData(DATA_INLINE, new_meta, inline=src.data.inline)
        version = await publish_inline(ctx, dest_key, data)
    else:
        version = await _copy_blocks(ctx, src, dest_key, new_meta)
    parts = [element("ETag", f'"{meta.etag}"'),
             element("LastModified", iso8601(version.timestamp))]
    for name, value in dest_sse.response_headers() if dest_sse is not None else ():
        ctx.request.setHeader(name, value)
    _set_copy_headers(ctx, src, version)
    return respond(ctx.request, document("CopyObjectResult", parts))


def _set_copy_headers(ctx: RequestContext, src, version) -> None:
    ctx.request.setHeader(b"x-amz-copy-source-version-id", version_id_of(src).encode())
    set_version_header(ctx, version)


async def _source_blocks(ctx, src) -> list:
    if src.data.kind == DATA_INLINE:
        return []
    record = await ctx.api.model.version_table.get(src.uuid, b"")
    if record is None or record.deleted.value:
        raise errors.NoSuchKey("The source object was deleted during the copy.")
    return record.sorted_blocks()


async def _copy_bytes(ctx, src, src_sse, dest_key, headers, dest_sse, tags):
    size = src.data.meta.size
    reader = _SourceReader(ctx, src, await _source_blocks(ctx, src), 0, size - 1, src_sse)
    return await store_object(ctx, dest_key, headers, BodyChecks(), reader, sse=dest_sse,
                              tags=tags)


async def _copy_blocks(ctx, src, dest_key, new_meta) -> ObjectVersion:
    """A new version of ``dest_key`` made of ``src``'s blocks, published
    above every version completed before it (``put.publish``)."""
    model = ctx.api.model
    record = await model.version_table.get(src.uuid, b"")
    if record is None or record.deleted.value:
        raise errors.NoSuchKey("The source object was deleted during the copy.")
    rows = Version.new(b"", ctx.bucket_id, dest_key)
    for (part, offset), block in record.sorted_blocks():
        rows = rows.with_block(part, offset, block)
    for part, value in record.part_checksums.items():
        rows = rows.with_part_checksum(part, value)
    return await publish_rows(ctx, dest_key, rows, new_meta, src.data.first_block)


def parse_copy_range(value: str | None, size: int) -> tuple[int, int]:
    """``(first, last)`` byte of ``x-amz-copy-source-range: bytes=first-last``
    (the whole object without the header)."""
    if value is None:
        return 0, size - 1
    unit, _, spec = value.partition("=")
    first, dash, last = spec.partition("-")
    try:
        if unit.strip() != "bytes" or not dash:
            raise ValueError
        first, last = int(first), int(last)
    except ValueError:
        raise errors.InvalidArgument(
            "x-amz-copy-source-range must be bytes=first-last") from None
    if first > last or last >= size:
        raise errors.InvalidRange("The requested range is not satisfiable",
                                  extra={"ActualObjectSize": str(size)})
    return first, last


class _SourceReader:
    """The bytes ``first..last`` of a source version, one block at a time
    (a ``PayloadReader``-like ``read()``, so they go through the chunker)."""

    def __init__(self, ctx, version, blocks, first: int, last: int, sse=None):
        self.ctx = ctx
        self.version = version
        self.sse = sse
        self.trailers = {}
        self.first, self.last = first, last
        self.pieces = []
        position = 0
        for _, block in blocks:
            start, end = position, position + block.size - 1
            position += block.size
            if end >= first and start <= last:
                self.pieces.append((block, max(first, start) - start, min(last, end) - start + 1))
        self.inline_done = False

    async def read(self) -> bytes:
        if self.version.data.kind == DATA_INLINE:
            if self.inline_done:
                return b""
            self.inline_done = True
            inline = self.version.data.inline
            if self.sse is not None:
                inline = self.sse.decrypt(inline)
            return inline[self.first:self.last + 1]
        if not self.pieces:
            return b""
        block, lo, hi = self.pieces.pop(0)
        decrypt = None if self.sse is None else self.sse.decrypt
        data = await self.ctx.api.block_manager.get_block(block.hash, block.size, decrypt)
        return data if lo == 0 and hi == len(data) else data[lo:hi]


async def upload_part_copy(ctx: RequestContext) -> bytes:
    """UploadPartCopy: a part made of a range of another object's bytes.

    The range is read block by block and stored as this part's own blocks
    (identical blocks dedup on the nodes). The ETag is the part's MD5."""
    from garage_twisted.api.s3.multipart import record_part

    _, _, src = await source_version(ctx, ctx.header(b"x-amz-copy-source"))
    src_sse = key_for_read(ctx, src.data.meta, COPY_PREFIX)
    size = src.data.meta.size
    if size == 0:
        first, last = 0, -1
    else:
        first, last = parse_copy_range(ctx.header(b"x-amz-copy-source-range"), size)
    reader = _SourceReader(ctx, src, await _source_blocks(ctx, src), first, last, src_sse)
    # record_part names the upload's encryption in the answer, as AWS.
    etag, timestamp, checksum = await record_part(ctx, reader)
    ctx.request.setHeader(b"x-amz-copy-source-version-id", version_id_of(src).encode())
    parts = [element("ETag", f'"{etag}"'), element("LastModified", iso8601(timestamp))]
    if checksum is not None:
        parts.append(element(checksum[0].xml_element, checksum[1]))
    return respond(ctx.request, document("CopyPartResult", parts))
