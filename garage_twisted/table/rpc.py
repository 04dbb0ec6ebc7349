"""Tables over the peer network: endpoints serving local data, and quorum calls.

Per table ``T`` four endpoints: ``table/T/update`` (a list of encoded
entries, merged into the local rows), ``table/T/update_read`` (one encoded
entry, merged; answers the stored result: a write that also learns what the
replica held, in the same round trip), ``table/T/get`` (``[partition hash,
sort key]`` -> encoded entry or ``None``) and ``table/T/range`` (``[partition
hash, start, filter, limit, reverse]`` -> ``[sort key, encoded entry]``
pairs: the reader decodes only the entries that differ from its own). Entries cross the
wire in their stored encoding (versioned canonical CBOR), never pickled.

:class:`TableServer` serves this node's tables on those endpoints;
:class:`TableRpc` is the ``remote`` client of
:class:`~garage_twisted.table.table.Table`: writes go to every node of each
write set and return once each set has its write quorum (the rest completes
in the background); reads ask the preferred read nodes (more on failure
or delay), return once a read quorum answered, merge the answers (CRDT merge) and send the merged entry back to
the nodes whose answer differed (read repair, in the background). They are
two objects because a ``Table`` is built with its client and the server is
built with the tables: neither waits for the other.
"""

from collections import defaultdict

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_NORMAL, Reply
from garage_twisted.rpc.quorum import try_call_many, try_write_many_sets
from garage_twisted.table.data import row_key
from garage_twisted.util.time import after_next_poll

MAX_RANGE = 10_000
TIMEOUT = 30.0


def _path(table, operation: str) -> str:
    return f"table/{table.name}/{operation}"


def decode_entry(table, raw):
    """A peer's encoded ``table`` entry, decoded (``RpcError`` if the bytes are not one)."""
    try:
        return table.schema.decode_entry(raw)
    except Exception as e:
        raise RpcError("BadEntry", f"undecodable {table.name} entry: {e}") from None


class TableServer:
    """Serves ``tables`` to peers (the four endpoints of each).

    :param network: the node's ``Network``.
    :param tables: the node's tables (each is served).
    """

    def __init__(self, network, tables):
        for table in tables:
            network.register(_path(table, "update"), lambda call, t=table: self._update(t, call))
            network.register(_path(table, "update_read"),
                             lambda call, t=table: self._update_read(t, call))
            network.register(_path(table, "get"), lambda call, t=table: self._get(t, call))
            network.register(_path(table, "range"), lambda call, t=table: self._range(t, call))

    def _update(self, table, call) -> Reply:
        if not isinstance(call.message, list):
            raise RpcError("BadRequest", "update takes a list of encoded entries")
        table.data.update_entries([decode_entry(table, raw) for raw in call.message])
        return Reply(None)

    def _update_read(self, table, call) -> Reply:
        if not isinstance(call.message, (bytes, bytearray)):
            raise RpcError("BadRequest", "update_read takes one encoded entry")
        return Reply(_update_and_read(table, decode_entry(table, bytes(call.message))))

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
            rows = table.data.read_range_rows(
                bytes(partition), None if start is None else bytes(start), entry_filter,
                limit, bool(reverse))
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "range takes [partition, start, filter, limit, "
                                         "reverse]") from None
        return Reply([[sort_key, raw] for sort_key, raw, _ in rows])


