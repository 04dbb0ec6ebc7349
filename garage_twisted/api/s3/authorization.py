"""Every S3 request through the one access decision (``access.decide``).

The dispatcher calls :func:`authorize` once the bucket is known: it gathers
what ``decide`` needs (the key's permission flags on the bucket, the
bucket's policy, ACL and PublicAccessBlock, the request's condition values)
and raises 403 AccessDenied with the decision's reason when it refuses.
Requests that act on more than one thing ask again: DeleteObjects per key,
CopyObject and UploadPartCopy for their source.

Cost when a bucket has no policy and no ACL (the common case): the key's
flags decide, as before, with no condition values computed and nothing
parsed. A policy is parsed once per distinct text (``policy.load_policy``
keeps the last few). An object's own ACL can only grant reads of that
object: it is read (one more object read) only when a read of an object
was refused otherwise.

Anonymous requests (no signature at all) reach the dispatcher with no key:
they are served exactly when the bucket's policy or ACLs allow them.
"""

from garage_twisted.api.s3 import access, errors
from garage_twisted.api.s3.context import OWNER, READ, WRITE
from garage_twisted.api.s3.policy import load_policy
from garage_twisted.util.time import now_msec

# Object reads an object's ACL may grant (access.OBJECT_ACL_GRANTS).
_OBJECT_READS = frozenset({"GetObject", "HeadObject", "CopySource", "Website"})
# Query parameters that carry a request's authentication.
_AUTH_QUERY = ("X-Amz-Signature", "X-Amz-Credential", "Signature", "AWSAccessKeyId")


def is_anonymous(request, raw_query: str) -> bool:
    """Whether ``request`` carries no authentication at all (no
    ``Authorization`` header, no presigned-URL parameters)."""
    if request.getHeader(b"authorization") is not None:
        return False
    return not any(f"{name}=" in raw_query for name in _AUTH_QUERY)


def bucket_access(bucket, object_acl: str | None = None) -> access.BucketAccess:
    params = bucket.params
    text = params.policy.value
    try:
        policy = None if text is None else load_policy(text)
    except errors.MalformedPolicy:
        # A stored policy this node cannot read: refuse rather than ignore
        # it (its Deny statements would be lost).
        raise errors.AccessDenied("Access Denied: the bucket's policy cannot be read by "
                                  "this node") from None
    return access.BucketAccess(
        policy=policy,
        bucket_acl=params.acl.value, object_acl=object_acl,
        block=access.PublicAccessBlock.from_flags(params.public_access_block.value),
        bucket_names=tuple(bucket.global_aliases()))


def has_rules(bucket) -> bool:
    """Whether anything beyond the keys' flags can decide on ``bucket``."""
    params = bucket.params
    return params.policy.value is not None or params.acl.value is not None


def condition_context(ctx) -> dict:
    """The values a policy's conditions read, from the request."""
    request = ctx.request
    query = ctx.endpoint.query
    address = request.getClientAddress()
    values = {
        "aws:SourceIp": getattr(address, "host", None),
        "aws:SecureTransport": bool(request.isSecure()),
        "aws:CurrentTime": now_msec(ctx.api.clock),
        "aws:Referer": ctx.header(b"referer"),
        "aws:UserAgent": ctx.header(b"user-agent"),
    }
    if ctx.endpoint.key is None:
        for name in ("prefix", "delimiter", "max-keys"):
            if name in query:
                values["s3:" + name] = query[name]
    return values


def key_right(ctx, bucket, right: str) -> bool:
    """Whether the request's key holds ``right`` on ``bucket`` by its flags."""
    if ctx.api_key is None:
        return False
    perm = bucket.key_permissions(ctx.api_key.key_id)
    return {READ: perm.allow_read, WRITE: perm.allow_write, OWNER: perm.allow_owner}[right]


async def authorize(ctx, bucket, name: str, right: str, action: str,
                    key: str | None = None, version_id: str | None = None) -> access.Decision:
    """Decide ``action`` on bucket ``bucket`` (named ``name`` by the
    request) and, for object actions, ``key``.

    :raises errors.AccessDenied: refused (the reason is logged and sent).
    """
    allowed_by_flags = key_right(ctx, bucket, right)
    if allowed_by_flags and not has_rules(bucket):
        return access.Decision(True, "the key's permission on the bucket")
    principal = access.Principal(
        None if ctx.api_key is None else ctx.api_key.key_id,
        ctx.api_key is not None and bucket.key_permissions(ctx.api_key.key_id).is_any())
    request = access.AccessRequest(action, name, key, condition_context(ctx), version_id)
    decision = access.decide(principal, allowed_by_flags, request, bucket_access(bucket))
    if not decision.allowed and action in _OBJECT_READS and key is not None:
        acl = await _object_acl(ctx, bucket, key, version_id)
        if acl is not None:
            decision = access.decide(principal, allowed_by_flags, request,
                                     bucket_access(bucket, acl))
    if not decision.allowed:
        who = "anonymous request" if ctx.api_key is None else f"key {ctx.api_key.key_id}"
        raise errors.AccessDenied(f"Access Denied ({who}: {decision.reason})")
    return decision


async def _object_acl(ctx, bucket, key: str, version_id: str | None) -> str | None:
    obj = await ctx.api.model.object_table.get(bucket.bucket_id, key.encode())
    if obj is None:
        return None
    version = obj.find_version(version_id) if version_id is not None else obj.latest_version()
    if version is None or version.acl is None:
        return None
    return version.acl.value
