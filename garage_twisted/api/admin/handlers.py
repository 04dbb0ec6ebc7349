"""Admin API v2 operations: keys, buckets, aliases, permissions, layout.

Each handler takes the :class:`~garage_twisted.api.admin.api.AdminApi`, the
query parameters and the decoded JSON body, and returns the JSON answer;
names and shapes follow Garage's ``garage-admin-v2`` OpenAPI document.
"""

import re
from dataclasses import replace

from garage_twisted.api.admin import errors, objects, policies, render, tokens
from garage_twisted.api.admin.bucket_info import bucket_info as _bucket_info
from garage_twisted.api.admin.node_ops import cluster_statistics
from garage_twisted.api.s3 import errors as s3_errors
from garage_twisted.api.s3 import versioning
from garage_twisted.model import errors as model_errors
from garage_twisted.model.bucket import BucketQuotas
from garage_twisted.model.helper import ModelHelper
from garage_twisted.net.keys import NodeKeyError, parse_peer_address
from garage_twisted.rpc.layout import NodeRole


def _require(value, what):
    if value is None:
        raise errors.BadRequest(f"missing {what}")
    return value


# -- keys ---------------------------------------------------------------

async def _key_info(api, key, show_secret=False):
    buckets = {b.bucket_id: b for b in await api.helper.list_buckets()}
    return render.key_info(key, buckets, show_secret)


async def list_keys(api, query, body):
    keys = await api.helper.list_keys()
    return [{"id": k.key_id, "name": k.params.name.value, "created": None,
             "expiration": None, "expired": False} for k in keys]


async def get_key_info(api, query, body):
    helper: ModelHelper = api.helper
    if "id" in query:
        key = await helper.get_existing_key(query["id"])
    elif "search" in query:
        key = await helper.find_key(query["search"])
    else:
        raise errors.BadRequest("GetKeyInfo needs id= or search=")
    return await _key_info(api, key, query.get("showSecretKey") == "true")


async def create_key(api, query, body):
    key = await api.helper.create_key(body.get("name") or "Unnamed key")
    key = await _update_key_fields(api, key, body)
    return await _key_info(api, key, True)


async def import_key(api, query, body):
    key_id = _require(body.get("accessKeyId"), "accessKeyId")
    secret = _require(body.get("secretAccessKey"), "secretAccessKey")
    if not re.fullmatch(r"GK[0-9a-f]{24}", key_id):
        raise errors.BadRequest("accessKeyId must be GK followed by 24 hex characters")
    if not re.fullmatch(r"[0-9a-f]{64}", secret):
        raise errors.BadRequest("secretAccessKey must be 64 hex characters")
    key = await api.helper.create_key(body.get("name") or "Imported key", key_id, secret)
    return await _key_info(api, key, False)


async def _update_key_fields(api, key, body):
    allow = (body.get("allow") or {}).get("createBucket")
    deny = (body.get("deny") or {}).get("createBucket")
    create = True if allow else (False if deny else None)
    if body.get("expiration") is not None:
        raise errors.NotImplemented("key expiration is not supported yet")
    return await api.helper.update_key(key, name=body.get("name"), allow_create_bucket=create)


async def update_key(api, query, body):
    key = await api.helper.get_existing_key(_require(query.get("id"), "id"))
    key = await _update_key_fields(api, key, body)
    return await _key_info(api, key, False)


async def delete_key(api, query, body):
    key = await api.helper.get_existing_key(_require(query.get("id"), "id"))
    await api.helper.delete_key(key)
    return None


# -- buckets ------------------------------------------------------------

async def list_buckets(api, query, body):
    out = []
    for bucket in await api.helper.list_buckets():
        out.append({
            "id": bucket.bucket_id.hex(),
            "created": render.rfc3339(bucket.params.creation_date),
            "globalAliases": sorted(bucket.global_aliases()),
            "localAliases": [{"accessKeyId": k, "alias": name}
                             for (k, name), active in bucket.params.local_aliases.items()
                             if active],
        })
    return out


async def get_bucket_info(api, query, body):
    helper = api.helper
    if "id" in query:
        bucket = await helper.get_existing_bucket(render.parse_bucket_id(query["id"]))
    elif "globalAlias" in query:
        bucket_id = await helper.resolve_global_alias(query["globalAlias"])
        if bucket_id is None:
            raise errors.NoSuchBucket(f"bucket {query['globalAlias']} not found")
        bucket = await helper.get_existing_bucket(bucket_id)
    elif "search" in query:
        bucket = await helper.find_bucket(query["search"])
    else:
        raise errors.BadRequest("GetBucketInfo needs id=, globalAlias= or search=")
    return await _bucket_info(api, bucket)


