"""What each ``garage`` CLI command does, on top of :class:`AdminClient`.

Every command is an ``async`` function ``(client, args, out)`` that prints
to ``out`` (a text stream) and raises ``CliError`` for the user to read.
"""

import sys

from garage_twisted.cli.client import CliError, load_cli_config
from garage_twisted.cli.format import human_size, parse_capacity, table


def _perm_flags(perm: dict) -> str:
    return (("R" if perm.get("read") else " ") + ("W" if perm.get("write") else " ")
            + ("O" if perm.get("owner") else " "))


# -- status / node ------------------------------------------------------

def node_id(args, out):
    """``node id``: read from this machine's files, not the admin API."""
    from garage_twisted.net.keys import read_node_id

    config = load_cli_config(args)
    node = read_node_id(config.metadata_dir).hex()
    address = config.rpc_public_addr or str(config.rpc_bind_addr)
    print(f"{node}@{address}", file=out)
    if not args.quiet:
        print("\nTo instruct a node to connect to this node, run the following command "
              "on that node:\n"
              f"    garage [-c <config file path>] node connect {node}@{address}",
              file=sys.stderr)


async def node_invite(client, args, out):
    from garage_twisted.net.invite import Invitation
    from garage_twisted.net.keys import NodeKeyError, parse_peer_address

    config = getattr(args, "loaded_config", None)
    if config is None:
        raise CliError("garage node invite needs the node's configuration file (-c): "
                       "it holds the cluster's secret")
    status = await client.call("GetClusterStatus")
    info = await client.call("GetNodeInfo", query={"node": "self"})
    node_id = next(iter(info["success"])) if isinstance(info.get("success"), dict) else None
    me = next((n for n in status["nodes"] if n["id"] == node_id), None)
    address = None if me is None else me.get("addr")
    if not address or address.startswith(("0.0.0.0:", "[::]:")):
        raise CliError("this node has no address other machines can dial: set "
                       "rpc_public_addr (or bind rpc_bind_addr to one address) first")
    try:
        peer = parse_peer_address(f"{node_id}@{address}")
    except NodeKeyError as e:
        raise CliError(f"cannot make an invitation: {e}") from None
    print(str(Invitation(config.rpc_secret.hex(), peer)), file=out)


async def node_connect(client, args, out):
    (result,) = await client.call("ConnectClusterNodes", body=[args.peer])
    if not result["success"]:
        raise CliError(f"could not connect to {args.peer}: {result['error']}")
    print(f"Success: connected to {args.peer}", file=out)


def _link(node) -> str:
    """The Status column: up with RTT, or down with when last seen."""
    if node["isUp"]:
        rtt = node.get("rttMsecs")
        return "up" if rtt is None else f"up (rtt {rtt:.1f} ms)"
    seen = node.get("lastSeenSecsAgo")
    return "down" if seen is None else f"down (last seen {seen} s ago)"


async def status(client, args, out):
    result = await client.call("GetClusterStatus")
    health = await client.call("GetClusterHealth")
    rows = [["ID", "Hostname", "Address", "Tags", "Zone", "Capacity", "DataAvail", "Status"]]
    for node in result["nodes"]:
        role = node.get("role") or {}
        data = node.get("dataPartition")
        avail = "-" if not data else (
            f"{human_size(data['available'])} "
            f"({100 * data['available'] // max(1, data['total'])}%)")
        if not role:
            capacity = "NO ROLE ASSIGNED"
        elif role.get("capacity") is None:
            capacity = "gateway"
        else:
            capacity = human_size(role["capacity"])
        rows.append([node["id"][:16], node.get("hostname") or "?", node.get("addr") or "?",
                     ",".join(role.get("tags") or []), role.get("zone", ""), capacity, avail,
                     _link(node)])
    print(f"==== NODES (layout version {result['layoutVersion']}, cluster "
          f"{health['status']}) ====", file=out)
    print(table(rows), file=out)


# -- keys ---------------------------------------------------------------

