"""PutObject: stream a request body into blocks, then publish the version.

Order of writes, so that a crash or a client that goes away never exposes a
partial object and never leaks a block:

1. at once, without waiting for one another: the object gets a new
   *uploading* version (invisible to readers), and per batch of blocks the
   version's block list, the ``block_ref`` rows (which take the references)
   and the block files (a block written before its reference is held by the
   block manager's deletion delay);
2. once the whole body is read, every digest verified and all of the above
   acknowledged by a write quorum, the version becomes *complete*; on any
   error it becomes *aborted* instead, which releases the blocks through the
   table cascades.

Versions are ordered by timestamp, and the upload that *completes* last
wins (as AWS: two overlapping PUTs of one key leave the one that returned
last). A version's timestamp must end above every complete version of the
key acknowledged before the upload completed (read-after-write, even with
skewed clocks). It is not read first: the upload takes ``now`` (above this
node's own copy of the key), and the writes of step 1 and of step 2 answer,
in the same round trip, what the write quorum holds
(``Table.insert_and_read``), which includes every write acknowledged
before. If a complete version there is above ours (our version is then
gone from the answer: the merge drops what is older than the newest
complete version), the upload moves to a new version just above the newest
complete one (:func:`renew_version`: new rows, then the entry) and
completes that. Uploading versions are not in the way: one that started
after ours and completes after it still wins. So a small object costs two
round trips (one when stored inline), not five.

A version dropped that way while its upload runs has released its blocks'
references: they are taken again under the new version within
``BLOCK_GC_DELAY_MS``, or the upload fails (503) rather than publish
blocks that may be gone (:data:`RENEW_WITHIN_MS`).

Bodies under ``INLINE_THRESHOLD`` bytes are stored inside the object entry.
Large bodies are hashed (MD5 for the ETag, BLAKE3 for block names, SHA-256
or a ``x-amz-checksum-*`` when the client asked) in the I/O thread pool, one
block at a time, while the next block is still arriving.
"""