async def create_bucket(api, query, body):
    helper = api.helper
    global_alias = body.get("globalAlias")
    local = body.get("localAlias")
    if global_alias is None and local is None:
        bucket = await helper.create_bucket(None)
    else:
        if global_alias is not None:
            if await helper.resolve_global_alias(global_alias) is not None:
                raise errors.BucketAlreadyExists(f"global alias {global_alias} already exists")
        bucket = await helper.create_bucket(global_alias)
    if local is not None:
        key_id = _require(local.get("accessKeyId"), "localAlias.accessKeyId")
        await helper.set_local_alias(bucket.bucket_id, key_id,
                                     _require(local.get("alias"), "localAlias.alias"))
        allow = local.get("allow") or {}
        if any(allow.get(x) for x in ("read", "write", "owner")):
            await helper.set_permissions(bucket.bucket_id, key_id, bool(allow.get("read")),
                                         bool(allow.get("write")), bool(allow.get("owner")))
    bucket = await helper.get_existing_bucket(bucket.bucket_id)
    return await _bucket_info(api, bucket)


def _versioning_of(body) -> str | None:
    """The versioning UpdateBucket's body asks for (``"Enabled"`` or
    ``"Suspended"``, as S3's PutBucketVersioning), or None to keep it.

    Garage has no versioning: this field, next to ``websiteAccess`` and
    ``quotas``, is ours; GetBucketInfo answers it under the same name.
    """
    value = body.get("versioning")
    if value is not None and value not in (versioning.ENABLED, versioning.SUSPENDED):
        raise errors.BadRequest(f'versioning must be "{versioning.ENABLED}" or '
                                f'"{versioning.SUSPENDED}", not {value!r}')
    return value


async def update_bucket(api, query, body):
    helper = api.helper
    bucket_id = render.parse_bucket_id(_require(query.get("id"), "id"))
    bucket = await helper.get_existing_bucket(bucket_id)
    # Every field is read and checked before anything is written: a refused
    # request changes nothing.
    changes = {}  # BucketParams register -> its new value
    if body.get("websiteAccess") is not None:
        access = body["websiteAccess"]
        changes["website_config"] = None
        if access.get("enabled"):
            changes["website_config"] = {
                "index_document": _require(access.get("indexDocument"),
                                           "websiteAccess.indexDocument"),
                "error_document": access.get("errorDocument")}
    if body.get("quotas") is not None:
        wanted = body["quotas"]
        changes["quotas"] = BucketQuotas(wanted.get("maxSize"), wanted.get("maxObjects"))
    status = _versioning_of(body)
    if status is not None:
        try:
            await versioning.set_versioning(helper, bucket_id, status)
        except s3_errors.InvalidBucketState:
            raise errors.InvalidBucketState(
                "the bucket has Object Lock enabled: its versioning stays Enabled and "
                "cannot be suspended") from None
        bucket = await helper.get_existing_bucket(bucket_id)
    if changes:
        params, now = bucket.params, helper.now()
        params = replace(params, **{name: getattr(params, name).update(now, value)
                                    for name, value in changes.items()})
        await helper.model.bucket_table.insert(bucket.with_params(params))
    bucket = await helper.get_existing_bucket(bucket.bucket_id)
    return await _bucket_info(api, bucket)


async def delete_bucket(api, query, body):
    bucket_id = render.parse_bucket_id(_require(query.get("id"), "id"))
    try:
        await api.helper.delete_bucket(bucket_id)
    except model_errors.BucketNotEmpty as e:
        bucket = await api.helper.get_bucket(bucket_id)
        if bucket is None or bucket.params.versioning_state is None:
            raise
        # Versions of their own keep the bucket while no object shows (the
        # object count and ListObjects see current versions only): say so.
        raise errors.BucketNotEmpty(
            f"{e.message}: its versioning is {bucket.params.versioning_state}, and every "
            "version (noncurrent versions and delete markers included) must be deleted "
            "by its version id first (S3 ListObjectVersions lists them)") from None
    return None


