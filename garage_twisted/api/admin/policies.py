"""Admin API: a bucket's policy, for the operator (not in Garage, which
has no bucket policies: these endpoints are ours, in its v2 style).

- ``GET /v2/GetBucketPolicy?id=<bucket id>``: ``{"id", "policy"}``, the
  text as it was put; 404 ``NoSuchBucketPolicy`` when it has none.
- ``POST /v2/PutBucketPolicy?id=<bucket id>`` with ``{"policy": "<text>"}``
  (the policy document as a JSON *string*, so that the text is stored and
  answered back byte for byte, as S3's GetBucketPolicy does): the
  GetBucketInfo answer, which says whether the bucket is now public.
- ``POST /v2/DeleteBucketPolicy?id=<bucket id>``: the GetBucketInfo answer
  (deleting a policy that is not there is no error, as in S3).

A policy is checked as S3's PutBucketPolicy checks it (``bucket_policy.py``):
the supported subset of the policy language (400 ``MalformedPolicy`` naming
what is wrong or unsupported), its resources naming this bucket, every
access key id of its principals existing (400 ``MalformedPolicy``), and the
bucket's ``BlockPublicPolicy`` refusing a public policy (409
``InvalidBucketState``: AWS's 403 would read as a bad admin token here).

The admin API is not bound by the policy it sets: it is the way out when a
policy locks every key out of a bucket (a Deny of ``s3:*`` to ``"*"``
refuses even the owner's DeleteBucketPolicy through S3).
"""

from garage_twisted.api.admin import errors, render
from garage_twisted.api.admin.bucket_info import bucket_info
from garage_twisted.api.s3 import access
from garage_twisted.api.s3 import errors as s3_errors
from garage_twisted.api.s3.policy import parse_policy

_PUT_BODY = ('PutBucketPolicy takes {"policy": "<the policy document>"}: the document as '
             'a JSON string (its text), not as an object')


async def _bucket(api, query):
    if "id" not in query:
        raise errors.BadRequest("missing id (the bucket's id, 64 hexadecimal characters)")
    return await api.helper.get_existing_bucket(render.parse_bucket_id(query["id"]))


def bucket_names(bucket) -> tuple:
    """Every name the bucket answers to (global aliases, then keys' local
    aliases): a policy's resources must name it under one of them."""
    local = sorted({name for (_, name), active in bucket.params.local_aliases.items()
                    if active})
    return tuple(sorted(bucket.global_aliases())) + tuple(local)


async def get_bucket_policy(api, query, body):
    bucket = await _bucket(api, query)
    text = bucket.params.policy.value
    if text is None:
        raise errors.NoSuchBucketPolicy("the bucket has no policy")
    return {"id": bucket.bucket_id.hex(), "policy": text}


async def put_bucket_policy(api, query, body):
    bucket = await _bucket(api, query)
    text = body.get("policy")
    if not isinstance(text, str):
        raise errors.BadRequest(_PUT_BODY)
    try:
        policy = parse_policy(text.encode("utf-8"), bucket_names(bucket))
    except s3_errors.MalformedPolicy as e:
        raise errors.MalformedPolicy(e.message) from None
    except UnicodeEncodeError:
        # A lone surrogate (``"\\ud800"`` in the body's JSON) is no text.
        raise errors.MalformedPolicy("the policy is not valid UTF-8 text") from None
    for key_id in sorted(policy.key_ids):
        if await api.helper.get_key(key_id) is None:
            raise errors.MalformedPolicy(f"Invalid principal in policy: no access key {key_id}")
    block = access.PublicAccessBlock.from_flags(bucket.params.public_access_block.value)
    refusal = access.refuses_policy(block, policy)
    if refusal is not None:
        raise errors.InvalidBucketState(
            f"{refusal}; nothing was changed (remove the block with S3's "
            "DeletePublicAccessBlock, or put a policy that is not public)")
    await api.helper.set_bucket_config(bucket.bucket_id, "policy", text)
    return await bucket_info(api, await api.helper.get_existing_bucket(bucket.bucket_id))


async def delete_bucket_policy(api, query, body):
    bucket = await _bucket(api, query)
    if bucket.params.policy.value is not None:
        await api.helper.set_bucket_config(bucket.bucket_id, "policy", None)
        bucket = await api.helper.get_existing_bucket(bucket.bucket_id)
    return await bucket_info(api, bucket)
