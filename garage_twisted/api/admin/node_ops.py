"""Admin API v2 node operations: statistics and block resync errors.

``GetNodeStatistics`` (freeform text, as Garage: per-table items, Merkle and
GC to-do lengths, insert queues, sync state; block counters and queues),
``ListBlockErrors`` and ``RetryBlockResync``. Each takes ``?node=`` (``self``,
``*`` or this node's id; a cluster-wide fan-out is not built: other nodes
are answered in ``error``), as Garage's node-scoped endpoints.
"""

from garage_twisted.api.admin import errors
from garage_twisted.util.time import now_msec


def _scoped(api, query):
    """``(node id hex, error dict)``: whether this node is addressed."""
    node = query.get("node", "self")
    node_id = api.system.node_id.hex()
    if node in ("self", "*", node_id):
        return node_id, {}
    return None, {node: "only this node answers here: ask the node itself "
                        "(cluster-wide requests are not built)"}


def table_statistics(api) -> list:
    """Per table: name, items, Merkle to-do, GC to-do, insert queue."""
    rows = []
    for table in api.helper.model.tables:
        data = table.data
        rows.append((table.name, data.rows.count(), data.merkle_todo.count(),
                     data.gc_todo.count(), data.insert_queue.count()))
    return rows


def block_statistics(api) -> dict:
    manager = api.helper.model.block_manager
    return {"rc_entries": manager.rc.count(), "resync_queue": manager.resync.count(),
            "resync_errors": manager.resync_errors.count(),
            "gc_todo": manager.gc_todo.count()}


def _freeform(api) -> str:
    lines = [f"Garage version: {api.system.version}", "Database engine: LevelDB (plyvel)", "",
             "Table stats:",
             f"  {'Table':<14}{'Items':>10}{'MklTodo':>10}{'GcTodo':>10}{'Queue':>10}"]
    for name, items, merkle, gc, queue in table_statistics(api):
        lines.append(f"  {name:<14}{items:>10}{merkle:>10}{gc:>10}{queue:>10}")
    blocks = block_statistics(api)
    lines += ["", "Block manager stats:",
              f"  number of RC entries: {blocks['rc_entries']} (~= number of blocks)",
              f"  resync queue length: {blocks['resync_queue']}",
              f"  blocks with resync errors: {blocks['resync_errors']}",
              f"  blocks waiting for deletion: {blocks['gc_todo']}"]
    if api.workers is not None:
        lines += ["", "Sync:"]
        for info in api.workers.list_workers():
            if info.name.endswith(" sync"):
                status = info.status
                lines.append(f"  {info.name:<18} passes {status.get('passes')}, synced layout "
                             f"v{status.get('synced_version')}, rows pushed "
                             f"{status.get('rows_pushed')}, offloaded "
                             f"{status.get('rows_offloaded')}")
    return "\n".join(lines) + "\n"


async def get_node_statistics(api, query, body):
    node_id, error = _scoped(api, query)
    if node_id is None:
        return {"success": {}, "error": error}
    return {"success": {node_id: {"freeform": _freeform(api)}}, "error": {}}


async def list_block_errors(api, query, body):
    node_id, error = _scoped(api, query)
    if node_id is None:
        return {"success": {}, "error": error}
    manager = api.helper.model.block_manager
    now = now_msec(api.clock)
    return {"success": {node_id: [
        {"blockHash": hash_.hex(), "refcount": manager.refcount(hash_),
         "errorCount": count, "lastTrySecsAgo": max(0, (now - last) // 1000),
         "nextTryInSecs": max(0, (next_try - now) // 1000), "lastError": message}
        for hash_, count, last, next_try, message in manager.list_resync_errors()]},
        "error": {}}


async def retry_block_resync(api, query, body):
    node_id, error = _scoped(api, query)
    if node_id is None:
        return {"success": {}, "error": error}
    body = body or {}
    manager = api.helper.model.block_manager
    if body.get("all"):
        count = manager.resync_now()
    else:
        hashes = body.get("blockHashes")
        if not isinstance(hashes, list) or not hashes:
            raise errors.BadRequest('give {"all": true} or {"blockHashes": [...]}')
        try:
            parsed = [bytes.fromhex(h) for h in hashes]
        except (TypeError, ValueError):
            raise errors.BadRequest("blockHashes must be hexadecimal block hashes") from None
        if any(len(h) != 32 for h in parsed):
            raise errors.BadRequest("a block hash is 64 hexadecimal characters")
        count = manager.resync_now(parsed)
    if api.workers is not None:
        api.workers.wake("block resync")
    return {"success": {node_id: {"count": count}}, "error": {}}