async def _change_permissions(api, body, grant: bool):
    helper = api.helper
    bucket_id = render.parse_bucket_id(_require(body.get("bucketId"), "bucketId"))
    key_id = _require(body.get("accessKeyId"), "accessKeyId")
    wanted = body.get("permissions") or {}
    bucket = await helper.get_existing_bucket(bucket_id)
    await helper.get_existing_key(key_id)
    perm = bucket.key_permissions(key_id)
    read, write, owner = perm.allow_read, perm.allow_write, perm.allow_owner
    if wanted.get("read"):
        read = grant
    if wanted.get("write"):
        write = grant
    if wanted.get("owner"):
        owner = grant
    await helper.set_permissions(bucket_id, key_id, read, write, owner)
    return await _bucket_info(api, await helper.get_existing_bucket(bucket_id))


async def allow_bucket_key(api, query, body):
    return await _change_permissions(api, body, True)


async def deny_bucket_key(api, query, body):
    return await _change_permissions(api, body, False)


async def add_bucket_alias(api, query, body):
    bucket_id = render.parse_bucket_id(_require(body.get("bucketId"), "bucketId"))
    if "globalAlias" in body:
        await api.helper.set_global_alias(bucket_id, body["globalAlias"])
    else:
        await api.helper.set_local_alias(bucket_id, _require(body.get("accessKeyId"),
                                                             "accessKeyId"),
                                         _require(body.get("localAlias"), "localAlias"))
    return await _bucket_info(api, await api.helper.get_existing_bucket(bucket_id))


async def remove_bucket_alias(api, query, body):
    bucket_id = render.parse_bucket_id(_require(body.get("bucketId"), "bucketId"))
    if "globalAlias" in body:
        await api.helper.unset_global_alias(bucket_id, body["globalAlias"])
    else:
        await api.helper.unset_local_alias(bucket_id, _require(body.get("accessKeyId"),
                                                               "accessKeyId"),
                                           _require(body.get("localAlias"), "localAlias"))
    return await _bucket_info(api, await api.helper.get_existing_bucket(bucket_id))


# -- cluster ------------------------------------------------------------

async def get_cluster_status(api, query, body):
    return {"layoutVersion": api.layout.current().version, "nodes": api.system.node_statuses()}


async def connect_cluster_nodes(api, query, body):
    """Dial each ``<node id>@host:port`` of the body (Garage's ConnectClusterNodes)."""
    if not isinstance(body, list):
        raise errors.BadRequest('expected a JSON list of "<node id>@<host>:<port>" strings')
    peering = api.system.peering
    results = []
    for value in body:
        try:
            address = parse_peer_address(value if isinstance(value, str) else "")
        except NodeKeyError as e:
            results.append({"success": False, "error": str(e)})
            continue
        if peering is None:
            results.append({"success": False, "error": "this node has no peer network"})
            continue
        try:
            await peering.add_peer(address)
            results.append({"success": True, "error": None})
        except Exception as e:  # reported to the caller, per node
            results.append({"success": False, "error": f"{type(e).__name__}: {e}"})
    return results


async def get_cluster_health(api, query, body):
    return api.system.health()


def _layout_answer(api):
    return render.layout(api.layout.current(), api.layout.staged_roles(),
                         api.layout.state.staged_zone_redundancy)


async def get_cluster_layout(api, query, body):
    return _layout_answer(api)


def _node_id(api, value: str) -> bytes:
    return render.parse_hex32(value, "node id")


async def update_cluster_layout(api, query, body):
    for change in body.get("roles") or []:
        node_id = _node_id(api, change.get("id"))
        if change.get("remove"):
            api.layout.stage_role(node_id, None)
            continue
        zone = _require(change.get("zone"), "zone")
        capacity = change.get("capacity")
        if capacity is not None and (not isinstance(capacity, int) or capacity <= 0):
            raise errors.BadRequest("capacity must be a positive number of bytes, or null")
        api.layout.stage_role(node_id, NodeRole(zone, capacity, tuple(change.get("tags") or ())))
    parameters = body.get("parameters")
    if parameters is not None:
        redundancy = parameters.get("zoneRedundancy")
        if isinstance(redundancy, dict):
            redundancy = redundancy.get("atLeast")
        api.layout.stage_zone_redundancy(redundancy)
    return _layout_answer(api)


async def preview_cluster_layout_changes(api, query, body):
    try:
        new = api.layout.preview()
    except Exception as e:
        return {"error": str(e)}
    moved = new.assignment.moves_from(api.layout.current().assignment)
    usable = new.assignment.partition_size * len(new.assignment.partitions)
    return {"message": [f"Layout version {new.version} would be applied.",
                        f"A total of {moved} new copies of partitions need to be transferred.",
                        f"Usable capacity (each copy counted once): {usable} bytes."],
            "newLayout": render.layout(new, {}, None),
            "partitionsMoved": moved}