def _print_key(info: dict, out, show_secret: bool):
    print(f"Key name: {info['name']}", file=out)
    print(f"Key ID: {info['accessKeyId']}", file=out)
    if show_secret and info.get("secretAccessKey"):
        print(f"Secret key: {info['secretAccessKey']}", file=out)
    elif not show_secret:
        print("Secret key: (redacted, use --show-secret)", file=out)
    print(f"Can create buckets: {str(info['permissions'].get('createBucket', False)).lower()}",
          file=out)
    print("", file=out)
    print("Key-specific bucket aliases:", file=out)
    for bucket in info["buckets"]:
        for alias in bucket["localAliases"]:
            print(f"  {alias}  {bucket['id']}", file=out)
    print("", file=out)
    print("Authorized buckets:", file=out)
    rows = [[_perm_flags(b["permissions"]), ",".join(b["globalAliases"]),
             ",".join(b["localAliases"]), b["id"]] for b in info["buckets"]]
    if rows:
        print(table(rows), file=out)


async def _find_key(client, pattern: str) -> dict:
    return await client.call("GetKeyInfo", {"search": pattern, "showSecretKey": "true"})


async def key_create(client, args, out):
    info = await client.call("CreateKey", body={"name": args.name or "Unnamed key"})
    _print_key(info, out, True)


async def key_list(client, args, out):
    keys = await client.call("ListKeys")
    rows = [["ID", "Name"]] + [[k["id"], k["name"]] for k in keys]
    print(table(rows), file=out)


async def key_info(client, args, out):
    _print_key(await _find_key(client, args.key), out, args.show_secret)


async def key_delete(client, args, out):
    info = await _find_key(client, args.key)
    if not args.yes:
        raise CliError(f"add --yes to really delete key {info['accessKeyId']}")
    await client.call("DeleteKey", {"id": info["accessKeyId"]}, method="POST")
    print(f"Access key {info['accessKeyId']} has been deleted.", file=out)


async def key_allow(client, args, out, allow=True):
    info = await _find_key(client, args.key)
    if not args.create_bucket:
        raise CliError("nothing to change: give --create-bucket")
    body = {"allow" if allow else "deny": {"createBucket": True}}
    info = await client.call("UpdateKey", {"id": info["accessKeyId"]}, body)
    _print_key(info, out, False)


async def key_deny(client, args, out):
    await key_allow(client, args, out, allow=False)


async def key_rename(client, args, out):
    info = await _find_key(client, args.key)
    info = await client.call("UpdateKey", {"id": info["accessKeyId"]}, {"name": args.new_name})
    _print_key(info, out, False)


async def key_import(client, args, out):
    if not args.yes:
        raise CliError("this command re-imports a key generated by Garage before; to make "
                       "a new key use `garage key create`; add --yes to really import")
    info = await client.call("ImportKey", body={
        "accessKeyId": args.key_id, "secretAccessKey": args.secret_key,
        "name": args.name or "Imported key"})
    _print_key(info, out, False)


# -- buckets ------------------------------------------------------------

async def find_bucket(client, pattern: str) -> dict:
    return await client.call("GetBucketInfo", {"search": pattern})


def _versioning_text(state) -> str:
    return "never enabled (unversioned)" if state is None else state.lower()


def _object_lock_text(lock) -> str:
    if not lock or not lock.get("enabled"):
        return "disabled"
    default = lock.get("defaultRetention")
    if default is None:
        return "enabled, no default retention"
    period = (f"{default['days']} day(s)" if default.get("days") is not None
              else f"{default['years']} year(s)")
    return f"enabled, default retention {default['mode']} for {period}"


_BLOCK_FLAGS = (("blockPublicAcls", "BlockPublicAcls"), ("ignorePublicAcls", "IgnorePublicAcls"),
                ("blockPublicPolicy", "BlockPublicPolicy"),
                ("restrictPublicBuckets", "RestrictPublicBuckets"))


def _block_text(block) -> str:
    if block is None:
        return "none"
    on = [name for field, name in _BLOCK_FLAGS if block.get(field)]
    return ", ".join(on) if on else "set, every flag off"


def _print_public(info: dict, out):
    """``Public: no``, or ``Public: yes, because`` and one line per reason."""
    public = info.get("public") or {}
    if not public.get("isPublic"):
        print("Public: no", file=out)
        return
    print("Public: yes, because", file=out)
    for reason in public.get("reasons") or []:
        print(f"  {reason}", file=out)