class TableRpc:
    """Calls peers' tables: the ``remote`` client of every ``Table``.

    :param network: the node's ``Network``.
    :param clock: ``IReactorTime`` for hedged reads (and to read this node's
        rows of a range once the other replicas' requests have left), or
        ``None``: every read asks its quorum at once.
    """

    log = Logger()

    def __init__(self, network, clock=None):
        self.network = network
        self.clock = clock

    def _call(self, node, path, message):
        return self.network.call(node, path, message, priority=PRIO_NORMAL, timeout=TIMEOUT)

    def insert_many(self, table, entries) -> defer.Deferred:
        """Write ``entries``, grouped by write sets; fires at write quorum."""
        groups = defaultdict(list)
        for entry in entries:
            sets = table.replication.write_sets(entry.partition_hash())
            groups[tuple(tuple(s) for s in sets)].append(entry)
        me = self.network.node_id

        def write(group):
            raws = None

            def call(node, path, _message):
                nonlocal raws
                if node == me:
                    # This node's copy is merged in directly: no encoding
                    # and decoding for a call to itself.
                    return defer.maybeDeferred(table.data.update_entries, group)
                if raws is None:
                    raws = [e.encode() for e in group]
                return self._call(node, path, raws)
            return call

        writes = [try_write_many_sets(write(group), [list(s) for s in sets],
                                      _path(table, "update"), None,
                                      table.replication.write_quorum())
                  for sets, group in groups.items()]
        return defer.gatherResults(writes, consumeErrors=True).addCallbacks(
            lambda _: None, lambda failure: failure.value.subFailure)

    def insert_and_read(self, table, entry) -> defer.Deferred:
        """Write ``entry``; fires at write quorum with the merge of what the
        acknowledging replicas then held.

        Every write acknowledged before this one started reached a write
        quorum, which meets this one's: the result includes it. So a
        writer learns, in the write's own round trip, whether something
        newer than what it wrote exists (``PutObject`` timestamps).
        """
        me = self.network.node_id
        raw = entry.encode()

        def call(node, path, message):
            if node == me:
                return defer.maybeDeferred(lambda: Reply(_update_and_read(table, entry)))
            return self._call(node, path, message)

        sets = table.replication.write_sets(entry.partition_hash())
        d = try_write_many_sets(call, sets, _path(table, "update_read"), raw,
                                table.replication.write_quorum())

        def merge(replies):
            key = row_key(entry.partition_hash(), entry.sort_key())
            merged, _ = self._merge_answers(table, key, [r.message for _, r in replies])
            return merged if merged is not None else entry
        return d.addCallback(merge)

    def _merge_answers(self, table, key: bytes, answers) -> tuple:
        """CRDT merge of replicas' encoded entries (``None``: absent).

        :returns: ``(entry or None, its encoding if it is one of the answers
            unchanged, else None)``; equal answers are decoded once.
        """
        merged, merged_raw = None, None
        for raw in answers:
            if raw is None or raw == merged_raw:
                continue  # absent, or the same bytes as already merged
            raw = bytes(raw)
            if merged is None:
                # Through the decode cache: usually this node's own row.
                merged, merged_raw = table.data.decode(key, raw), raw
            else:
                merged, merged_raw = merged.merge(decode_entry(table, raw)), None
        return merged, merged_raw

    def _repair(self, table, nodes_answers, merged, merged_raw=None) -> None:
        """Send ``merged`` to the nodes whose answer differs (background).

        :param merged_raw: ``merged``'s encoding if one of the answers was
            exactly it (spares encoding it again).
        """
        if merged_raw is not None and all(a == merged_raw for _, a in nodes_answers):
            return
        raw = merged_raw if merged_raw is not None else merged.encode()
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
        me = self.network.node_id

        def call(node, path, message):
            if node == me:
                return defer.succeed(Reply(table.data.read_raw(partition_hash, sort_key)))
            return self._call(node, path, message)

        replies = await try_call_many(call, nodes, _path(table, "get"),
                                      [partition_hash, sort_key],
                                      table.replication.read_quorum(), all_at_once=False,
                                      clock=self.clock)
        merged, merged_raw = self._merge_answers(table, row_key(partition_hash, sort_key),
                                                 [r.message for _, r in replies])
        if merged is not None:
            self._repair(table, [(n, r.message) for n, r in replies], merged, merged_raw)
        return merged

    async def _read_range(self, table, partition_hash, start_sort_key, entry_filter, limit,
                          reverse):
        nodes = table.replication.read_nodes(partition_hash)
        me = self.network.node_id
        message = [partition_hash, start_sort_key, entry_filter, limit, reverse]
        quorum = table.replication.read_quorum()

        def read_local(_=None):
            return _LocalRows(table.data.read_range_rows(
                partition_hash, start_sort_key, entry_filter, limit, reverse))

        def call(node, path, message):
            if node != me:
                return self._call(node, path, message)
            if self.clock is None or quorum == 1:
                return defer.succeed(read_local())
            # Once the other replicas' requests have left: they read their
            # rows while this node reads its own. (Point reads are too short
            # for the two reactor passes to pay.)
            return after_next_poll(self.clock).addCallback(read_local)

        replies = await try_call_many(call, nodes, _path(table, "range"), message,
                                      quorum, all_at_once=False, clock=self.clock)
        merged = {}  # sort key -> (stored bytes if one replica's, entry)
        # This node's rows first: replicas that agree with them (the usual
        # case) cost a byte comparison per row, not a decode and a merge.
        replies.sort(key=lambda pair: not isinstance(pair[1], _LocalRows))
        for _, reply in replies:
            if isinstance(reply, _LocalRows):
                rows = reply.rows
            else:
                try:
                    rows = [(bytes(sk), bytes(raw), None) for sk, raw in reply.message or []]
                except (TypeError, ValueError):
                    raise RpcError("BadReply", f"{table.name} range: malformed answer") \
                        from None
            for sort_key, raw, entry in rows:
                known = merged.get(sort_key)
                if known is not None and known[0] == raw:
                    continue
                if entry is None:
                    entry = decode_entry(table, raw)
                merged[sort_key] = (raw, entry) if known is None else \
                    (None, known[1].merge(entry))
        keys = sorted(merged, reverse=bool(reverse))
        matches = table.schema.matches_filter
        out = [merged[k][1] for k in keys if matches(merged[k][1], entry_filter)]
        return out[:limit]


def _update_and_read(table, entry) -> bytes | None:
    """Merge ``entry`` into this node's row; the row's bytes after it."""
    table.data.update_entries([entry])
    return table.data.read_raw(entry.partition_hash(), entry.sort_key())


class _LocalRows:
    """This node's answer to its own range read: rows, not yet encoded."""

    def __init__(self, rows):
        self.rows = rows
