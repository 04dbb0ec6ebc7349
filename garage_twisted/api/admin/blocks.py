"""Admin API v2 block inspection and purge: ``GetBlockInfo``, ``PurgeBlocks``.

Node-scoped operations, as Garage's (``garage block info`` / ``garage block
purge``). Both take the :class:`~garage_twisted.api.admin.api.AdminApi` and
the decoded JSON body, and return plain JSON values; the HTTP adapter and the
cluster-wide fan-out wrap them in ``{"success": {node: ...}, "error": {...}}``.

- ``GetBlockInfo`` (``{"blockHash": "<hex, or a prefix of 4+ characters>"}``)
  finds the block among this node's ``block_ref`` rows (as Garage: a node
  that holds no reference to it does not know it), then follows every
  reference, read from a quorum, to its version and the version to what owns
  it: an object (``{"object": {"bucketId", "key"}}``) or a multipart upload
  in progress (``{"upload": {...}}``).
- ``PurgeBlocks`` (``["<64 hex>", ...]``) is for blocks lost for good: every
  version referencing one is deleted, with the object version (a delete
  marker hides it, or an unfinished PutObject is aborted) or the multipart
  upload (aborted as AbortMultipartUpload does) it belongs to, and every
  reference to the block is marked deleted. A version under Object Lock
  (retention or legal hold, ``model/object_lock.py``) is left whole, its
  references included, and counted in ``versionsLocked``: no admin call
  deletes what COMPLIANCE retention protects (a block whose every holder
  is lost stays missing, and is reported by resync as before).

Invariants: nothing is overwritten. Every deletion is the insert of a
tombstone state the CRDT merges let win (a deleted ``Bool``, an aborted
object version, a newer delete marker), exactly as the S3 front end deletes,
so a replica that missed the purge converges to it, and the tables' own
cascades (object -> version -> block_ref) release whatever else the deleted
versions held. Garage's versions name the upload they belong to; ours name
only their bucket and key, so a part version is tied to its upload through
the live uploads of that key (see :func:`_live_upload_of`).
"""

import secrets

from twisted.logger import Logger

from garage_twisted.api.admin import errors, render
from garage_twisted.model.block_ref import BlockRef
from garage_twisted.model.mpu import MultipartUpload
from garage_twisted.model.object import (
    STATE_ABORTED, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
)
from garage_twisted.model.object_lock import is_protected
from garage_twisted.model.version import Version
from garage_twisted.table.data import HASH_SIZE, prefix_end
from garage_twisted.util.crdt import Bool
from garage_twisted.util.time import now_msec

# Garage reads at most this many references of one block for GetBlockInfo.
MAX_INFO_REFS = 10000
# PurgeBlocks reads a block's references in pages of this many, until none is
# left: a block shared by many versions must lose all of them.
PURGE_PAGE = 1000
# Shorter prefixes would match too many blocks to be meant (Garage's limit).
MIN_PREFIX = 4

log = Logger()


# -- parsing -------------------------------------------------------------

def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def check_purge(body) -> list:
    """The block hashes of a PurgeBlocks body. :raises errors.BadRequest:"""
    if not isinstance(body, list):
        raise errors.BadRequest('PurgeBlocks takes a list of block hashes: ["<hash>", ...]')
    return [render.parse_hex32(value, "block hash") for value in body]


def check_block_info(body) -> str:
    """The lowercase hash prefix a GetBlockInfo body names.
    :raises errors.BadRequest:"""
    if not isinstance(body, dict):
        raise errors.BadRequest('GetBlockInfo takes {"blockHash": "<hash>"}')
    prefix = body.get("blockHash")
    if not isinstance(prefix, str):
        raise errors.BadRequest('GetBlockInfo takes {"blockHash": "<hash>"}')
    prefix = prefix.lower()
    if len(prefix) < MIN_PREFIX:
        raise errors.BadRequest(
            f"Please specify at least {MIN_PREFIX} characters of the block hash")
    if len(prefix) > 2 * HASH_SIZE or not _is_hex(prefix):
        raise errors.BadRequest(f"invalid block hash {body.get('blockHash')!r}")
    return prefix


# -- lookups -------------------------------------------------------------