def _print_access(info: dict, out):
    """Who besides the bucket's keys may act on it (bucket policy, ACL,
    PublicAccessBlock: not in Garage)."""
    has_policy = info.get("policy") is not None
    print(f"Policy: {'set (garage bucket policy BUCKET get)' if has_policy else 'none'}",
          file=out)
    print(f"ACL: {info.get('acl') or 'none'}", file=out)
    print(f"Public access block: {_block_text(info.get('publicAccessBlock'))}", file=out)
    _print_public(info, out)


def _print_bucket(info: dict, out):
    print(f"Bucket: {info['id']}", file=out)
    print(f"Created: {info['created']}", file=out)
    print("", file=out)
    print(f"Size: {human_size(info['bytes'])} ({info['bytes']} B)", file=out)
    print(f"Objects: {info['objects']}", file=out)
    print(f"Unfinished uploads: {info['unfinishedUploads']}", file=out)
    print("", file=out)
    print(f"Website access: {str(info['websiteAccess']).lower()}", file=out)
    print(f"Versioning: {_versioning_text(info.get('versioning'))}", file=out)
    print(f"Object Lock: {_object_lock_text(info.get('objectLock'))}", file=out)
    _print_access(info, out)
    quotas = info["quotas"]
    if quotas.get("maxSize") is not None or quotas.get("maxObjects") is not None:
        max_size, max_objects = quotas.get("maxSize"), quotas.get("maxObjects")
        size = "-" if max_size is None else f"{human_size(max_size)} ({max_size} B)"
        print(f"Quotas: max size {size}, "
              f"max objects {'-' if max_objects is None else max_objects}", file=out)
    print("", file=out)
    print("Global aliases:", file=out)
    for alias in info["globalAliases"]:
        print(f"  {alias}", file=out)
    print("", file=out)
    print("Authorized keys:", file=out)
    rows = [[_perm_flags(k["permissions"]), k["accessKeyId"], k["name"],
             ",".join(k["bucketLocalAliases"])] for k in info["keys"]]
    if rows:
        print(table(rows), file=out)


async def bucket_create(client, args, out):
    info = await client.call("CreateBucket", body={"globalAlias": args.name})
    print(f"Bucket {args.name} was created.", file=out)
    if args.verbose:
        _print_bucket(info, out)


async def bucket_list(client, args, out):
    buckets = await client.call("ListBuckets")
    rows = [["ID", "Created", "Global aliases", "Local aliases"]]
    for b in buckets:
        rows.append([b["id"][:16], b["created"][:10], ",".join(b["globalAliases"]),
                     ",".join(f"{a['accessKeyId']}:{a['alias']}" for a in b["localAliases"])])
    print(table(rows), file=out)


async def bucket_info(client, args, out):
    _print_bucket(await find_bucket(client, args.name), out)


async def bucket_website(client, args, out):
    if args.allow == args.deny:
        raise CliError("give --allow or --deny")
    info = await find_bucket(client, args.bucket)
    access = {"enabled": False}
    if args.allow:
        access = {"enabled": True, "indexDocument": args.index_document,
                  "errorDocument": args.error_document}
    await client.call("UpdateBucket", {"id": info["id"]}, {"websiteAccess": access})
    state = "now" if args.allow else "no longer"
    print(f"The website of bucket {args.bucket} is {state} served.", file=out)


def _quota_value(text: str | None, current, parse, what: str):
    """A quota flag: absent keeps ``current``, ``none`` removes it."""
    if text is None:
        return current
    if text.strip().lower() == "none":
        return None
    try:
        value = parse(text)
    except ValueError:
        value = -1
    if value < 0:
        raise CliError(f"invalid {what}: {text!r} (or 'none' for no limit)")
    return value


async def bucket_set_quotas(client, args, out):
    if args.max_size is None and args.max_objects is None:
        raise CliError("give --max-size or --max-objects (or both); 'none' removes one")
    info = await find_bucket(client, args.bucket)
    quotas = info["quotas"]
    new = {"maxSize": _quota_value(args.max_size, quotas.get("maxSize"), parse_capacity,
                                   "size"),
           "maxObjects": _quota_value(args.max_objects, quotas.get("maxObjects"), int,
                                      "number of objects")}
    info = await client.call("UpdateBucket", {"id": info["id"]}, {"quotas": new})
    _print_bucket(info, out)