async def apply_cluster_layout(api, query, body):
    version = _require(body.get("version"), "version")
    new = api.layout.apply(version)
    message = [f"New cluster layout with version {new.version} has been applied in cluster.",
               f"Partition size: {new.assignment.partition_size} bytes."]
    return {"message": message, "layout": _layout_answer(api)}


async def cluster_layout_skip_dead_nodes(api, query, body):
    """Garage's ClusterLayoutSkipDeadNodes: trackers of down nodes move on."""
    version = _require(body.get("version"), "version")
    if not isinstance(version, int):
        raise errors.BadRequest("version must be an integer")
    dead = api.layout.state.storage_nodes() - api.system.connected_nodes()
    acked, synced = api.layout.skip_dead_nodes(version, dead, bool(body.get("allowMissingData")))
    return {"ackUpdated": [n.hex() for n in acked], "syncUpdated": [n.hex() for n in synced]}


async def revert_cluster_layout(api, query, body):
    api.layout.revert()
    return _layout_answer(api)


async def get_cluster_layout_history(api, query, body):
    """Versions (current, draining: still active while data moves, historical)
    and the per-node update trackers, as Garage's GetClusterLayoutHistory."""
    current = api.layout.current().version
    active = {v.version for v in api.layout.active_versions()}
    versions = []
    for v, storage, gateways in reversed(api.layout.history()):
        status = "Current" if v == current else ("Draining" if v in active else "Historical")
        versions.append({"version": v, "status": status,
                         "storageNodes": storage, "gatewayNodes": gateways})
    trackers = api.layout.trackers()
    nodes = sorted(set(trackers.ack) | set(trackers.sync) | set(trackers.sync_ack))
    storage = api.layout.state.storage_nodes()
    return {
        "currentVersion": current,
        "minAck": trackers.min_among("ack", storage, default=current),
        "versions": versions,
        "updateTrackers": {n.hex(): {"ack": trackers.ack.get(n, 0),
                                     "sync": trackers.sync.get(n, 0),
                                     "syncAck": trackers.sync_ack.get(n, 0)}
                           for n in nodes} or None,
    }


async def get_cluster_statistics(api, query, body):
    """Garage's GetClusterStatistics: the storage nodes, their partitions
    and free space (asked of each node), and the space the cluster can still
    take, in its freeform text."""
    return {"freeform": await cluster_statistics(api)}


# endpoint name -> (HTTP method, handler)
ENDPOINTS = {
    "GetClusterStatus": ("GET", get_cluster_status),
    "GetClusterHealth": ("GET", get_cluster_health),
    "ConnectClusterNodes": ("POST", connect_cluster_nodes),
    "GetClusterLayout": ("GET", get_cluster_layout),
    "UpdateClusterLayout": ("POST", update_cluster_layout),
    "PreviewClusterLayoutChanges": ("POST", preview_cluster_layout_changes),
    "ApplyClusterLayout": ("POST", apply_cluster_layout),
    "RevertClusterLayout": ("POST", revert_cluster_layout),
    "ClusterLayoutSkipDeadNodes": ("POST", cluster_layout_skip_dead_nodes),
    "GetClusterLayoutHistory": ("GET", get_cluster_layout_history),
    "GetClusterStatistics": ("GET", get_cluster_statistics),
    "ListKeys": ("GET", list_keys),
    "GetKeyInfo": ("GET", get_key_info),
    "CreateKey": ("POST", create_key),
    "ImportKey": ("POST", import_key),
    "UpdateKey": ("POST", update_key),
    "DeleteKey": ("POST", delete_key),
    "ListBuckets": ("GET", list_buckets),
    "GetBucketInfo": ("GET", get_bucket_info),
    "CreateBucket": ("POST", create_bucket),
    "UpdateBucket": ("POST", update_bucket),
    "DeleteBucket": ("POST", delete_bucket),
    "CleanupIncompleteUploads": ("POST", objects.cleanup_incomplete_uploads),
    "InspectObject": ("GET", objects.inspect_object),
    "AllowBucketKey": ("POST", allow_bucket_key),
    "DenyBucketKey": ("POST", deny_bucket_key),
    "AddBucketAlias": ("POST", add_bucket_alias),
    "RemoveBucketAlias": ("POST", remove_bucket_alias),
    # Not in Garage (policies.py).
    "GetBucketPolicy": ("GET", policies.get_bucket_policy),
    "PutBucketPolicy": ("POST", policies.put_bucket_policy),
    "DeleteBucketPolicy": ("POST", policies.delete_bucket_policy),
    **tokens.ENDPOINTS,
}
