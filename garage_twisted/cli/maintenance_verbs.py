"""CLI verbs for node maintenance, as Garage's: ``stats -a``, ``worker
info/get/set``, ``block info/purge``, ``repair``, ``meta snapshot``,
``bucket cleanup-incomplete-uploads`` and ``bucket inspect-object``.

Node-scoped verbs ask this node (``node=self``), or every node with
``-a/--all-nodes`` (``node=*``): each node's answer is printed under its id,
and a node that failed makes the command exit 1 after the others printed.
"""

import re

from garage_twisted.cli.client import CliError
from garage_twisted.cli.commands import find_bucket, only_success
from garage_twisted.cli.format import human_size, table

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """``90``, ``30m``, ``12h``, ``1d``, ``2w`` -> seconds. :raises CliError:"""
    match = _DURATION.match(text)
    if not match:
        raise CliError(f"cannot read duration {text!r} (try 1d, 12h, 30m)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


async def _each_node(client, args, name, body=None):
    """Call node-scoped ``name`` on this node or every node: ``([(node id,
    answer)], {node id: error})``."""
    query = {"node": "*" if getattr(args, "all_nodes", False) else "self"}
    result = await client.call(name, query=query, body=body)
    return sorted(result["success"].items()), result.get("error") or {}


def _raise_failed(failed: dict) -> None:
    if failed:
        raise CliError("; ".join(f"node {n[:16]}: {e}" for n, e in sorted(failed.items())))


def _print_per_node(answers, args, out, show) -> None:
    for node_id, answer in answers:
        if getattr(args, "all_nodes", False):
            print(f"==== node {node_id}", file=out)
        show(answer)


async def stats(client, args, out):
    answers, failed = await _each_node(client, args, "GetNodeStatistics")
    _print_per_node(answers, args, out, lambda a: print(a["freeform"], file=out, end=""))
    result = await client.call("GetClusterStatistics")
    print("\nCluster statistics:\n" + result["freeform"], file=out, end="")
    _raise_failed(failed)


def _state(state) -> str:
    if isinstance(state, dict) and "throttled" in state:
        return f"Throttled({state['throttled']['durationSecs']:.1f}s)"
    return str(state).capitalize()


async def worker_list(client, args, out):
    body = {"busyOnly": args.busy, "errorOnly": args.errors}
    answers, failed = await _each_node(client, args, "ListWorkers", body)

    def show(workers):
        rows = [["TID", "State", "Name", "Tranq", "Done", "Queue", "Errors", "Consec",
                 "Last"]]
        for w in workers:
            last = w.get("lastError")
            rows.append([w["id"], _state(w["state"]), w["name"],
                         "-" if w.get("tranquility") is None else w["tranquility"],
                         w.get("progress") or "-",
                         "-" if w.get("queueLength") is None else w["queueLength"],
                         w["errors"], w["consecutiveErrors"],
                         "-" if not last else f"{last['secsAgo']}s ago"])
        print(table(rows), file=out)

    _print_per_node(answers, args, out, show)
    _raise_failed(failed)


async def worker_info(client, args, out):
    info = only_success(await client.call("GetWorkerInfo", query={"node": "self"},
                                          body={"id": args.tid}))
    rows = [["Task id:", info["id"]], ["Worker name:", info["name"]],
            ["Worker state:", _state(info["state"])]]
    if info.get("tranquility") is not None:
        rows.append(["Tranquility:", info["tranquility"]])
    if info.get("queueLength") is not None:
        rows.append(["Queue length:", info["queueLength"]])
    if info.get("persistentErrors") is not None:
        rows.append(["Persistent errors:", info["persistentErrors"]])
    rows.append(["Total errors:", info["errors"]])
    rows.append(["Consecutive errs:", info["consecutiveErrors"]])
    if info.get("lastError"):
        rows.append(["Last error:", info["lastError"]["message"]])
        rows.append(["Last error time:", f"{info['lastError']['secsAgo']} seconds ago"])
    print(table(rows), file=out)
    for line in info.get("freeform") or ():
        print(f"  {line}", file=out)


async def worker_get(client, args, out):
    body = {"variable": args.variable} if args.variable else {}
    answers, failed = await _each_node(client, args, "GetWorkerVariable", body)
    rows = []
    for node_id, values in answers:
        rows += [[node_id[:16], name, value] for name, value in sorted(values.items())]
    print(table(rows), file=out)
    _raise_failed(failed)


async def worker_set(client, args, out):
    answers, failed = await _each_node(client, args, "SetWorkerVariable",
                                       {"variable": args.variable, "value": args.value})
    for node_id, answer in answers:
        print(f"{node_id[:16]}  {answer['variable']} set to {answer['value']}", file=out)
    _raise_failed(failed)


async def block_info(client, args, out):
    info = only_success(await client.call("GetBlockInfo", query={"node": "self"},
                                          body={"blockHash": args.hash}))
    print(f"Block hash: {info['blockHash']}\nRefcount: {info['refcount']}\n", file=out)
    rows = [["Version", "Bucket", "Key", "MPU", "Deleted"]]
    for v in info["versions"]:
        link = v.get("backlink") or {}
        obj, upload = link.get("object"), link.get("upload")
        owner = obj or upload or {}
        rows.append([v["versionId"], owner.get("bucketId") or "?", owner.get("key") or "?",
                     upload["uploadId"] if upload else "",
                     "yes" if v["refDeleted"] or v["versionDeleted"] else ""])
    print(table(rows), file=out)


async def block_purge(client, args, out):
    if not args.yes:
        raise CliError("add --yes: this deletes every object and upload that uses these "
                       "blocks, for good")
    counts = only_success(await client.call("PurgeBlocks", query={"node": "self"},
                                            body=list(args.hashes)))
    print(f"Purged {counts['blocksPurged']} blocks: deleted {counts['versionsDeleted']} "
          f"versions, {counts['objectsDeleted']} objects, {counts['uploadsDeleted']} "
          f"multipart uploads, {counts['blockRefsPurged']} block references.", file=out)


REPAIRS = {"tables": "tables", "blocks": "blocks", "versions": "versions",
           "mpu": "multipartUploads", "block-refs": "blockRefs", "block-rc": "blockRc",
           "rebalance": "rebalance", "aliases": "aliases"}


async def repair(client, args, out):
    if not args.yes:
        raise CliError("add --yes to launch the repair")
    if args.what == "scrub":
        if args.command not in ("start", "pause", "resume", "cancel"):
            raise CliError("garage repair scrub start|pause|resume|cancel")
        repair_type = {"scrub": args.command}
    elif args.command:
        raise CliError(f"the {args.what} repair takes no argument")
    else:
        repair_type = REPAIRS[args.what]
    answers, failed = await _each_node(client, args, "LaunchRepairOperation",
                                       {"repairType": repair_type})
    for node_id, _ in answers:
        print(f"{node_id[:16]}: repair launched", file=out)
    _raise_failed(failed)


async def meta_snapshot(client, args, out):
    answers, failed = await _each_node(client, args, "CreateMetadataSnapshot", {})
    for node_id, _ in answers:
        print(f"{node_id[:16]}: metadata snapshot taken", file=out)
    _raise_failed(failed)


async def bucket_cleanup_incomplete_uploads(client, args, out):
    older_than = parse_duration(args.older_than)
    for name in args.buckets:
        bucket = await find_bucket(client, name)
        result = await client.call("CleanupIncompleteUploads", body={
            "bucketId": bucket["id"], "olderThanSecs": older_than})
        print(f"{name}: {result['uploadsDeleted']} incomplete uploads aborted", file=out)


async def bucket_inspect_object(client, args, out):
    bucket = await find_bucket(client, args.bucket)
    result = await client.call("InspectObject", query={"bucketId": bucket["id"],
                                                       "key": args.key})
    for v in result["versions"]:
        state = ("uploading" if v["uploading"] else "aborted" if v["aborted"] else
                 "delete marker" if v["deleteMarker"] else "complete")
        print(f"==== version {v['uuid']}\ntimestamp: {v['timestamp']}\nstate: {state}",
              file=out)
        if v.get("size") is not None:
            print(f"size: {human_size(v['size'])} ({v['size']} bytes)\netag: {v['etag']}\n"
                  f"inline: {v['inline']}\nencrypted: {v['encrypted']}", file=out)
        for name, value in v.get("headers") or ():
            print(f"header: {name}: {value}", file=out)
        blocks = v.get("blocks") or []
        if blocks:
            rows = [["Part#", "Offset", "Block hash", "Size"]]
            rows += [[b["partNumber"], b["offset"], b["hash"], b["size"]] for b in blocks]
            print(table(rows), file=out)
        print(file=out)