def find_block(model, prefix: str) -> bytes:
    """The one block whose hash starts with ``prefix`` among this node's
    ``block_ref`` rows (their keys start with the block hash).

    Two seeks, whatever the number of references: the first row of the
    prefix's key range, then the first row past that block's rows.

    :raises errors.NoSuchBlock: no block matches (Garage's 404).
    :raises errors.BadRequest: several blocks match.
    """
    if len(prefix) % 2:
        low = bytes.fromhex(prefix + "0")
        high = prefix_end(bytes.fromhex(prefix + "f"))
    else:
        low = bytes.fromhex(prefix)
        high = prefix_end(low)
    rows = model.block_ref_table.data.rows
    first = next(iter(rows.range(low, high, limit=1)), None)
    if first is None:
        raise errors.NoSuchBlock(f"Block not found: {prefix}")
    block = first[0][:HASH_SIZE]
    after = prefix_end(block)
    if after is not None and (high is None or after < high) \
            and next(iter(rows.range(after, high, limit=1)), None) is not None:
        raise errors.BadRequest(f"Several blocks match prefix `{prefix}`")
    return block


async def _live_upload_of(model, version, obj):
    """The multipart upload in progress whose part ``version`` is, or None.

    Our versions do not name their upload: look through the uploads still
    running on the version's key, whose parts list their versions. A part of
    a completed or aborted upload cannot be traced (its upload dropped the
    part list) and passes for a version of the key.
    """
    if obj is None:
        return None
    for candidate in obj.versions:
        if not (candidate.is_uploading and candidate.multipart):
            continue
        mpu = await model.mpu_table.get(candidate.uuid, b"")
        if mpu is None or mpu.deleted.value:
            continue
        if any(part.version == version.uuid for _, part in mpu.parts.items()):
            return mpu
    return None


async def _block_refs(model, block: bytes, page: int):
    """Every reference to ``block`` (deleted ones too), read from a quorum."""
    start = None
    while True:
        refs = await model.block_ref_table.get_range(block, start, None, limit=page)
        for ref in refs:
            yield ref
        if len(refs) < page:
            return
        start = refs[-1].version + b"\x00"


# -- GetBlockInfo --------------------------------------------------------

async def get_block_info(api, body) -> dict:
    """``GetBlockInfo``: a block's local refcount and the versions using it.

    :param body: ``{"blockHash": "<hex>"}``, a full hash or a prefix of at
        least ``MIN_PREFIX`` characters.
    :returns: ``{"blockHash", "refcount", "versions": [...]}`` (Garage's
        ``LocalGetBlockInfoResponse``).
    :raises errors.BadRequest: a malformed hash, or a prefix matching
        several blocks.
    :raises errors.NoSuchBlock: this node holds no reference to such a block.
    """
    model = api.helper.model
    block = find_block(model, check_block_info(body))
    objects = {}  # (bucket id, key) -> object row: one read per key

    async def backlink(version):
        where = (version.bucket_id, version.key)
        if where not in objects:
            objects[where] = await model.object_table.get(version.bucket_id,
                                                          version.key.encode())
        mpu = await _live_upload_of(model, version, objects[where])
        if mpu is None:
            return {"object": {"bucketId": version.bucket_id.hex(), "key": version.key}}
        return {"upload": {"uploadId": mpu.upload_id.hex(),
                           "uploadDeleted": mpu.deleted.value,
                           "uploadGarbageCollected": False,
                           "bucketId": mpu.bucket_id.hex(), "key": mpu.key}}

    refs = await model.block_ref_table.get_range(block, None, None, limit=MAX_INFO_REFS)
    versions = []
    for ref in refs:
        version = await model.version_table.get(ref.version, b"")
        if version is None:
            # Its tombstone was collected: nothing left to say where it was.
            versions.append({"versionId": ref.version.hex(), "refDeleted": ref.deleted.value,
                             "versionDeleted": True, "garbageCollected": True,
                             "backlink": None})
            continue
        versions.append({"versionId": ref.version.hex(), "refDeleted": ref.deleted.value,
                         "versionDeleted": version.deleted.value, "garbageCollected": False,
                         "backlink": await backlink(version)})
    return {"blockHash": block.hex(), "refcount": model.block_manager.refcount(block),
            "versions": versions}


# -- PurgeBlocks ---------------------------------------------------------

async def _abort(model, bucket_id: bytes, key: str, uploading: ObjectVersion) -> None:
    """Abort an object version still uploading (AbortMultipartUpload's write)."""
    aborted = ObjectVersion(uploading.uuid, uploading.timestamp, STATE_ABORTED)
    await model.object_table.insert(Object(bucket_id, key, (aborted,)))


