"""DeleteObject and DeleteObjects: delete markers, and versions deleted by id.

Without a ``versionId``, a delete hides the key behind a delete marker, the
key's newest version: in a bucket that never had versioning only when there
is something to hide (the older versions are then dropped by the object
merge, and their blocks released through the cascades); with versioning
Enabled a marker of its own (its id answered in ``x-amz-version-id``);
Suspended, the null marker, which replaces the null version. With a
``versionId``, that version (or marker) is deleted for good: a deletion
record takes its place (``model/object.py``), unless Object Lock protects
it (403 AccessDenied; ``x-amz-bypass-governance-retention`` from a key with
owner rights lifts GOVERNANCE retention only). S3 answers 204 whether or
not the key or version existed.

DeleteObjects (``POST /bucket?delete``) takes up to 1,000 keys (each maybe
with a ``VersionId``) in an XML ``<Delete>`` document and answers per key
(``<Deleted>`` with the version and marker fields AWS gives, or ``<Error>``
with an S3 code); in ``<Quiet>`` mode only the errors are listed. Keys are
deleted a few at a time concurrently."""

from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.s3 import authorization, errors, unbuilt, versioning
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import WRITE, RequestContext, respond
from garage_twisted.api.s3.put import new_uuid
from garage_twisted.api.s3.xml import document, element, local_name, parse_document
from garage_twisted.model.object import (
    STATE_ABORTED, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData, version_id_of,
)
from garage_twisted.model.object_lock import deletion_refusal
from garage_twisted.util.errors import QuorumError
from garage_twisted.util.time import now_msec

MAX_KEYS = 1000
MAX_BODY = 2 * 1024 * 1024
CONCURRENCY = 16

log = Logger()


@dataclass(frozen=True)
class Deleted:
    """What a delete did: the version id it names (None: none shown), and
    whether that is a delete marker (written, or deleted by id)."""

    version_id: str | None = None
    delete_marker: bool = False


async def delete_key(ctx: RequestContext, key: str, version_id: str | None = None,
                     bypass_governance: bool = False) -> Deleted:
    """Delete ``key``: its version ``version_id`` for good, or (None) hide
    it behind a delete marker (``versioning.py`` says which kind).

    :raises errors.AccessDenied: the version is under Object Lock.
    """
    table = ctx.api.model.object_table
    existing = await table.get(ctx.bucket_id, key.encode())
    now = now_msec(ctx.api.clock)
    if version_id is not None:
        return await _delete_version(ctx, key, existing, version_id, now, bypass_governance)
    shown = versioning.shows_version_ids(ctx)
    if ctx.versioning is None and (existing is None or not any(
            v.is_data or v.is_uploading for v in existing.versions)):
        # Nothing to hide in a bucket that never had versioning (AWS writes
        # a marker only in a versioned bucket).
        return Deleted()
    timestamp = now if existing is None else max(now, existing.max_timestamp() + 1)
    marker = ObjectVersion(new_uuid(), timestamp, STATE_COMPLETE,
                           data=ObjectVersionData.delete_marker(),
                           versioned=ctx.versioned_writes,
                           suspended=ctx.versioning == "Suspended")
    await table.insert(Object(ctx.bucket_id, key, (marker,)))
    if not shown:
        return Deleted()
    return Deleted(version_id_of(marker), True)


async def _delete_version(ctx, key, existing, version_id, now, bypass_governance) -> Deleted:
    version = None if existing is None else existing.find_version(version_id)
    if version is None:
        # Deleting what is not there succeeds, as AWS.
        return Deleted(version_id)
    refusal = deletion_refusal(version, now, bypass_governance)
    if refusal is not None:
        raise errors.AccessDenied(f"Access Denied because object protected by object "
                                  f"lock ({refusal})")
    record = ObjectVersion(version.uuid, version.timestamp, STATE_ABORTED, versioned=True,
                           was_null=not version.versioned)
    await ctx.api.model.object_table.insert(Object(ctx.bucket_id, key, (record,)))
    log.info("deleted version {version_id} of {bucket}/{key}", version_id=version_id,
             bucket=ctx.endpoint.bucket, key=key)
    return Deleted(version_id, not version.is_data)


