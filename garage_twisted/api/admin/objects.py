"""Admin API v2 operations on a bucket's objects: CleanupIncompleteUploads
and InspectObject, as Garage v2 defines them.

``CleanupIncompleteUploads`` (POST ``{"bucketId", "olderThanSecs"}``) aborts
every version of the bucket still *uploading* (multipart uploads, and plain
PUTs that never finished) whose timestamp is more than ``olderThanSecs``
before now, and answers ``{"uploadsDeleted": N}``. Aborting is one write to
the object table per key: the object table's ``updated()`` hook then marks
the version deleted (releasing its blocks) and, for a multipart upload, the
``mpu`` row deleted (releasing its parts), exactly as an S3
AbortMultipartUpload or a lifecycle rule does.

``InspectObject`` (GET ``?bucketId=&key=``) shows every stored version of
one object with its state, metadata and block list; see
:func:`inspect_object` for the shape.

Invariants:

- Only versions that are *uploading* when read are aborted; a completed
  version is never touched, and a concurrent completion merges with the
  abort as any replica would (aborted wins, as in Garage).
- ``uploadsDeleted`` counts keys that had at least one upload aborted, not
  uploads: Garage counts ``abortions.len()`` (one object entry per key),
  and clients comparing answers see the same number.
"""

from twisted.logger import Logger

from garage_twisted.api.admin import errors, render
from garage_twisted.api.s3.multipart import SSE_MD5_HEADER, object_headers
from garage_twisted.model.object import (
    DATA_DELETE_MARKER, DATA_INLINE, FILTER_IS_UPLOADING, STATE_ABORTED, STATE_COMPLETE,
    STATE_UPLOADING, Object, ObjectVersion,
)
from garage_twisted.util.time import now_msec

log = Logger()

CLEANUP_BATCH = 1000
"""Objects read (and aborted) per range read of the bucket, as Garage."""



def _older_than_secs(value) -> int:
    # A JSON integer >= 0 (Garage's u64): true/false and 1.5 are refused.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.BadRequest("olderThanSecs must be a non-negative integer")
    return value


async def abort_incomplete_uploads(model, bucket_id: bytes, cutoff_ms: int) -> int:
    """Abort every uploading version of ``bucket_id`` with a timestamp below
    ``cutoff_ms``, in batches of :data:`CLEANUP_BATCH` objects.

    Lifecycle's abort (``model/lifecycle.actions_for``) does not fit: it
    works in whole days from rules, and only on multipart uploads, whereas
    Garage's cleanup aborts any uploading version, to the millisecond.

    :returns: the number of keys that had at least one version aborted.
    """
    table = model.object_table
    count = 0
    cursor = None
    while True:
        batch = await table.get_range(bucket_id, cursor, FILTER_IS_UPLOADING,
                                      limit=CLEANUP_BATCH)
        abortions = []
        for obj in batch:
            aborted = tuple(ObjectVersion(v.uuid, v.timestamp, STATE_ABORTED)
                            for v in obj.versions
                            if v.is_uploading and v.timestamp < cutoff_ms)
            if aborted:
                abortions.append(Object(obj.bucket_id, obj.key, aborted))
        if abortions:
            await table.insert_many(abortions)
        count += len(abortions)
        if len(batch) < CLEANUP_BATCH:
            return count
        cursor = batch[-1].sort_key() + b"\x00"


async def cleanup_incomplete_uploads(api, query, body):
    """``CleanupIncompleteUploads``: ``{"uploadsDeleted": N}``.

    :raises errors.BadRequest: a missing or malformed ``bucketId`` or
        ``olderThanSecs``.
    :raises errors.NoSuchBucket: no live bucket has that id (Garage does not
        check and answers 0; a typo deserves an error).
    """
    bucket_id = render.parse_bucket_id(body.get("bucketId"))
    older_than = _older_than_secs(body.get("olderThanSecs"))
    await api.helper.get_existing_bucket(bucket_id)
    cutoff = now_msec(api.clock) - older_than * 1000
    count = await abort_incomplete_uploads(api.helper.model, bucket_id, cutoff)
    log.info("cleanup of bucket {bucket}: aborted uploads of {count} keys older than "
             "{older_than} s", bucket=bucket_id.hex(), count=count, older_than=older_than)
    return {"uploadsDeleted": count}


def _version_answer(version: ObjectVersion, blocks: list) -> dict:
    """One ``InspectObjectVersion``: every field present, ``headers`` and
    ``blocks`` left out when empty (Garage's ``skip_serializing_if``)."""
    answer = {"uuid": version.uuid.hex(), "timestamp": render.rfc3339(version.timestamp),
              "encrypted": False, "uploading": False, "aborted": False,
              "deleteMarker": False, "inline": False, "size": None, "etag": None}
    headers = ()
    if version.state == STATE_UPLOADING:
        upload = dict(version.upload_headers)
        answer.update(uploading=True, encrypted=SSE_MD5_HEADER in upload)
        headers = object_headers(version)
    elif version.state == STATE_ABORTED:
        answer["aborted"] = True
    elif version.data.kind == DATA_DELETE_MARKER:
        answer["deleteMarker"] = True
        blocks = []
    else:
        meta = version.data.meta
        answer.update(size=meta.size, etag=meta.etag, encrypted=meta.encryption is not None,
                      inline=version.data.kind == DATA_INLINE)
        headers = meta.headers
        if version.data.kind == DATA_INLINE:
            blocks = []
    # Garage cannot read an SSE-C version's headers (they are encrypted with
    # the customer's key) and shows none; ours are stored in clear, but the
    # admin sees no more than in Garage.
    if headers and not answer["encrypted"]:
        answer["headers"] = [[name, value] for name, value in headers]
    if blocks:
        answer["blocks"] = blocks
    return answer


async def _blocks(model, version: ObjectVersion) -> list:
    """``InspectObjectBlock`` list of a version, from the version table."""
    if version.state == STATE_COMPLETE and version.data.kind in (DATA_DELETE_MARKER,
                                                                 DATA_INLINE):
        return []  # no blocks, no read
    entry = await model.version_table.get(version.uuid, b"")
    if entry is None:
        return []
    return [{"partNumber": part, "offset": offset, "hash": block.hash.hex(),
             "size": block.size}
            for (part, offset), block in entry.sorted_blocks()]


async def inspect_object(api, query, body):
    """``InspectObject``: every version of one object, oldest first::

        {"bucketId", "key", "versions": [{"uuid", "timestamp", "encrypted",
          "uploading", "aborted", "deleteMarker", "inline", "size", "etag",
          "headers": [[name, value]], "blocks": [{"partNumber", "offset",
          "hash", "size"}]}]}

    ``size`` and ``etag`` are null unless the version is complete with data.
    As Garage, the bucket is not looked up: an unknown bucket holds no key.

    :raises errors.BadRequest: ``bucketId`` or ``key`` missing or malformed.
    :raises errors.NoSuchKey: the bucket has no entry for ``key``.
    """
    bucket_id = render.parse_bucket_id(query.get("bucketId"))
    key = query.get("key")
    if key is None:
        raise errors.BadRequest("InspectObject needs key=")
    model = api.helper.model
    obj = await model.object_table.get(bucket_id, key.encode("utf-8"))
    if obj is None:
        raise errors.NoSuchKey("Key not found")
    versions = [_version_answer(v, await _blocks(model, v)) for v in obj.versions]
    return {"bucketId": obj.bucket_id.hex(), "key": obj.key, "versions": versions}