async def _purge_owner(model, version, counts: dict) -> None:
    """Delete what ``version`` belongs to: its multipart upload in progress,
    or its object version (if still the object's current one, or unfinished).
    """
    bucket_id, key = version.bucket_id, version.key
    obj = await model.object_table.get(bucket_id, key.encode())
    mpu = await _live_upload_of(model, version, obj)
    if mpu is not None:
        # As AbortMultipartUpload: the object's uploading version aborted (so
        # the upload leaves ListMultipartUploads), the upload deleted (so its
        # other parts' versions go too, through the mpu table's cascade).
        uploading = next(v for v in obj.versions if v.uuid == mpu.upload_id)
        await _abort(model, bucket_id, key, uploading)
        await model.mpu_table.insert(MultipartUpload.new(
            mpu.upload_id, mpu.timestamp, mpu.bucket_id, mpu.key, deleted=True))
        counts["uploadsDeleted"] += 1
        return
    if obj is None:
        return
    mine = next((v for v in obj.versions if v.uuid == version.uuid), None)
    if mine is None:
        return
    if mine.is_uploading:
        # A PutObject still writing its blocks: aborted, its completion loses
        # the merge instead of publishing an object whose data is gone.
        await _abort(model, bucket_id, key, mine)
        counts["objectsDeleted"] += 1
        return
    current = next((v for v in reversed(obj.versions) if v.is_complete), None)
    if mine.is_complete and (mine.versioned or current is not mine):
        # A version of its own, or the null version below them: deleted for
        # good, as DeleteObject with its versionId (a marker would leave it
        # listed without its data).
        await model.object_table.insert(Object(bucket_id, key, (ObjectVersion(
            mine.uuid, mine.timestamp, STATE_ABORTED, versioned=True,
            was_null=not mine.versioned),)))
        counts["objectsDeleted"] += 1
        return
    if current is not None and current.uuid == version.uuid:
        # Just above the lost version, as Garage: an upload started after it
        # stays newer than the marker and may still complete.
        marker = ObjectVersion(secrets.token_bytes(32), current.timestamp + 1, STATE_COMPLETE,
                               data=ObjectVersionData.delete_marker())
        await model.object_table.insert(Object(bucket_id, key, (marker,)))
        counts["objectsDeleted"] += 1


async def _is_locked(model, version, now_ms: int) -> bool:
    """Whether the object version ``version`` (a version row) belongs to is
    protected by Object Lock."""
    obj = await model.object_table.get(version.bucket_id, version.key.encode())
    mine = None if obj is None else next(
        (v for v in obj.versions if v.uuid == version.uuid and v.is_complete), None)
    return mine is not None and is_protected(mine, now_ms)


async def purge_blocks(api, body) -> dict:
    """``PurgeBlocks``: forget blocks lost for good, and everything using them.

    For each block, each version referencing it is deleted, with the object
    version or multipart upload it belongs to, and each reference marked
    deleted. Every hash is checked before anything is deleted.

    :param body: ``["<64 hex>", ...]``.
    :returns: ``{"blocksPurged", "objectsDeleted", "uploadsDeleted",
        "versionsDeleted", "blockRefsPurged"}`` (Garage's
        ``LocalPurgeBlocksResponse``; ``blocksPurged`` counts the hashes given).
    :raises errors.BadRequest: not a list of full block hashes.
    """
    blocks = check_purge(body)
    model = api.helper.model
    counts = {"blocksPurged": len(blocks), "objectsDeleted": 0, "uploadsDeleted": 0,
              "versionsDeleted": 0, "blockRefsPurged": 0, "versionsLocked": 0}
    for block in blocks:
        async for ref in _block_refs(model, block, PURGE_PAGE):
            version = await model.version_table.get(ref.version, b"")
            if version is not None and await _is_locked(model, version,
                                                        now_msec(api.clock)):
                log.warn("PurgeBlocks: version {uuid} of {key} is under Object Lock: kept",
                         uuid=version.uuid.hex(), key=version.key)
                counts["versionsLocked"] += 1
                continue
            if version is not None:
                await _purge_owner(model, version, counts)
                # Written here rather than left to the cascades above, which
                # go through insert queues: the purge is done when it answers.
                if not version.deleted.value:
                    await model.version_table.insert(Version.new(
                        version.uuid, version.bucket_id, version.key, deleted=True))
                    counts["versionsDeleted"] += 1
            if not ref.deleted.value:
                await model.block_ref_table.insert(BlockRef(ref.block, ref.version, Bool(True)))
                counts["blockRefsPurged"] += 1
        log.info("purged block {block}", block=block.hex())
    log.info("PurgeBlocks: {blocks} blocks, {objects} objects, {uploads} uploads, "
             "{versions} versions, {refs} block references deleted",
             blocks=counts["blocksPurged"], objects=counts["objectsDeleted"],
             uploads=counts["uploadsDeleted"], versions=counts["versionsDeleted"],
             refs=counts["blockRefsPurged"])
    return counts
