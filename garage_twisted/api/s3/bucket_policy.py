"""Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus.

A policy is checked whole when put (``policy.parse_policy``: anything
outside the supported subset is 400 MalformedPolicy naming it) and stored
as its text in the bucket's ``policy`` register, answered back as sent.
``BlockPublicPolicy`` refuses a public policy (403 AccessDenied, as AWS).
Every request then goes through ``access.decide`` with it
(``authorization.py``).
"""

from garage_twisted.api.s3 import access, errors
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.policy import MAX_TEXT_BYTES, is_public, load_policy, parse_policy
from garage_twisted.api.s3.xml import document, element


async def put_bucket_policy(ctx: RequestContext) -> bytes:
    body = await read_small_body(ctx, MAX_TEXT_BYTES + 1)
    names = tuple(ctx.bucket.global_aliases()) + (ctx.endpoint.bucket,)
    policy = parse_policy(body, names)
    for key_id in sorted(policy.key_ids):
        if await ctx.api.helper.get_key(key_id) is None:
            raise errors.MalformedPolicy("Invalid principal in policy",
                                         extra={"Detail": f"no access key {key_id}"})
    block = access.PublicAccessBlock.from_flags(ctx.bucket.params.public_access_block.value)
    refusal = access.refuses_policy(block, policy)
    if refusal is not None:
        raise errors.AccessDenied(f"Access Denied: {refusal}")
    await ctx.api.helper.set_bucket_config(ctx.bucket_id, "policy", body.decode("utf-8"))
    return respond(ctx.request, status=204)


def _stored(ctx: RequestContext) -> str:
    text = ctx.bucket.params.policy.value
    if text is None:
        raise errors.NoSuchBucketPolicy("The bucket policy does not exist",
                                        extra={"BucketName": ctx.endpoint.bucket})
    return text


async def get_bucket_policy(ctx: RequestContext) -> bytes:
    return respond(ctx.request, _stored(ctx).encode("utf-8"), content_type=b"application/json")


async def delete_bucket_policy(ctx: RequestContext) -> bytes:
    await ctx.api.helper.set_bucket_config(ctx.bucket_id, "policy", None)
    return respond(ctx.request, status=204)


async def get_bucket_policy_status(ctx: RequestContext) -> bytes:
    public = is_public(load_policy(_stored(ctx)))
    return respond(ctx.request, document("PolicyStatus", [
        element("IsPublic", "true" if public else "false")]))