async def bucket_versioning(client, args, out):
    info = await find_bucket(client, args.bucket)
    status = {"enable": "Enabled", "suspend": "Suspended"}[args.state]
    try:
        info = await client.call("UpdateBucket", {"id": info["id"]}, {"versioning": status})
    except CliError as e:
        raise CliError(f"the versioning of bucket {args.bucket} was not changed: {e}") from None
    print(f"Versioning of bucket {args.bucket} is now {info['versioning'].lower()}.",
          file=out)


def _read_policy(path: str) -> str:
    """The policy text of ``FILE`` (``-``: standard input), as given."""
    try:
        if path == "-":
            return sys.stdin.read()
        # newline="": the text exactly as in the file, CRLF included.
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read the policy from {path}: {e}") from None


async def bucket_policy_set(client, args, out):
    text = _read_policy(args.file)
    info = await find_bucket(client, args.bucket)
    try:
        info = await client.call("PutBucketPolicy", {"id": info["id"]}, {"policy": text})
    except CliError as e:
        raise CliError(f"the policy of bucket {args.bucket} was not set: {e}") from None
    print(f"The policy of bucket {args.bucket} is set.", file=out)
    _print_public(info, out)


async def bucket_policy_get(client, args, out):
    info = await find_bucket(client, args.bucket)
    try:
        text = (await client.call("GetBucketPolicy", {"id": info["id"]}))["policy"]
    except CliError as e:
        raise CliError(f"cannot get the policy of bucket {args.bucket}: {e}") from None
    # As it was put, byte for byte (S3's GetBucketPolicy answers the same).
    out.write(text if text.endswith("\n") else text + "\n")


async def bucket_policy_delete(client, args, out):
    info = await find_bucket(client, args.bucket)
    had = info.get("policy") is not None
    info = await client.call("DeleteBucketPolicy", {"id": info["id"]}, method="POST")
    print(f"The policy of bucket {args.bucket} is deleted." if had else
          f"Bucket {args.bucket} had no policy.", file=out)
    _print_public(info, out)


async def bucket_delete(client, args, out):
    info = await find_bucket(client, args.name)
    if not args.yes:
        raise CliError(f"add --yes to really delete bucket {args.name}")
    await client.call("DeleteBucket", {"id": info["id"]}, method="POST")
    print(f"Bucket {args.name} has been deleted.", file=out)


async def _bucket_permissions(client, args, out, operation):
    if not (args.read or args.write or args.owner):
        raise CliError("give at least one of --read, --write, --owner")
    bucket = await find_bucket(client, args.bucket)
    key = await _find_key(client, args.key)
    await client.call(operation, body={
        "bucketId": bucket["id"], "accessKeyId": key["accessKeyId"],
        "permissions": {"read": args.read, "write": args.write, "owner": args.owner}})
    verb = "allowed" if operation == "AllowBucketKey" else "denied"
    print(f"Permissions {verb} for key {key['accessKeyId']} on bucket {args.bucket}.",
          file=out)


async def bucket_allow(client, args, out):
    await _bucket_permissions(client, args, out, "AllowBucketKey")


async def bucket_deny(client, args, out):
    await _bucket_permissions(client, args, out, "DenyBucketKey")


async def bucket_alias(client, args, out):
    bucket = await find_bucket(client, args.bucket)
    body = {"bucketId": bucket["id"]}
    if args.local_key:
        key = await _find_key(client, args.local_key)
        body.update(accessKeyId=key["accessKeyId"], localAlias=args.alias)
    else:
        body["globalAlias"] = args.alias
    await client.call("AddBucketAlias", body=body)
    print(f"Alias {args.alias} now points to bucket {bucket['id'][:16]}.", file=out)


async def bucket_unalias(client, args, out):
    if args.local_key:
        key = await _find_key(client, args.local_key)
        bucket_id = next((b["id"] for b in key["buckets"] if args.alias in b["localAliases"]),
                         None)
        if bucket_id is None:
            raise CliError(f"key has no local alias {args.alias}")
        body = {"bucketId": bucket_id, "accessKeyId": key["accessKeyId"],
                "localAlias": args.alias}
    else:
        bucket = await find_bucket(client, args.alias)
        body = {"bucketId": bucket["id"], "globalAlias": args.alias}
    await client.call("RemoveBucketAlias", body=body)
    print(f"Alias {args.alias} was removed.", file=out)