def bypasses_governance(ctx: RequestContext) -> bool:
    """``x-amz-bypass-governance-retention: true`` from a key with owner
    rights on the bucket (else the header is refused: 403 AccessDenied)."""
    value = ctx.header(b"x-amz-bypass-governance-retention")
    if value is None or value.strip().lower() != "true":
        return False
    if ctx.api_key is None or not ctx.bucket.key_permissions(ctx.api_key.key_id).allow_owner:
        raise errors.AccessDenied("Bypassing governance retention needs owner rights on "
                                  "the bucket")
    return True


async def delete_object(ctx: RequestContext) -> bytes:
    wanted = versioning.requested_version_id(ctx)
    deleted = await delete_key(ctx, ctx.endpoint.key, wanted, bypasses_governance(ctx))
    if deleted.version_id is not None:
        ctx.request.setHeader(b"x-amz-version-id", deleted.version_id.encode())
    if deleted.delete_marker:
        ctx.request.setHeader(b"x-amz-delete-marker", b"true")
    return respond(ctx.request, status=204)


def parse_delete(body: bytes) -> tuple[list, bool]:
    """``([(key, version id or None)], quiet)`` of a ``<Delete>`` document.

    :raises errors.MalformedXML: not such a document, no key, or too many.
    :raises errors.NotImplemented: an entry names a version or a condition
        (:func:`.unbuilt.check_delete_entry`): nothing is deleted then.
    """
    root = parse_document(body, "Delete")
    keys, quiet = [], False
    for child in root:
        name = local_name(child.tag)
        if name == "Quiet":
            quiet = (child.text or "").strip().lower() == "true"
        elif name == "Object":
            fields = {local_name(c.tag): c.text or "" for c in child}
            if "Key" not in fields:
                raise errors.MalformedXML("each <Object> needs a <Key>")
            unbuilt.check_delete_entry(fields)
            version_id = fields.get("VersionId")
            if version_id is not None:
                versioning.check_version_id(version_id.strip(), "VersionId")
                version_id = version_id.strip()
            keys.append((fields["Key"], version_id))
    if not keys:
        raise errors.MalformedXML("<Delete> lists no <Object>")
    if len(keys) > MAX_KEYS:
        raise errors.MalformedXML(f"at most {MAX_KEYS} keys can be deleted at once")
    return keys, quiet


async def delete_objects(ctx: RequestContext) -> bytes:
    body = await read_small_body(ctx, MAX_BODY)
    keys, quiet = parse_delete(body)
    bypass = bypasses_governance(ctx)
    results = [None] * len(keys)

    async def one(i: int, key: str, version_id: str | None) -> None:
        try:
            if len(key.encode()) > 1024:
                raise errors.KeyTooLongError("object keys are at most 1024 bytes")
            # Each key is its own decision (a policy may allow deleting
            # some keys of the bucket and not others).
            await authorization.authorize(ctx, ctx.bucket, ctx.endpoint.bucket, WRITE,
                                          "DeleteObjects", key, version_id)
            results[i] = await delete_key(ctx, key, version_id, bypass)
        except errors.S3Error as e:
            results[i] = (e.code, str(e))
        except QuorumError as e:
            results[i] = ("ServiceUnavailable", f"Could not reach a quorum of nodes: {e}")
        except Exception as e:  # reported for this key; the others go on
            log.failure("DeleteObjects: deleting {key} failed", key=key)
            results[i] = ("InternalError", f"could not delete the key: {e}")

    for start in range(0, len(keys), CONCURRENCY):
        await defer.gatherResults(
            [defer.ensureDeferred(one(i, *keys[i]))
             for i in range(start, min(start + CONCURRENCY, len(keys)))])
    parts = []
    for (key, version_id), result in zip(keys, results):
        if isinstance(result, Deleted):
            if not quiet:
                parts.append("<Deleted>" + element("Key", key) + _deleted_xml(version_id, result)
                             + "</Deleted>")
        else:
            code, message = result
            parts.append("<Error>" + element("Key", key)
                         + (element("VersionId", version_id) if version_id else "")
                         + element("Code", code) + element("Message", message) + "</Error>")
    return respond(ctx.request, body=document("DeleteResult", parts),
                   content_type=b"application/xml")


def _deleted_xml(asked: str | None, deleted: Deleted) -> str:
    """The ``<Deleted>`` fields after ``<Key>``, as AWS orders them."""
    if asked is not None:
        return element("VersionId", asked) + (
            element("DeleteMarker", "true") + element("DeleteMarkerVersionId", asked)
            if deleted.delete_marker else "")
    if deleted.delete_marker:
        return element("DeleteMarker", "true") + \
            element("DeleteMarkerVersionId", deleted.version_id)
    return ""
