"""GetObject and HeadObject: headers, a single Range, streamed blocks.

A GET of a block-stored object reads the version's block list, then fetches
blocks one after the other, keeping at most one block fetched ahead of the
one being written, and waits for the client to drain before fetching more
(so a slow client never makes the node buffer the object). Inline objects
are answered from the object entry. Conditional headers (``If-Match`` & co.)
are evaluated first (:mod:`garage_twisted.api.s3.preconditions`).
"""



from garage_twisted.api.s3 import errors, preconditions
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.encryption import key_for_read
from garage_twisted.api.s3.metadata import header_value
from garage_twisted.api.s3.versioning import find_readable, set_version_header
from garage_twisted.api.s3.xml import http_date, iso8601
from garage_twisted.model.object import DATA_INLINE
from garage_twisted.model.object_lock import has_legal_hold, retention_of

HEADERS_RETURNED = {
    "content-type", "cache-control", "content-disposition", "content-encoding",
    "content-language", "expires", "x-amz-website-redirect-location",
}


async def load_version(ctx: RequestContext):
    """The version of the addressed key the request reads: the one its
    ``versionId`` names, else the latest (``versioning.find_readable``
    says what is answered when there is none)."""
    obj = await ctx.api.model.object_table.get(ctx.bucket_id, ctx.endpoint.key.encode())
    return find_readable(ctx, obj, ctx.endpoint.key)


def parse_range(value: str, size: int):
    """``(start, end_inclusive)`` of a single ``bytes=`` range, or ``None``.

    Invalid or multiple ranges are ignored (the whole object is returned), as
    S3 does; unsatisfiable ones raise InvalidRange.
    """
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                raise errors.InvalidRange("The requested range is not satisfiable",
                                          extra={"ActualObjectSize": str(size)})
            return max(0, size - length), size - 1
        start = int(first)
        end = size - 1 if last == "" else min(int(last), size - 1)
    except ValueError:
        return None
    if start >= size or (last != "" and int(last) < start):
        raise errors.InvalidRange("The requested range is not satisfiable",
                                  extra={"ActualObjectSize": str(size)})
    return start, end


def _checksum_wanted(ctx: RequestContext, meta) -> bool:
    mode = ctx.header(b"x-amz-checksum-mode")
    return meta.checksum is not None and mode is not None and mode.upper() == "ENABLED" \
        and ctx.header(b"range") is None


def _set_checksum_header(ctx: RequestContext, meta) -> None:
    """The stored ``x-amz-checksum-*``, when asked for, of what is sent: a
    client checks the body it gets against it. One part of a multipart
    object gets its part's (:func:`_set_part_checksum_header`)."""
    if _checksum_wanted(ctx, meta) and \
            ("partNumber" not in ctx.endpoint.query or "-" not in meta.etag):
        name, value = meta.checksum[:2]
        ctx.request.setHeader(name.encode(), value.encode())
        ctx.request.setHeader(b"x-amz-checksum-type", meta.checksum_type.encode())


def _set_part_checksum_header(ctx: RequestContext, meta, value: str | None) -> None:
    """``value``, the checksum of the part asked for by ``partNumber``."""
    if value is not None and _checksum_wanted(ctx, meta):
        ctx.request.setHeader(meta.checksum[0].encode(), value.encode())
        ctx.request.setHeader(b"x-amz-checksum-type", meta.checksum_type.encode())


def _set_object_headers(request, version, meta, sse=None):
    for name, value in sse.response_headers() if sse is not None else ():
        request.setHeader(name, value)
    request.setHeader(b"etag", f'"{meta.etag}"'.encode())
    request.setHeader(b"last-modified", http_date(version.timestamp).encode())
    request.setHeader(b"accept-ranges", b"bytes")
    for name, value in meta.headers:
        if name in HEADERS_RETURNED or name.startswith("x-amz-meta-"):
            request.setHeader(name.encode("latin-1"), header_value(value))
    tags = version.tag_set
    if tags:
        request.setHeader(b"x-amz-tagging-count", b"%d" % len(tags))
    retention = retention_of(version)
    if retention is not None:
        request.setHeader(b"x-amz-object-lock-mode", retention[0].encode())
        request.setHeader(b"x-amz-object-lock-retain-until-date",
                          iso8601(retention[1]).encode())
    if version.legal_hold is not None:
        request.setHeader(b"x-amz-object-lock-legal-hold",
                          b"ON" if has_legal_hold(version) else b"OFF")


def _apply_overrides(ctx: RequestContext):
    """``response-content-type`` & co. (only honoured on signed requests)."""
    for param, header in (
        ("response-content-type", b"content-type"),
        ("response-content-language", b"content-language"),
        ("response-expires", b"expires"),
        ("response-cache-control", b"cache-control"),
        ("response-content-disposition", b"content-disposition"),
        ("response-content-encoding", b"content-encoding"),
    ):
        value = ctx.endpoint.query.get(param)
        if value is not None:
            ctx.request.setHeader(header, value.encode("utf-8"))


