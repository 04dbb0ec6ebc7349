"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation.

CreateBucket of an existing name succeeds, changing nothing, for a key that
owns the bucket or may write to it (Garage's rule); any other key gets
BucketAlreadyExists.

Names follow Garage: a key sees the buckets it has any right on, under their
global aliases and its own local aliases. ListBuckets pages as S3 does with
``max-buckets``, ``continuation-token`` (opaque: the last name given, in
URL-safe base64) and ``prefix``.
"""

from twisted.logger import Logger

from garage_twisted.api.s3 import acl, errors, unbuilt
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.listing import decode_token, encode_token
from garage_twisted.api.s3.xml import (document, element, iso8601, local_name,
                                      safe_fromstring)
from garage_twisted.model import errors as model_errors

log = Logger()

MAX_CREATE_BODY = 64 * 1024
MAX_BUCKETS = 10000


def _list_page(ctx: RequestContext):
    """``(prefix, after, max_buckets)`` of a ListBuckets request."""
    query = ctx.endpoint.query
    raw = query.get("max-buckets")
    try:
        max_buckets = MAX_BUCKETS if raw is None else int(raw)
    except ValueError:
        max_buckets = 0
    if not 1 <= max_buckets <= MAX_BUCKETS:
        raise errors.InvalidArgument(f"max-buckets must be between 1 and {MAX_BUCKETS}")
    token = query.get("continuation-token")
    after = None if token is None else decode_token(token)
    return query.get("prefix", ""), after, max_buckets


async def list_buckets(ctx: RequestContext) -> bytes:
    prefix, after, max_buckets = _list_page(ctx)
    helper = ctx.api.helper
    key = ctx.api_key
    entries = []
    for bucket_id, perm in key.params.authorized_buckets.items():
        if not perm.is_any():
            continue
        bucket = await helper.get_bucket(bucket_id)
        if bucket is None:
            continue
        names = set(bucket.global_aliases())
        names.update(
            name for name, target in key.params.local_aliases.items()
            if target == bucket_id
        )
        for name in names:
            entries.append((name, bucket.params.creation_date))
    entries = sorted(e for e in entries
                     if e[0].startswith(prefix) and (after is None or e[0] > after))
    page = entries[:max_buckets]
    parts = [
        "<Owner>", element("ID", key.key_id), element("DisplayName", key.params.name.value),
        "</Owner><Buckets>",
    ]
    for name, created in page:
        parts.append(
            "<Bucket>" + element("Name", name) + element("CreationDate", iso8601(created))
            + element("BucketRegion", ctx.api.region) + "</Bucket>"
        )
    parts.append("</Buckets>")
    if len(entries) > len(page):
        parts.append(element("ContinuationToken", encode_token(page[-1][0])))
    if prefix:
        parts.append(element("Prefix", prefix))
    return respond(ctx.request, document("ListAllMyBucketsResult", parts))


async def create_bucket(ctx: RequestContext, body: bytes) -> bytes:
    api = ctx.api
    name = ctx.endpoint.bucket
    if body.strip():
        try:
            root = safe_fromstring(body)
        except Exception:
            raise errors.MalformedXML("CreateBucketConfiguration is not valid XML") from None
        unbuilt.check_bucket_configuration(local_name(child.tag) for child in root)
        constraint = None
        for elem in root.iter():
            if elem.tag.rsplit("}", 1)[-1] == "LocationConstraint":
                constraint = (elem.text or "").strip()
        if constraint and constraint != api.region:
            raise errors.InvalidLocationConstraint(
                f"Cannot satisfy location constraint `{constraint}`: "
                f"buckets can only be created in region `{api.region}`"
            )
    key = ctx.api_key
    existing_id = await api.helper.resolve_bucket(name, key)
    bucket = None if existing_id is None else await api.helper.get_bucket(existing_id)
    if bucket is not None:
        if _may_recreate(bucket, key):
            # Idempotent, as Garage, Ceph RGW and AWS in us-east-1: scripts
            # create their buckets on every run. Nothing changes.
            log.info("CreateBucket {bucket}: already exists for key {key_id}, nothing done",
                     bucket=name, key_id=key.key_id)
            ctx.request.setHeader(b"location", b"/" + name.encode())
            return respond(ctx.request)
        raise errors.BucketAlreadyExists(f"bucket name {name} is not available")
    if not key.params.allow_create_bucket.value:
        raise errors.AccessDenied("this key is not allowed to create buckets")
    lock = (ctx.header(b"x-amz-bucket-object-lock-enabled") or "").strip().lower() == "true"
    canned = acl.requested_acl(ctx.header)
    try:
        created = await api.helper.create_bucket(name, owner=key, object_lock=lock)
        if canned not in (None, acl.PRIVATE):
            await api.helper.set_bucket_config(created.bucket_id, "acl", canned)
    except model_errors.BucketAlreadyOwnedByYou:
        # A concurrent CreateBucket of this key took the name first.
        pass
    ctx.request.setHeader(b"location", b"/" + name.encode())
    return respond(ctx.request)


def _may_recreate(bucket, key) -> bool:
    """Whether ``key``'s CreateBucket of existing ``bucket`` is a success
    that changes nothing: the key owns it or may write to it (Garage's
    rule: the bucket is there for it to use). Any other key gets
    BucketAlreadyExists."""
    permissions = bucket.key_permissions(key.key_id)
    return permissions.allow_owner or permissions.allow_write


async def head_bucket(ctx: RequestContext) -> bytes:
    ctx.request.setHeader(b"x-amz-bucket-region", ctx.api.region.encode())
    return respond(ctx.request)


async def get_bucket_location(ctx: RequestContext) -> bytes:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{ctx.api.region}</LocationConstraint>"
    ).encode()
    return respond(ctx.request, body)


async def delete_bucket(ctx: RequestContext) -> bytes:
    await ctx.api.helper.delete_bucket(ctx.bucket_id)
    return respond(ctx.request, status=204)