import secrets
from dataclasses import replace

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.s3 import conditional_writes, errors, tagging, version_fields
from garage_twisted.api.s3.body import PayloadReader, iter_blocks
from garage_twisted.api.s3.body_digests import BodyChecks
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.encryption import key_for_write, plain_block_size, random_etag
from garage_twisted.api.s3.metadata import extract_object_headers
from garage_twisted.api.s3.versioning import set_version_header
from garage_twisted.block.data import DataBlock, block_hash
from garage_twisted.block.manager import BLOCK_GC_DELAY_MS
from garage_twisted.model.block_ref import BlockRef
from garage_twisted.model.object import (
    NULL_VERSION_ID, DATA_FIRST_BLOCK, DATA_INLINE, INLINE_THRESHOLD, STATE_ABORTED, STATE_COMPLETE,
    STATE_UPLOADING, Object, ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.model.small_put import MAX_SMALL
from garage_twisted.model.version import Version, VersionBlock
from garage_twisted.util.crdt import Bool
from garage_twisted.util.time import now_msec

log = Logger()

# Blocks sent to their nodes together, at the price of holding this many
# in memory, with the writes in flight.
# Bursts cost less CPU per byte on every node than a steady trickle (more
# frames per wake-up), and sending each block as soon as it was named was
# slower. Groups of 8 were faster than 4 once (134-141 against 128-131
# MB/s, three nodes on one machine) but no longer are since peer messages
# are gathered into one system call, and they cost 12-15 MiB more at the
# peak of four concurrent 64 MiB uploads (issue 28's third pass); groups
# of 2 cost 6-7 MiB less than 4 there, at the same rates on one node and
# on three (docs/benchmarks.rst, fourth pass).
BLOCKS_PER_GROUP = 2
# The version's block list and the block_ref rows go in batches that grow
# with the upload (4, 4, 8, 16, ... blocks, at most MAX_ROWS_PER_BATCH):
# every node merges each batch into the growing version entry, decoding and
# encoding all of it, so batches of a fixed size made an upload's metadata
# cost grow with the square of its size. Rows hold no block data.
MAX_ROWS_PER_BATCH = 256
# Block writes allowed in flight while the next blocks are hashed.
MAX_WRITES_IN_FLIGHT = 4
MAX_OBJECT_SIZE = 5 * 1024 ** 3
# Blocks up to this size are hashed on the reactor thread: a few
# microseconds of hashing cost less than a round trip to the thread pool.
INLINE_HASH_MAX = 64 * 1024


def new_uuid() -> bytes:
    return secrets.token_bytes(32)


# A version renewed this many times (each time a concurrent write was as
# new) gives up with 503: the key is being overwritten too fast.
RENEW_ATTEMPTS = 4
# An upload may move to a new version only this long after it started: its
# first version may have been dropped (its block references released) as
# soon as it started, and unreferenced blocks are deleted after
# BLOCK_GC_DELAY_MS. Half of it leaves room for slow clocks and queues.
RENEW_WITHIN_MS = BLOCK_GC_DELAY_MS // 2


def provisional_timestamp(ctx: RequestContext, key: str) -> int:
    """``now``, above this node's own copy of ``key`` if it holds one (no
    round trip; the write's answer tells whether it was enough)."""
    now = now_msec(ctx.api.clock)
    local = ctx.api.model.object_table.data.read_entry(ctx.bucket_id, key.encode())
    return now if local is None else max(now, local.max_timestamp() + 1)


def is_kept(seen: Object, uuid: bytes, timestamp: int) -> bool:
    """Whether version ``(timestamp, uuid)`` (not a multipart upload's) is
    still in ``seen`` with no complete version above it. (The merge drops an
    upload below a complete version; a complete version of its own stays
    below newer ones, ``model/object.py``: presence alone is not enough.)"""
    mine = (timestamp, uuid)
    present = False
    for version in seen.versions:
        key = version.cmp_key()
        if key == mine:
            present = True
        elif key > mine and version.is_complete:
            return False
    return present


def above_complete(seen: Object) -> int:
    """The timestamp a version moving above every complete version of
    ``seen`` takes: just above the newest settled one (complete, or deleted
    for good), so that uploads started after it (still uploading, above)
    stay in place."""
    return max((v.timestamp for v in seen.versions if v.is_settled), default=0) + 1


async def next_timestamp(ctx: RequestContext, key: str) -> int:
    """A version timestamp above every existing version of ``key``."""
    existing = await ctx.api.model.object_table.get(ctx.bucket_id, key.encode())
    now = now_msec(ctx.api.clock)
    if existing is None:
        return now
    return max(now, existing.max_timestamp() + 1)


async def put_object(ctx: RequestContext) -> bytes:
    key = ctx.endpoint.key
    if len(key.encode()) > 1024:
        raise errors.KeyTooLongError("object keys are at most 1024 bytes")
    headers = extract_object_headers(ctx.request)
    tags = tagging.from_header(ctx.header(b"x-amz-tagging")) or ()
    checks = BodyChecks.from_request(ctx)
    payload = PayloadReader(ctx)
    declared = payload.declared_length()
    if declared is not None and declared > MAX_OBJECT_SIZE:
        raise errors.EntityTooLarge("objects sent in one PUT are at most 5 GiB")
    sse = key_for_write(ctx)
    version_fields.require_integrity(ctx)
    version_fields.prepare_write(ctx)
    claim = await conditional_writes.claim_for_put(ctx, key)
    try:
        version = await store_object(
            ctx, key, headers, checks, payload, sse=sse, claim=claim,
            before_complete=lambda size: before_publish(ctx, key, size), tags=tags)
    except BaseException:
        if claim is not None:
            await conditional_writes.release(ctx, key, claim)
        raise
    return _put_response(ctx, checks, version, sse)


async def before_publish(ctx: RequestContext, key: str, size: int) -> None:
    """What a new object must pass before it becomes visible: an ``If-Match``
    still holding, and the bucket's quotas."""
    await conditional_writes.check_before_complete(ctx, key)
    await check_quotas(ctx, key, size)


async def check_quotas(ctx: RequestContext, key: str, size: int) -> None:
    """Refuse (403, as Garage) an object that would exceed the bucket's
    maximum number of objects or total size (replacing an object counts
    the difference)."""
    quotas = ctx.bucket.params.quotas.value if ctx.bucket is not None else None
    if quotas is None or (quotas.max_objects is None and quotas.max_size is None):
        return
    counts = await ctx.api.helper.bucket_counts(ctx.bucket_id)
    objects_diff, size_diff = 1, size
    if not ctx.versioned_writes:
        # The null version is replaced: it counts no more.
        existing = await ctx.api.model.object_table.get(ctx.bucket_id, key.encode())
        replaced = None if existing is None else existing.find_version(NULL_VERSION_ID)
        if replaced is not None and replaced.is_data:
            objects_diff, size_diff = 0, size - replaced.data.meta.size
    if quotas.max_objects is not None and objects_diff > 0 and \
            counts[0] + objects_diff > quotas.max_objects:
        raise errors.AccessDenied(f"Object quota is reached, maximum objects for this "
                                  f"bucket: {quotas.max_objects}")
    if quotas.max_size is not None and size_diff > 0 and \
            counts[1] + size_diff > quotas.max_size:
        raise errors.AccessDenied(
            f"Bucket size quota is reached, maximum total size of objects for this bucket: "
            f"{quotas.max_size}. The bucket is already {counts[1]} bytes, and this object "
            f"would add {size_diff} bytes.")


def version_meta(headers, size: int, checks: BodyChecks, sse, tags=()) -> ObjectVersionMeta:
    """The metadata of a new version (a random ETag under SSE-C)."""
    return ObjectVersionMeta(headers, size, object_etag(checks, sse),
                             checks.stored_checksum(), None if sse is None else sse.meta_value,
                             tags)


def object_etag(checks: BodyChecks, sse) -> str:
    """The MD5 of the plain bytes, or a random ETag for a key that hides
    it (SSE-C; SSE-S3 keeps the MD5, as AWS)."""
    return random_etag() if sse is not None and sse.hides_etag else checks.etag()


async def store_object(ctx: RequestContext, key: str, headers: tuple, checks: BodyChecks,
                       payload, size_check=None, sse=None, claim=None,
                       before_complete=None, tags=()) -> ObjectVersion:
    """Store ``payload`` (``read() -> bytes``, ``b""`` at the end, then
    ``trailers``) as the new version of ``key`` in ``ctx.bucket_id``.

    :param size_check: ``size_check(size)`` raises if the final size is not
        allowed (browser POST policies); called before the version is
        published.
    :param sse: the key to encrypt the object with (an SSE-C ``CustomerKey``
        or an SSE-S3 ``ManagedKey``), or None.
    :param claim: an *uploading* version already written (a conditional
        write's claim): the object completes it (or aborts it on failure).
    :param before_complete: ``async before_complete(size)`` raises if the
        object must not be published after all (``If-Match``, quotas).
    :param tags: the new version's tag set (``tagging.py``).
    :returns: the complete version.
    """
    block_size = plain_block_size(ctx.api.block_size, sse)
    blocks = iter_blocks(payload, block_size)
    first = await anext(blocks, b"")
    second = None
    if len(first) < INLINE_THRESHOLD:
        second = await anext(blocks, None)
    if second is None and len(first) < INLINE_THRESHOLD:
        checks.update(first)
        checks.verify(getattr(payload, "trailers", {}))
        if size_check is not None:
            size_check(len(first))
        if before_complete is not None:
            await before_complete(len(first))
        meta = version_meta(headers, len(first), checks, sse, tags)
        data = ObjectVersionData(DATA_INLINE, meta,
                                 inline=first if sse is None else sse.encrypt(first))
        if claim is not None:
            version = ObjectVersion(claim.uuid, claim.timestamp, STATE_COMPLETE, data=data,
                                    **ctx.write_fields)
            await ctx.api.model.object_table.insert(Object(ctx.bucket_id, key, (version,)))
            return version
        return await publish_inline(ctx, key, data)
    writer = ctx.api.small_writer
    if writer is not None and claim is None and second is None and \
            len(first) <= MAX_SMALL and len(first) < block_size:
        # One block, and small: in one message per replica if the object's
        # pieces all live on one node set with this node in it (the rows'
        # set is known before the block is named; the block's after).
        uuid = new_uuid()
        nodes = writer.node_set(ctx.bucket_id, uuid)
        if nodes is not None:
            stored = first if sse is None else sse.encrypt(first)
            hash_ = block_hash(stored)
            if writer.holds_block(nodes, hash_):
                return await _put_small(ctx, key, headers, checks, payload, first, stored,
                                        hash_, uuid, nodes, size_check, sse, before_complete,
                                        tags)
    ctx.checks = checks
    return await _save_blocks(ctx, key, headers, checks, payload,
                              _chain(first, second, blocks), size_check, sse, claim,
                              before_complete, tags)


async def publish_inline(ctx: RequestContext, key: str, data) -> ObjectVersion:
    """Publish an inline object (``data``) above every complete version of
    ``key``; returns its version."""
    timestamp = provisional_timestamp(ctx, key)
    for _ in range(RENEW_ATTEMPTS):
        version = ObjectVersion(new_uuid(), timestamp, STATE_COMPLETE, data=data,
                                **ctx.write_fields)
        seen = await ctx.api.model.object_table.insert_and_read(
            Object(ctx.bucket_id, key, (version,)))
        if is_kept(seen, version.uuid, timestamp):
            return version
        await retire(ctx, key, version)
        # A complete version was above: written again just above it (this
        # copy is older, and dropped by the merge everywhere).
        timestamp = above_complete(seen)
    raise errors.SlowDown("The key is being written too fast; retry.")


async def _chain(first, second, rest):
    yield first
    if second is not None:
        yield second
    async for block in rest:
        yield block


def _put_response(ctx: RequestContext, checks: BodyChecks, version: ObjectVersion,
                  sse=None) -> bytes:
    request = ctx.request
    request.setHeader(b"etag", f'"{version.data.meta.etag}"'.encode())
    set_version_header(ctx, version)
    for name, value in sse.response_headers() if sse is not None else ():
        request.setHeader(name, value)
    for name, value in checks.response_headers():
        request.setHeader(name, value)
    return respond(request)


async def _put_small(ctx, key, headers, checks, payload, data, stored, hash_, uuid, nodes,
                     size_check, sse, before_complete, tags) -> ObjectVersion:
    """A one-block object in one round trip (``model/small_put.py``)."""
    checks.update(data)
    checks.verify(getattr(payload, "trailers", {}))
    if size_check is not None:
        size_check(len(data))
    if before_complete is not None:
        await before_complete(len(data))
    meta = version_meta(headers, len(data), checks, sse, tags)
    started = now_msec(ctx.api.clock)
    timestamp = provisional_timestamp(ctx, key)
    block = VersionBlock(hash_, len(data))
    written = [(uuid, timestamp)]
    try:
        complete = ObjectVersion(uuid, timestamp, STATE_COMPLETE, data=ObjectVersionData(
            DATA_FIRST_BLOCK, meta, first_block=hash_), **ctx.write_fields)
        seen = await ctx.api.small_writer.put(
            nodes, Object(ctx.bucket_id, key, (complete,)),
            Version.new(uuid, ctx.bucket_id, key).with_block(0, 0, block),
            [BlockRef(hash_, uuid, Bool(False))], hash_, stored)
        if is_kept(seen, uuid, timestamp):
            return complete
        # A complete version was above: the upload moves above it.
        await retire(ctx, key, complete)
        rows = rows_of(ctx, key, [(0, 0, block)])
        uuid, timestamp = await renew_version(ctx, key, headers, seen, rows, written, started)
        complete = replace(complete, uuid=uuid, timestamp=timestamp)
        return await publish(ctx, key, headers, complete, rows, written, started)
    except BaseException:
        await abort_versions(ctx, key, written)
        raise


async def abort_versions(ctx, key: str, written) -> None:
    """Abort the versions an upload created, and release their rows (a
    version some node never had as uploading gets no cascade there)."""
    model = ctx.api.model
    # The abort of a version of its own is its deletion record: retained as
    # its upload was (model/object.py), whatever order replicas meet in.
    aborted = tuple(ObjectVersion(u, t, STATE_ABORTED, versioned=ctx.versioned_writes)
                    for u, t in written)
    writes = [model.object_table.insert(Object(ctx.bucket_id, key, aborted))]
    writes += [model.version_table.insert(Version.new(u, ctx.bucket_id, key, deleted=True))
               for u, _ in written]
    results = await defer.DeferredList(writes, consumeErrors=True)
    log.info("aborted upload of {bucket}/{key}", bucket=ctx.endpoint.bucket, key=key)
    failed = [r.getErrorMessage() for ok, r in results if not ok]
    if failed:
        log.warn("abort of {key} incomplete (anti-entropy will finish it): {errors}",
                 key=key, errors=failed)


async def _save_blocks(ctx, key, headers, checks, payload, blocks,
                       size_check=None, sse=None, claim=None,
                       before_complete=None, tags=()) -> ObjectVersion:
    model = ctx.api.model
    announced = None  # the uploading version's write, when not a claim's
    started = now_msec(ctx.api.clock)
    if claim is not None:
        uuid, timestamp = claim.uuid, claim.timestamp
    else:
        uuid, timestamp = new_uuid(), provisional_timestamp(ctx, key)
        uploading = ObjectVersion(uuid, timestamp, STATE_UPLOADING, upload_headers=headers,
                                  versioned=ctx.versioned_writes)
        announced = model.object_table.insert_and_read(Object(ctx.bucket_id, key, (uploading,)))
    written = [(uuid, timestamp)]  # every version this upload created
    block_list = []
    try:
        size, first_hash = await save_stream(ctx, uuid, key, 0, blocks, sse=sse,
                                             block_list=block_list)
        checks.verify(getattr(payload, "trailers", {}))
        if size_check is not None:
            size_check(size)
        if announced is not None:
            seen, announced = await announced, None
            if not is_kept(seen, uuid, timestamp):
                uuid, timestamp = await renew_version(ctx, key, headers, seen,
                                                      rows_of(ctx, key, block_list),
                                                      written, started)
        if before_complete is not None:
            await before_complete(size)
        meta = version_meta(headers, size, checks, sse, tags)
        complete = ObjectVersion(
            uuid, timestamp, STATE_COMPLETE,
            data=ObjectVersionData(DATA_FIRST_BLOCK, meta, first_block=first_hash),
            **ctx.write_fields)
        if claim is not None:
            # A conditional write's claim settled who may write; it
            # completes in place (see conditional_writes.py).
            await model.object_table.insert(Object(ctx.bucket_id, key, (complete,)))
            return complete
        return await publish(ctx, key, headers, complete, rows_of(ctx, key, block_list),
                             written, started)
    except BaseException:
        if announced is not None:
            # Its outcome no longer matters; the aborted state wins the
            # merge whichever lands first.
            announced.addErrback(lambda _: None)
        await abort_versions(ctx, key, written)
        raise


def rows_of(ctx: RequestContext, key: str, block_list) -> Version:
    """The block list of ``(part, offset, VersionBlock)`` as version rows
    (under no uuid yet: :func:`renew_version` gives each its own)."""
    rows = Version.new(b"", ctx.bucket_id, key)
    for part, offset, block in block_list:
        rows = rows.with_block(part, offset, block)
    return rows


async def stage_version(ctx, key: str, headers, rows: Version, uuid: bytes,
                        timestamp: int) -> Object:
    """Write ``rows`` (blocks, part checksums) under version ``uuid``, their
    block references, and an uploading version ``(timestamp, uuid)`` of
    ``key``, all at once; returns the object as the write quorum holds it."""
    model = ctx.api.model
    version = replace(rows, uuid=uuid)
    uploading = ObjectVersion(uuid, timestamp, STATE_UPLOADING, upload_headers=headers,
                              versioned=ctx.versioned_writes)
    refs = [BlockRef(block.hash, uuid, Bool(False)) for _, block in version.sorted_blocks()]
    results = await defer.gatherResults(
        [model.object_table.insert_and_read(Object(ctx.bucket_id, key, (uploading,))),
         model.version_table.insert(version)]
        + [model.block_ref_table.insert_many(refs[i:i + MAX_ROWS_PER_BATCH])
           for i in range(0, len(refs), MAX_ROWS_PER_BATCH)],
        consumeErrors=True).addErrback(lambda failure: failure.value.subFailure)
    return results[0]


async def publish_rows(ctx: RequestContext, key: str, rows: Version, meta,
                       first_block: bytes) -> ObjectVersion:
    """Publish an object made of blocks already stored (a copy's source, a
    multipart upload's parts): ``rows`` (any uuid) under a new version with
    its own block references, above every complete version of ``key``. A
    failure aborts what was written; the blocks' other holders keep them."""
    started = now_msec(ctx.api.clock)
    uuid, timestamp = new_uuid(), provisional_timestamp(ctx, key)
    written = [(uuid, timestamp)]
    try:
        # References before the object becomes visible: the blocks' other
        # holder (the copy source, the parts) may be deleted right after.
        seen = await stage_version(ctx, key, meta.headers, rows, uuid, timestamp)
        if not is_kept(seen, uuid, timestamp):
            uuid, timestamp = await renew_version(ctx, key, meta.headers, seen, rows,
                                                  written, started)
        data = ObjectVersionData(DATA_FIRST_BLOCK, meta, first_block=first_block)
        return await publish(ctx, key, meta.headers,
                             ObjectVersion(uuid, timestamp, STATE_COMPLETE, data=data,
                                           **ctx.write_fields),
                             rows, written, started)
    except BaseException:
        await abort_versions(ctx, key, written)
        # The references live apart from the version's rows: released
        # explicitly, in case the rows never landed to cascade.
        await release_rows(ctx, key, rows, [uuid for uuid, _ in written])
        raise


async def publish(ctx, key, headers, complete, rows: Version, written, started):
    """Write the complete version ``complete`` (its rows stored) so that it
    ends above every complete version of ``key``: if one completed above it
    meanwhile, move to a new version above that one and complete it.

    :param rows: the version's rows (any uuid), copied by a renewal.
    :returns: the complete version as published.
    """
    model = ctx.api.model
    for _ in range(RENEW_ATTEMPTS):
        seen = await model.object_table.insert_and_read(
            Object(ctx.bucket_id, key, (complete,)))
        if is_kept(seen, complete.uuid, complete.timestamp):
            return complete
        await retire(ctx, key, complete)
        uuid, timestamp = await renew_version(ctx, key, headers, seen, rows, written, started)
        complete = replace(complete, uuid=uuid, timestamp=timestamp)
    raise errors.SlowDown("The key is being written too fast; retry.")


async def retire(ctx, key: str, complete: ObjectVersion) -> None:
    """Withdraw ``complete``, a version just written complete that a newer
    one overtook, before its upload moves above: a version of its own would
    otherwise stay, below, after its rows are released (the merge drops a
    null version by itself). Its deletion record keeps it withdrawn."""
    if complete.versioned:
        await ctx.api.model.object_table.insert(Object(ctx.bucket_id, key, (
            ObjectVersion(complete.uuid, complete.timestamp, STATE_ABORTED, versioned=True),)))


async def renew_version(ctx, key, headers, seen, rows: Version, written, started) -> tuple:
    """Move an upload whose version has a complete version above it to a
    new *uploading* version just above the newest complete one in
    ``seen``: same rows, new uuid and timestamp (the uuid names the
    version's rows; the ones it replaces are released once the new ones are
    stored). Returns ``(uuid, timestamp)``.

    :raises errors.SlowDown: the upload started more than
        ``RENEW_WITHIN_MS`` ago (its blocks may be gone), or the key keeps
        getting newer complete versions.
    """
    if now_msec(ctx.api.clock) - started > RENEW_WITHIN_MS:
        log.warn("upload of {key} overtaken by a newer write {elapsed} ms after it "
                 "started: refused", key=key, elapsed=now_msec(ctx.api.clock) - started)
        raise errors.SlowDown("A newer write of this key completed while this long "
                              "upload ran; retry.")
    # Every version this call replaces: the one overtaken, and each of its
    # own attempts overtaken in turn.
    replaced = [written[-1][0]]
    for _ in range(RENEW_ATTEMPTS):
        uuid = new_uuid()
        timestamp = above_complete(seen)
        written.append((uuid, timestamp))
        seen = await stage_version(ctx, key, headers, rows, uuid, timestamp)
        if is_kept(seen, uuid, timestamp):
            break
        replaced.append(uuid)
    else:
        raise errors.SlowDown("The key is being written too fast; retry.")
    log.info("upload of {key} moved above a concurrent version", key=key)
    # A replaced version may never have been stored anywhere (dropped by the
    # merge as older), or been dropped (and its rows deleted) before all its
    # references were written: its rows and references are released
    # explicitly, now that the new ones hold the blocks. The upload of a
    # version of its own stays in the entry until aborted (model/object.py):
    # aborted here.
    stamps = dict(written)
    aborted = sorted((ObjectVersion(u, stamps[u], STATE_ABORTED,
                                    versioned=ctx.versioned_writes) for u in replaced),
                     key=ObjectVersion.cmp_key)
    await defer.gatherResults(
        [defer.ensureDeferred(release_rows(ctx, key, rows, replaced)),
         ctx.api.model.object_table.insert(Object(ctx.bucket_id, key, tuple(aborted)))],
        consumeErrors=True).addErrback(lambda failure: failure.value.subFailure)
    return uuid, timestamp


async def release_rows(ctx, key: str, rows: Version, uuids) -> None:
    """Delete versions ``uuids`` (which hold ``rows``) and their block
    references."""
    model = ctx.api.model
    blocks = [block for _, block in rows.sorted_blocks()]
    refs = [BlockRef(block.hash, uuid, Bool(True)) for uuid in uuids for block in blocks]
    await defer.gatherResults(
        [model.version_table.insert(Version.new(uuid, ctx.bucket_id, key, deleted=True))
         for uuid in uuids]
        + [model.block_ref_table.insert_many(refs[i:i + MAX_ROWS_PER_BATCH])
           for i in range(0, len(refs), MAX_ROWS_PER_BATCH)],
        consumeErrors=True).addErrback(lambda failure: failure.value.subFailure)


async def save_stream(ctx, version_uuid: bytes, key: str, part_number: int, blocks,
                      checks=None, sse=None, block_list=None):
    """Store a stream of blocks as part ``part_number`` of a version.

    Sends the blocks in groups of ``BLOCKS_PER_GROUP``, and the version's
    block list and the ``block_ref`` rows in batches that grow with the
    upload. Every write started is finished (or failed) before this
    returns or raises.

    :param checks: the :class:`BodyChecks` fed with the payload; the
        caller verifies them.
    :param sse: a :class:`~garage_twisted.api.s3.encryption.CustomerKey` or
        :class:`~garage_twisted.api.s3.sse_s3.ManagedKey`: blocks are
        encrypted (and named by what is stored), sizes stay plain.
    :param block_list: a list receiving ``(part, offset, VersionBlock)`` of
        every block stored.
    :returns: ``(size, first block hash)``.
    """
    model = ctx.api.model
    block_manager = ctx.api.block_manager
    run = ctx.api.run_in_thread
    checks = checks if checks is not None else ctx.checks
    writes = []
    offset = 0
    first_hash = None
    group = []  # (hash, stored bytes or packed DataBlock) of blocks not sent yet
    rows = []  # (offset, hash, plain size) of blocks whose rows are not sent yet
    named = 0  # blocks named so far

    def send_rows():
        if not rows:
            return
        version = Version.new(version_uuid, ctx.bucket_id, key)
        for block_offset, hash_, size in rows:
            block = VersionBlock(hash_, size)
            version = version.with_block(part_number, block_offset, block)
            if block_list is not None:
                block_list.append((part_number, block_offset, block))
        # The version's block list and the blocks' references are
        # independent of the blocks: all sent at once (one round trip, not
        # two). A block that lands before its reference is held by the
        # block manager's deletion delay.
        writes.append(defer.gatherResults([
            model.version_table.insert(version),
            model.block_ref_table.insert_many(
                [BlockRef(hash_, version_uuid, Bool(False)) for _, hash_, _ in rows]),
        ], consumeErrors=True).addErrback(lambda failure: failure.value.subFailure))
        rows.clear()

    async def send_group():
        for hash_, data in group:
            while len(writes) > MAX_WRITES_IN_FLIGHT:
                await writes.pop(0)
            if isinstance(data, DataBlock):
                # Packed once here; the other nodes write it as it comes.
                writes.append(block_manager.put_packed(hash_, data))
            else:
                writes.append(block_manager.put_block(data, known_hash=hash_))
        group.clear()

    try:
        async for data in blocks:
            stored = data
            if len(data) <= INLINE_HASH_MAX:
                if sse is None:
                    hash_ = _hash_block(checks, data)
                else:
                    checks.update(data)
                    stored = sse.encrypt(data)
                    hash_ = block_hash(stored)
            else:
                # Awaited before the next block is read: the digests see
                # the blocks in order.
                if sse is None:
                    hash_, stored = await run(_digest_name_pack, checks, block_manager, data)
                else:
                    stored, hash_ = await run(_digest_encrypt_name, checks, sse, data)
            if first_hash is None:
                first_hash = hash_
            group.append((hash_, stored))
            rows.append((offset, hash_, len(data)))
            named += 1
            offset += len(data)
            if offset > MAX_OBJECT_SIZE:
                raise errors.EntityTooLarge("objects sent in one PUT are at most 5 GiB")
            if len(group) >= BLOCKS_PER_GROUP:
                if len(rows) >= min(max(BLOCKS_PER_GROUP, named // 2), MAX_ROWS_PER_BATCH):
                    send_rows()
                await send_group()
        send_rows()
        await send_group()
        while writes:
            await writes.pop(0)
    except BaseException:
        # Let block writes already started finish (their errors are moot
        # now) before the caller releases the blocks they reference.
        if writes:
            await defer.DeferredList(writes, consumeErrors=True)
        raise
    return offset, first_hash


# A large block makes one trip to the I/O pool for its body digests (in
# order: the previous block's trip has ended), its name and its stored form.
# One trip rather than three parallel ones: under load every core is busy
# anyway, and each trip costs thread and reactor wake-ups (cross-core
# interrupts on a VM) and GIL hand-offs.


def _digest_name_pack(checks: BodyChecks, block_manager, data: bytes):
    """Runs in the I/O pool: feed the body digests; the block's name and
    stored form."""
    checks.update(data)
    return block_manager.name_and_pack(data)


def _digest_encrypt_name(checks: BodyChecks, sse, data: bytes):
    """Runs in the I/O pool: feed the body digests; the stored (encrypted)
    form and its name. Ciphertext does not compress: stored plain."""
    checks.update(data)
    stored = sse.encrypt(data)
    return DataBlock(False, stored), block_hash(stored)


def _hash_block(checks: BodyChecks, data: bytes) -> bytes:
    """Runs in the I/O pool: feed the body digests, return the block's name."""
    checks.update(data)
    return block_hash(data)