def _conditions(ctx: RequestContext, version, meta) -> bytes | None:
    """The 304 answer (headers set), or ``None`` to go on; raises 412."""
    outcome = preconditions.evaluate(ctx.header, meta.etag, version.timestamp)
    if outcome == preconditions.PRECONDITION_FAILED:
        raise errors.PreconditionFailed("At least one of the pre-conditions you specified "
                                        "did not hold")
    if outcome == preconditions.NOT_MODIFIED:
        request = ctx.request
        request.setResponseCode(304)
        request.setHeader(b"etag", f'"{meta.etag}"'.encode())
        request.setHeader(b"last-modified", http_date(version.timestamp).encode())
        return b""
    return None


async def version_record(ctx: RequestContext, version):
    """The block list of a complete object version, or ``None`` if deleted.

    A complete version's block list never changes; if this node's replica
    lists blocks adding up to the object's size, it is the whole list and
    no quorum read is needed (a GET then costs one round trip, for the
    object entry). A partial replica (it missed a write) is read at quorum.
    """
    local = ctx.api.model.version_table.data.read_entry(version.uuid, b"")
    if local is not None and not local.deleted.value and \
            sum(block.size for _, block in local.sorted_blocks()) == version.data.meta.size:
        return local
    record = await ctx.api.model.version_table.get(version.uuid, b"")
    if record is None or record.deleted.value:
        return None
    return record


# How many times a read follows the key to a newer version, when the one it
# found was replaced, and its block list deleted, before it could read it.
RELOAD_ATTEMPTS = 3


async def readable_version(ctx: RequestContext, version):
    """``(version, block list)`` of what the request reads; the block list is
    ``None`` for inline data.

    Between reading the object entry and reading the version's block list, a
    newer complete version may replace the one found and its rows be deleted.
    The key is then read again: what it holds now is newer still, so the
    answer keeps read-after-write (a NoSuchKey here would deny a write the
    client saw acknowledged). ``ctx.endpoint.key`` is the key ``version``
    was read from (a website's page or error document too).
    """
    for _ in range(RELOAD_ATTEMPTS):
        if version.data.kind == DATA_INLINE:
            return version, None
        record = await version_record(ctx, version)
        if record is not None:
            return version, record
        version = await load_version(ctx)
    raise errors.NoSuchKey("The specified key does not exist.",
                           extra={"Key": ctx.endpoint.key})


async def _readable_again(ctx: RequestContext, version):
    """:func:`readable_version`, and the conditions checked again if that moved to
    a newer version: ``(version, block list, not-modified answer or None)``."""
    readable, record = await readable_version(ctx, version)
    if readable is version:
        return version, record, None
    return readable, record, _conditions(ctx, readable, readable.data.meta)


async def _part_range(ctx: RequestContext, version, record):
    """``(first byte, last byte, number of parts, part checksum or None)`` of
    ``?partNumber=N``, or ``None`` without it. A non-multipart object has one
    part, the whole; its number of parts is ``None`` (AWS sends
    ``x-amz-mp-parts-count`` for multipart objects only). A part the object
    does not have is 416 InvalidPartNumber, as AWS answers."""
    raw = ctx.endpoint.query.get("partNumber")
    if raw is None:
        return None
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= 10000:
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, "
                                     "inclusive")
    if ctx.header(b"range") is not None:
        raise errors.InvalidRequest("Cannot specify both Range header and partNumber query "
                                    "parameter")
    size = version.data.meta.size
    if version.data.kind == DATA_INLINE or "-" not in version.data.meta.etag:
        if number != 1:
            raise errors.InvalidPartNumber("The requested partnumber is not satisfiable",
                                           extra={"PartNumberRequested": str(number),
                                                  "ActualPartCount": "1"})
        return 0, size - 1, None, None
    sizes = record.part_sizes()
    if number not in sizes:  # the numbers the parts were uploaded with, as Garage
        raise errors.InvalidPartNumber("The requested partnumber is not satisfiable",
                                       extra={"PartNumberRequested": str(number),
                                              "ActualPartCount": str(len(sizes))})
    start = sum(size for part, size in sizes.items() if part < number)
    return (start, start + sizes[number] - 1, len(sizes),
            record.part_checksums.get(number))


def _set_part_headers(ctx: RequestContext, meta, part) -> int:
    """Headers of a ``?partNumber=`` answer; its status. An empty object's
    one part is empty: 200 without Content-Range (no byte range exists)."""
    start, end, count, part_checksum = part
    request = ctx.request
    if count is not None:
        request.setHeader(b"x-amz-mp-parts-count", b"%d" % count)
    _set_part_checksum_header(ctx, meta, part_checksum)
    if end < start:
        return 200
    request.setHeader(b"content-range", f"bytes {start}-{end}/{meta.size}".encode())
    return 206


