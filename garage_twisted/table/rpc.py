"""Tables over the peer network: endpoints serving local data, and quorum calls.

Per table ``T`` three endpoints: ``table/T/update`` (a list of encoded
entries, merged into the local rows), ``table/T/get`` (``[partition hash,
sort key]`` -> encoded entry or ``None``) and ``table/T/range`` (``[partition
hash, start, filter, limit, reverse]`` -> encoded entries). Entries cross the
wire in their stored encoding (versioned canonical CBOR), never pickled.

:class:`TableRpc` is also the ``remote`` client of
:class:`~garage_twisted.table.table.Table`: writes go to every node of each
write set and return once each set has its write quorum (the rest completes
in the background); reads ask the preferred read nodes (more on failure
or delay), return once a read quorum answered, merge the answers (CRDT merge) and send the merged entry back to
the nodes whose answer differed (read repair, in the background).
"""

from collections import defaultdict

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.net.mux import PRIO_NORMAL, Reply, RpcError
from garage_twisted.rpc.quorum import try_call_many, try_write_many_sets

MAX_RANGE = 10_000
TIMEOUT = 30.0


def _path(table, operation: str) -> str:
    return f"table/{table.name}/{operation}"


class TableRpc:
    """Serves ``tables`` to peers and calls peers' tables.

    :param network: the node's ``Network``.
    :param tables: the node's tables (each is served).
    """

    log = Logger()

    def __init__(self, network, tables, clock=None):
        self.network = network
        self.clock = clock
        for table in tables:
            network.register(_path(table, "update"), lambda call, t=table: self._update(t, call))
            network.register(_path(table, "get"), lambda call, t=table: self._get(t, call))
            network.register(_path(table, "range"), lambda call, t=table: self._range(t, call))

    # -- serving -------------------------------------------------------------

    @staticmethod
    def _decode(table, raw):
        try:
            return table.schema.decode_entry(raw)
        except Exception as e:
            raise RpcError("BadEntry", f"undecodable {table.name} entry: {e}") from None

    def _update(self, table, call) -> Reply:
        if not isinstance(call.message, list):
            raise RpcError("BadRequest", "update takes a list of encoded entries")
        table.data.update_entries([self._decode(table, raw) for raw in call.message])
        return Reply(None)

    def _get(self, table, call) -> Reply:
        try:
            partition, sort_key = call.message
            # The stored bytes are the wire form: no decode and re-encode.
            raw = table.data.read_raw(bytes(partition), bytes(sort_key))
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "get takes [partition hash, sort key]") from None
        return Reply(raw)

    def _range(self, table, call) -> Reply:
        try:
            partition, start, entry_filter, limit, reverse = call.message
            limit = min(int(limit), MAX_RANGE)
            entries = table.data.read_range(
                bytes(partition), None if start is None else bytes(start), entry_filter,
                limit, bool(reverse))
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "range takes [partition, start, filter, limit, "
                                         "reverse]") from None
        return Reply([e.encode() for e in entries])

    # -- calling (Table's remote client) -------------------------------------

    def _call(self, node, path, message):
        return self.network.call(node, path, message, priority=PRIO_NORMAL, timeout=TIMEOUT)

    def insert_many(self, table, entries) -> defer.Deferred:
        """Write ``entries``, grouped by write sets; fires at write quorum."""
        groups = defaultdict(list)
        for entry in entries:
            sets = table.replication.write_sets(entry.partition_hash())
            groups[tuple(tuple(s) for s in sets)].append(entry.encode())
        writes = [try_write_many_sets(self._call, [list(s) for s in sets],
                                      _path(table, "update"), raws,
                                      table.replication.write_quorum())
                  for sets, raws in groups.items()]
        return defer.gatherResults(writes, consumeErrors=True).addCallbacks(
            lambda _: None, lambda failure: failure.value.subFailure)

    def _repair(self, table, nodes_answers, merged) -> None:
        """Send ``merged`` to the nodes whose answer differs (background)."""
        raw = merged.encode()
        for node, answer in nodes_answers:
            if answer != raw:
                d = self._call(node, _path(table, "update"), [raw])
                d.addErrback(lambda failure, n=node: self.log.info(
                    "read repair of {table} on {node} failed: {error}", table=table.name,
                    node=n.hex()[:16], error=failure.getErrorMessage()))

    def get(self, table, partition_hash: bytes, sort_key: bytes) -> defer.Deferred:
        """Deferred of the entry merged over a read quorum (or ``None``)."""
        return defer.ensureDeferred(self._read_one(table, partition_hash, sort_key))

    def get_range(self, table, partition_hash, start_sort_key, entry_filter, limit,
                  reverse) -> defer.Deferred:
        """Deferred list of entries merged over a read quorum, in order."""
        return defer.ensureDeferred(self._read_range(
            table, partition_hash, start_sort_key, entry_filter, limit, reverse))

    async def _read_one(self, table, partition_hash: bytes, sort_key: bytes):
        nodes = table.replication.read_nodes(partition_hash)
        replies = await try_call_many(self._call, nodes, _path(table, "get"),
                                      [partition_hash, sort_key],
                                      table.replication.read_quorum(), all_at_once=False,
                                      clock=self.clock)
        merged = None
        for _, reply in replies:
            if reply.message is not None:
                entry = self._decode(table, reply.message)
                merged = entry if merged is None else merged.merge(entry)
        if merged is not None:
            self._repair(table, [(n, r.message) for n, r in replies], merged)
        return merged

    async def _read_range(self, table, partition_hash, start_sort_key, entry_filter, limit,
                          reverse):
        nodes = table.replication.read_nodes(partition_hash)
        replies = await try_call_many(
            self._call, nodes, _path(table, "range"),
            [partition_hash, start_sort_key, entry_filter, limit, reverse],
            table.replication.read_quorum(), all_at_once=False, clock=self.clock)
        merged = {}
        for _, reply in replies:
            for raw in reply.message or []:
                entry = self._decode(table, raw)
                key = entry.sort_key()
                merged[key] = entry if key not in merged else merged[key].merge(entry)
        keys = sorted(merged, reverse=bool(reverse))
        out = [merged[k] for k in keys if table.schema.matches_filter(merged[k], entry_filter)]
        return out[:limit]
