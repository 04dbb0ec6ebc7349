"""JSON shapes of the admin API's answers (Garage admin API v2 names), and
the ids its requests carry."""

import re

from garage_twisted.api.admin import errors
from garage_twisted.api.s3 import access
from garage_twisted.api.s3 import errors as s3_errors
from garage_twisted.api.s3.policy import load_policy
from garage_twisted.util.time import rfc3339_msec


def parse_hex32(value, what: str) -> bytes:
    """32 bytes given as 64 hexadecimal characters (a bucket id, a node id,
    a block hash). :raises errors.BadRequest: naming ``what`` it expected."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise errors.BadRequest(f"invalid {what} {value!r}: expected 64 hexadecimal characters")
    return bytes.fromhex(value)


def parse_bucket_id(value) -> bytes:
    """A bucket id given as 64 hex characters. :raises errors.BadRequest:"""
    return parse_hex32(value, "bucket id")


def rfc3339(msec: int | None) -> str | None:
    return None if msec is None else rfc3339_msec(msec)


def permissions(perm) -> dict:
    return {"read": perm.allow_read, "write": perm.allow_write, "owner": perm.allow_owner}


def key_info(key, buckets: dict, show_secret: bool) -> dict:
    """GetKeyInfoResponse. ``buckets``: bucket id -> live Bucket."""
    params = key.params
    local_by_bucket = {}
    for name, bucket_id in params.local_aliases.items():
        if bucket_id is not None:
            local_by_bucket.setdefault(bucket_id, []).append(name)
    ids = {b for b, p in params.authorized_buckets.items() if p.is_any()} | set(local_by_bucket)
    entries = []
    for bucket_id in sorted(ids):
        bucket = buckets.get(bucket_id)
        if bucket is None:
            continue
        entries.append({
            "id": bucket_id.hex(),
            "globalAliases": sorted(bucket.global_aliases()),
            "localAliases": sorted(local_by_bucket.get(bucket_id, [])),
            "permissions": permissions(bucket.key_permissions(key.key_id)),
        })
    return {
        "accessKeyId": key.key_id,
        "name": params.name.value,
        "created": None,
        "expiration": None,
        "expired": False,
        "secretAccessKey": params.secret_key if show_secret else None,
        "permissions": {"createBucket": bool(params.allow_create_bucket.value)},
        "buckets": entries,
    }


def bucket_info(bucket, keys: dict, stats: dict) -> dict:
    """GetBucketInfoResponse. ``keys``: key id -> live Key."""
    params = bucket.params
    entries = []
    for key_id, perm in params.authorized_keys.items():
        key = keys.get(key_id)
        local = sorted(name for (k, name), active in params.local_aliases.items()
                       if k == key_id and active)
        if key is None or (not perm.is_any() and not local):
            continue
        entries.append({
            "accessKeyId": key_id,
            "name": key.params.name.value,
            "permissions": permissions(perm),
            "bucketLocalAliases": local,
        })
    website = params.website_config.value
    quotas = params.quotas.value
    return {
        "id": bucket.bucket_id.hex(),
        "created": rfc3339(params.creation_date),
        "globalAliases": sorted(bucket.global_aliases()),
        "websiteAccess": website is not None,
        "websiteConfig": None if website is None else {
            "indexDocument": website.get("index_document", "index.html"),
            "errorDocument": website.get("error_document")},
        "keys": entries,
        "objects": stats["objects"],
        "bytes": stats["bytes"],
        "unfinishedUploads": stats["unfinished_uploads"],
        "unfinishedMultipartUploads": 0,
        "unfinishedMultipartUploadParts": 0,
        "unfinishedMultipartUploadBytes": 0,
        "quotas": {"maxSize": quotas.max_size, "maxObjects": quotas.max_objects},
        # Not in Garage (it has no versioning): null (never set), "Enabled"
        # or "Suspended", as S3's GetBucketVersioning; UpdateBucket sets it.
        "versioning": params.versioning_state,
        "objectLock": object_lock(params),
        **access_fields(bucket),
    }


def object_lock(params) -> dict:
    """Whether a bucket has Object Lock, and the default retention of new
    versions (S3's ObjectLockConfiguration, in the admin API's case)."""
    default = params.object_lock_config.value
    return {
        "enabled": bool(params.object_lock_enabled.value),
        "defaultRetention": None if default is None else {
            "mode": default[0], "days": default[1], "years": default[2]},
    }


def access_fields(bucket) -> dict:
    """Who besides the bucket's keys may act on it (not in Garage, which has
    neither policies nor ACLs): its bucket policy's text, canned ACL,
    PublicAccessBlock flags, and whether it is public, with one sentence per
    reason (``access.public_reasons``: a public policy statement or a public
    ACL that PublicAccessBlock does not hold back)."""
    params = bucket.params
    flags = params.public_access_block.value
    text = params.policy.value
    try:
        policy = None if text is None else load_policy(text)
    except s3_errors.MalformedPolicy:
        # A stored policy this node cannot read (written by a newer node):
        # S3 here refuses every request on the bucket while it stays, so
        # its ACL makes nothing public through this node either.
        reasons = []
    else:
        reasons = list(access.public_reasons(access.BucketAccess(
            policy=policy, bucket_acl=params.acl.value,
            block=access.PublicAccessBlock.from_flags(flags))))
    return {
        "policy": params.policy.value,
        "acl": params.acl.value,
        "publicAccessBlock": None if flags is None else dict(zip(
            ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy",
             "restrictPublicBuckets"), (bool(flag) for flag in flags))),
        "public": {"isPublic": bool(reasons), "reasons": reasons},
    }


def layout(version, staged: dict, staged_redundancy, partition_size=None) -> dict:
    """GetClusterLayoutResponse for ``version`` with the staged changes."""
    assignment = version.assignment
    size = assignment.partition_size if assignment is not None else 0
    roles = []
    for node_id, role in sorted(version.roles.items()):
        stored = assignment.stored_partitions(node_id) if assignment and role.capacity else None
        roles.append({
            "id": node_id.hex(), "zone": role.zone, "capacity": role.capacity,
            "tags": list(role.tags), "storedPartitions": stored,
            "usableCapacity": None if stored is None else stored * size,
        })
    changes = []
    for node_id, role in sorted(staged.items()):
        if role is None:
            changes.append({"id": node_id.hex(), "remove": True})
        else:
            changes.append({"id": node_id.hex(), "zone": role.zone,
                            "capacity": role.capacity, "tags": list(role.tags)})
    return {
        "version": version.version,
        "roles": roles,
        "parameters": {"zoneRedundancy": _redundancy(version.zone_redundancy)},
        "partitionSize": size,
        "stagedRoleChanges": changes,
        "stagedParameters": None if staged_redundancy is None else {
            "zoneRedundancy": _redundancy(staged_redundancy)},
    }


def _redundancy(value):
    return "maximum" if value == "maximum" else {"atLeast": value}