# -- layout -------------------------------------------------------------

def _print_layout(layout: dict, out):
    print("==== CURRENT CLUSTER LAYOUT ====", file=out)
    rows = [["ID", "Tags", "Zone", "Capacity", "Usable capacity"]]
    for role in layout["roles"]:
        capacity = "gateway" if role["capacity"] is None else human_size(role["capacity"])
        usable = "-" if role.get("usableCapacity") is None else (
            f"{human_size(role['usableCapacity'])} "
            f"({role['storedPartitions']} partitions)")
        rows.append([role["id"][:16], ",".join(role["tags"]), role["zone"], capacity, usable])
    print(table(rows), file=out)
    print("", file=out)
    redundancy = layout["parameters"]["zoneRedundancy"]
    print(f"Zone redundancy: {redundancy if isinstance(redundancy, str) else redundancy['atLeast']}",
          file=out)
    print(f"Current cluster layout version: {layout['version']}", file=out)
    if layout["stagedRoleChanges"] or layout.get("stagedParameters"):
        print("", file=out)
        print("==== STAGED ROLE CHANGES ====", file=out)
        rows = [["ID", "Tags", "Zone", "Capacity"]]
        for change in layout["stagedRoleChanges"]:
            if change.get("remove"):
                rows.append([change["id"][:16], "REMOVED", "", ""])
            else:
                capacity = ("gateway" if change.get("capacity") is None
                            else human_size(change["capacity"]))
                rows.append([change["id"][:16], ",".join(change.get("tags") or []),
                             change["zone"], capacity])
        print(table(rows), file=out)


async def layout_show(client, args, out):
    layout = await client.call("GetClusterLayout")
    _print_layout(layout, out)
    if layout["stagedRoleChanges"] or layout.get("stagedParameters"):
        preview = await client.call("PreviewClusterLayoutChanges", method="POST")
        print("", file=out)
        if "error" in preview:
            print(f"The staged changes cannot be applied: {preview['error']}", file=out)
            return
        new = preview["newLayout"]
        print("==== NEW CLUSTER LAYOUT AFTER APPLYING CHANGES ====", file=out)
        _print_layout(new, out)
        print("", file=out)
        for line in preview.get("message") or []:
            print(line, file=out)
        print("\nTo enact the staged role changes, type:\n\n"
              f"    garage layout apply --version {layout['version'] + 1}\n", file=out)
        print("You can also revert all proposed changes with: garage layout revert", file=out)


async def _match_node(client, prefix: str) -> str:
    prefix = prefix.split("@", 1)[0].lower()
    status = await client.call("GetClusterStatus")
    layout = await client.call("GetClusterLayout")
    ids = {n["id"] for n in status["nodes"]} | {r["id"] for r in layout["roles"]}
    matches = sorted(i for i in ids if i.startswith(prefix))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"no node id starts with {prefix!r}")
    raise CliError(f"{len(matches)} nodes match {prefix!r}; give more characters")


async def layout_assign(client, args, out):
    if args.gateway and args.capacity:
        raise CliError("-g (gateway) and -c (capacity) cannot be used together")
    roles = [{"id": await _match_node(client, prefix), "remove": True}
             for prefix in args.replace]
    for prefix in args.node_ids:
        node_id = await _match_node(client, prefix)
        layout = await client.call("GetClusterLayout")
        current = next((r for r in layout["stagedRoleChanges"] if r["id"] == node_id
                        and not r.get("remove")), None) or next(
            (r for r in layout["roles"] if r["id"] == node_id), None)
        zone = args.zone or (current or {}).get("zone")
        if zone is None:
            raise CliError("give a zone with -z for a node without a role")
        if args.gateway:
            capacity = None
        elif args.capacity:
            try:
                capacity = parse_capacity(args.capacity)
            except ValueError as e:
                raise CliError(str(e)) from None
        elif current is not None:
            capacity = current.get("capacity")
        else:
            raise CliError("give a capacity with -c (or -g for a gateway node)")
        tags = args.tag if args.tag else (current or {}).get("tags", [])
        roles.append({"id": node_id, "zone": zone, "capacity": capacity, "tags": tags})
    await client.call("UpdateClusterLayout", body={"roles": roles})
    print("Role changes are staged but not yet committed.", file=out)
    print("Use `garage layout show` to view staged role changes,", file=out)
    print("and `garage layout apply` to enact staged changes.", file=out)


