"""DeleteObject and DeleteObjects: a delete marker as the newest version.

S3 answers 204 whether or not the key existed. A delete marker is only
written when there is something to hide; the previous versions are then
dropped by the object merge, and their blocks released through the cascades.

DeleteObjects (``POST /bucket?delete``) takes up to 1,000 keys in an XML
``<Delete>`` document and answers per key (``<Deleted>``, or ``<Error>`` with
an S3 code); in ``<Quiet>`` mode only the errors are listed. Keys are
deleted a few at a time concurrently.
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.s3 import errors, unbuilt
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.put import new_uuid
from garage_twisted.api.s3.xml import document, element, local_name, parse_document
from garage_twisted.model.object import (
    STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
)
from garage_twisted.util.errors import QuorumError
from garage_twisted.util.time import now_msec

MAX_KEYS = 1000
MAX_BODY = 2 * 1024 * 1024
CONCURRENCY = 16

log = Logger()


async def _delete_key(ctx: RequestContext, key: str) -> None:
    table = ctx.api.model.object_table
    existing = await table.get(ctx.bucket_id, key.encode())
    if existing is not None and any(
        v.is_data or v.is_uploading for v in existing.versions
    ):
        timestamp = max(now_msec(ctx.api.clock), existing.max_timestamp() + 1)
        marker = ObjectVersion(new_uuid(), timestamp, STATE_COMPLETE,
                               data=ObjectVersionData.delete_marker())
        await table.insert(Object(ctx.bucket_id, key, (marker,)))


async def delete_object(ctx: RequestContext) -> bytes:
    await _delete_key(ctx, ctx.endpoint.key)
    return respond(ctx.request, status=204)



def parse_delete(body: bytes) -> tuple[list, bool]:
    """``([keys], quiet)`` of a ``<Delete>`` document.

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
            keys.append(fields["Key"])
    if not keys:
        raise errors.MalformedXML("<Delete> lists no <Object>")
    if len(keys) > MAX_KEYS:
        raise errors.MalformedXML(f"at most {MAX_KEYS} keys can be deleted at once")
    return keys, quiet


async def delete_objects(ctx: RequestContext) -> bytes:
    body = await read_small_body(ctx, MAX_BODY)
    keys, quiet = parse_delete(body)
    results = [None] * len(keys)

    async def one(i: int, key: str) -> None:
        try:
            if len(key.encode()) > 1024:
                raise errors.KeyTooLongError("object keys are at most 1024 bytes")
            await _delete_key(ctx, key)
        except errors.S3Error as e:
            results[i] = (e.code, str(e))
        except QuorumError as e:
            results[i] = ("ServiceUnavailable", f"Could not reach a quorum of nodes: {e}")
        except Exception as e:  # reported for this key; the others go on
            log.failure("DeleteObjects: deleting {key} failed", key=key)
            results[i] = ("InternalError", f"could not delete the key: {e}")

    for start in range(0, len(keys), CONCURRENCY):
        await defer.gatherResults(
            [defer.ensureDeferred(one(i, keys[i]))
             for i in range(start, min(start + CONCURRENCY, len(keys)))])
    parts = []
    for key, result in zip(keys, results):
        if result is None:
            if not quiet:
                parts.append("<Deleted>" + element("Key", key) + "</Deleted>")
        else:
            code, message = result
            parts.append("<Error>" + element("Key", key) + element("Code", code)
                         + element("Message", message) + "</Error>")
    return respond(ctx.request, body=document("DeleteResult", parts),
                   content_type=b"application/xml")