async def head_object(ctx: RequestContext, version=None) -> bytes:
    version = version if version is not None else await load_version(ctx)
    not_modified = _conditions(ctx, version, version.data.meta)
    if not_modified is not None:
        return not_modified
    record = None
    if ctx.endpoint.query.get("partNumber") is not None and "-" in version.data.meta.etag:
        # A multipart object's part bounds come from its block list.
        version, record, not_modified = await _readable_again(ctx, version)
        if not_modified is not None:
            return not_modified
    meta = version.data.meta
    request = ctx.request
    # Every check before the first header: an error answers with error
    # headers only (the S3 front end strips the others anyway).
    sse = key_for_read(ctx, meta)
    part = await _part_range(ctx, version, record)
    _set_object_headers(request, version, meta, sse)
    set_version_header(ctx, version)
    _set_checksum_header(ctx, meta)
    _apply_overrides(ctx)
    if part is not None:
        start, end = part[:2]
        request.setResponseCode(_set_part_headers(ctx, meta, part))
        request.setHeader(b"content-length", b"%d" % max(0, end - start + 1))
        return b""
    request.setResponseCode(200)
    request.setHeader(b"content-length", b"%d" % meta.size)
    return b""


async def get_object(ctx: RequestContext, status: int | None = None, version=None):
    """GetObject; ``status`` forces the answer's status (a website's error
    document is sent with 404), ``version`` skips loading it again."""
    version = version if version is not None else await load_version(ctx)
    # Conditions first: a 304 or 412 costs no block-list read.
    not_modified = _conditions(ctx, version, version.data.meta)
    if not_modified is not None:
        return not_modified
    version, record, not_modified = await _readable_again(ctx, version)
    if not_modified is not None:
        return not_modified
    meta = version.data.meta
    request = ctx.request
    # Every check before the first header (see head_object).
    sse = key_for_read(ctx, meta)
    size = meta.size
    byte_range = None
    range_header = ctx.header(b"range")
    part = None if status is not None else await _part_range(ctx, version, record)
    if range_header is not None and status is None:
        byte_range = parse_range(range_header, size)
    _set_object_headers(request, version, meta, sse)
    set_version_header(ctx, version)
    _set_checksum_header(ctx, meta)
    _apply_overrides(ctx)
    if part is not None:
        start, end = part[:2]
        status = _set_part_headers(ctx, meta, part)
    elif byte_range is None:
        start, end, status = 0, size - 1, status or 200
    else:
        start, end = byte_range
        status = 206
        request.setHeader(b"content-range", f"bytes {start}-{end}/{size}".encode())
    if version.data.kind == DATA_INLINE:
        inline = version.data.inline if sse is None else sse.decrypt(version.data.inline)
        return respond(request, inline[start:end + 1], status, content_type=None)
    request.setResponseCode(status)
    request.setHeader(b"content-length", b"%d" % (end - start + 1))
    if end < start:
        return b""
    await _stream_blocks(ctx, record, start, end, sse)
    return None


# How many blocks a GET reads ahead of what it sends.
READ_AHEAD = 2


async def _stream_blocks(ctx: RequestContext, record, start: int, end: int, sse=None):
    wanted = []
    position = 0
    for (_, _), block in record.sorted_blocks():
        block_start, block_end = position, position + block.size - 1
        position += block.size
        if block_end < start or block_start > end:
            continue
        wanted.append((block, max(start, block_start) - block_start,
                       min(end, block_end) - block_start + 1))
    manager = ctx.api.block_manager
    if sse is None:
        get_block = manager.get_block
    else:
        # Decrypted in the pool thread that reads and checks the block.
        def get_block(hash_, size):
            return manager.get_block(hash_, size, sse.decrypt)
    if len(wanted) == 1:
        # One block (small objects): no need to follow the client's pace.
        block, lo, hi = wanted[0]
        data = await get_block(block.hash, block.size)
        ctx.request.write(data if lo == 0 and hi == len(data) else data[lo:hi])
        return
    streamer = ctx.api.make_streamer(ctx.request)
    # Blocks read ahead of the one being sent: their reads and hash checks
    # run on pool threads side by side (one thread would verify at ~1 ms/MiB,
    # slower than loopback sends), at the price of this many MiB in memory.
    ahead = []
    following = iter(wanted)

    def read_next():
        item = next(following, None)
        if item is not None:
            block, lo, hi = item
            ahead.append((get_block(block.hash, block.size), lo, hi))

    try:
        for _ in range(READ_AHEAD):
            read_next()
        while ahead:
            pending, lo, hi = ahead.pop(0)
            data = await pending
            read_next()
            piece = data if lo == 0 and hi == len(data) else data[lo:hi]
            await streamer.write(piece)
    finally:
        streamer.close()
        for pending, _, _ in ahead:
            pending.addErrback(lambda _: None)
            pending.cancel()