async def layout_remove(client, args, out):
    node_id = await _match_node(client, args.node_id)
    await client.call("UpdateClusterLayout", body={"roles": [{"id": node_id, "remove": True}]})
    print("Role removal is staged but not yet committed.", file=out)


async def layout_config(client, args, out):
    if args.redundancy is None:
        raise CliError("give -r/--redundancy ('none'/'max' or an integer)")
    if args.redundancy in ("none", "max", "maximum"):
        value = "maximum"
    elif args.redundancy.isdigit():
        value = {"atLeast": int(args.redundancy)}
    else:
        raise CliError("zone redundancy must be 'none'/'max' or an integer")
    await client.call("UpdateClusterLayout", body={"parameters": {"zoneRedundancy": value}})
    print("The zone redundancy change is staged but not yet committed.", file=out)


async def layout_apply(client, args, out):
    if args.version is None:
        layout = await client.call("GetClusterLayout")
        raise CliError(f"give --version {layout['version'] + 1} to apply the staged changes")
    result = await client.call("ApplyClusterLayout", body={"version": args.version})
    for line in result["message"]:
        print(line, file=out)


async def layout_revert(client, args, out):
    if not args.yes:
        raise CliError("add --yes to revert the staged layout changes")
    await client.call("RevertClusterLayout", method="POST")
    print("All proposed role changes in cluster layout have been canceled.", file=out)


async def layout_skip_dead_nodes(client, args, out):
    result = await client.call("ClusterLayoutSkipDeadNodes",
                               body={"version": args.version,
                                     "allowMissingData": args.allow_missing_data})
    if not result["ackUpdated"] and not result["syncUpdated"]:
        print("Nothing to do: no down node lags behind that version.", file=out)
        return
    for node in result["ackUpdated"]:
        print(f"Acknowledged version {args.version} for down node {node[:16]}", file=out)
    for node in result["syncUpdated"]:
        print(f"Marked down node {node[:16]} as synced to version {args.version}", file=out)


async def layout_history(client, args, out):
    history = await client.call("GetClusterLayoutHistory")
    rows = [["Version", "Status", "Storage nodes", "Gateway nodes"]]
    for v in history["versions"]:
        rows.append([v["version"], v["status"], v["storageNodes"], v["gatewayNodes"]])
    print("==== LAYOUT HISTORY ====", file=out)
    print(table(rows), file=out)
    trackers = history.get("updateTrackers") or {}
    if trackers:
        rows = [["Node", "Ack", "Sync", "Sync-ack"]]
        for node, t in sorted(trackers.items()):
            rows.append([node[:16], t["ack"], t["sync"], t["syncAck"]])
        print("\n==== UPDATE TRACKERS ====", file=out)
        print(table(rows), file=out)
        if any(v["status"] == "Draining" for v in history["versions"]):
            print("\nOlder versions stay active until every storage node has synced "
                  f"to version {history['currentVersion']}.", file=out)


# -- stats / workers / blocks -------------------------------------------

def only_success(result: dict):
    if result.get("error"):
        raise CliError("; ".join(f"{n}: {e}" for n, e in result["error"].items()))
    return next(iter(result["success"].values()))


async def block_list_errors(client, args, out):
    result = await client.call("ListBlockErrors", query={"node": "self"})
    errors = only_success(result)
    if not errors:
        print("No block has a resync error.", file=out)
        return
    rows = [["Hash", "RC", "#Errors", "Last try", "Next try", "Last error"]]
    for e in errors:
        rows.append([e["blockHash"], e["refcount"], e["errorCount"],
                     f"{e['lastTrySecsAgo']} s ago", f"in {e['nextTryInSecs']} s",
                     (e.get("lastError") or "")[:60]])
    print(table(rows), file=out)


async def block_retry_now(client, args, out):
    if args.all == bool(args.hashes):
        raise CliError("give --all, or one or more block hashes (not both)")
    body = {"all": True} if args.all else {"blockHashes": args.hashes}
    result = await client.call("RetryBlockResync", query={"node": "self"}, body=body)
    print(f"{only_success(result)['count']} block(s) queued for an immediate resync.",
          file=out)
