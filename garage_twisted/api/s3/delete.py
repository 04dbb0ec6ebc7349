"""DeleteObject: a delete marker as the newest version.

S3 answers 204 whether or not the key existed. A delete marker is only
written when there is something to hide; the previous versions are then
dropped by the object merge, and their blocks released through the cascades.
"""

from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.put import new_uuid
from garage_twisted.model.object import (
    STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
)
from garage_twisted.util.time import now_msec


async def delete_object(ctx: RequestContext) -> bytes:
    table = ctx.api.model.object_table
    key = ctx.endpoint.key
    existing = await table.get(ctx.bucket_id, key.encode())
    if existing is not None and any(
        v.is_data or v.is_uploading for v in existing.versions
    ):
        timestamp = max(now_msec(ctx.api.clock), existing.max_timestamp() + 1)
        marker = ObjectVersion(new_uuid(), timestamp, STATE_COMPLETE,
                               data=ObjectVersionData.delete_marker())
        await table.insert(Object(ctx.bucket_id, key, (marker,)))
    return respond(ctx.request, status=204)
