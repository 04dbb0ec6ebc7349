"""Tombstone garbage collection: forget deletion records every replica holds.

A deleted entry stays as a tombstone (a CRDT value that says "deleted") so
that a replica still holding the live value learns of the deletion instead
of bringing the entry back through anti-entropy. Once a tombstone is older
than the GC delay (``tombstone_gc_delay_secs``, 24 h by default, as Garage),
:class:`TableGc` removes it, in two steps as Garage does:

1. the tombstone is sent to every node that should hold its partition (every
   active layout version's nodes); all of them must acknowledge, so none
   keeps an older live value that would resurrect the entry;
2. every one of them, this node included, deletes the row *only if it still
   holds that exact tombstone* (same value hash). A write that re-created
   the entry in between changed the value, so it is never removed.

A step that fails (a node down) leaves everything in place, and the batch
is retried after ``RETRY_DELAY``; tombstones are only ever removed, never
the live data. Endpoint ``table/T/gc_delete``: a list of ``[row key, value
hash]``.

The to-do list is ``T:gc_todo`` (time written + row key -> value hash),
filled by :class:`~garage_twisted.table.data.TableData` when a write leaves
a tombstone.
"""

from collections import defaultdict

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_BACKGROUND, Reply
from garage_twisted.table.data import blake2sum
from garage_twisted.util.time import now_msec
from garage_twisted.util.worker import IWorker, WorkerState

GC_BATCH = 100
RETRY_DELAY = 60.0
TIMEOUT = 60.0


@implementer(IWorker)
class TableGc:
    """Tombstone collector of one table (a worker).

    :param table: the ``Table``.
    :param network: the node's ``Network``, or ``None`` (single node, tests).
    :param holders: ``holders(partition hash) -> [node ids]`` that should hold
        an entry (all active layout versions); an empty list means this node
        alone.
    :param delay_secs: how old a tombstone must be to be collected.
    :param clock: ``IReactorTime``.
    """

    log = Logger()

    def __init__(self, table, network, holders, delay_secs: float, clock):
        self.table = table
        self.network = network
        self.holders = holders
        self.delay_ms = int(delay_secs * 1000)
        self.clock = clock
        self.name = f"{table.name} GC"
        self.next_idle_delay = None
        self.collected = 0
        self.last_error = None
        if network is not None:
            network.register(f"table/{table.name}/gc_delete", self._serve_delete)

    def _serve_delete(self, call) -> Reply:
        try:
            items = [(bytes(k), bytes(h)) for k, h in call.message]
        except (TypeError, ValueError):
            raise RpcError("BadRequest", "gc_delete takes [[row key, value hash], ...]") from None
        return Reply(sum(1 for key, value_hash in items
                         if self._delete_if_hash(key, value_hash)))

    def _delete_if_hash(self, key: bytes, value_hash: bytes) -> bool:
        raw = self.table.data.rows.get(key)
        if raw is None or blake2sum(raw) != value_hash:
            return False
        return self.table.data.delete_if_equal(key, raw)

    def work(self, now_ms: int | None = None):
        return defer.ensureDeferred(self._work(now_ms))

    async def _work(self, now_ms):
        data = self.table.data
        now = now_msec(self.clock) if now_ms is None else now_ms
        self.next_idle_delay = None
        due = []
        for todo_key, value_hash in data.gc_todo.range(limit=GC_BATCH):
            if int.from_bytes(todo_key[:8], "big") + self.delay_ms > now:
                break
            due.append((todo_key, value_hash))
        if not due:
            return WorkerState.IDLE
        groups = defaultdict(list)
        for todo_key, value_hash in due:
            key = todo_key[8:]
            raw = data.rows.get(key)
            if raw is None or blake2sum(raw) != value_hash:
                data.gc_todo.remove(todo_key)  # re-written since: not a tombstone to drop
                continue
            nodes = tuple(sorted(self.holders(key[:32])))
            groups[nodes].append((todo_key, key, raw, value_hash))
        failed = False
        for nodes, items in groups.items():
            try:
                await self._collect(nodes, items)
            except Exception as e:  # everything stays; retried later
                failed = True
                self.last_error = str(e)
                self.log.info("{table} GC: tombstones kept for now: {error}",
                              table=self.table.name, error=str(e))
        if failed:
            self.next_idle_delay = RETRY_DELAY
            return WorkerState.IDLE
        return WorkerState.BUSY

    async def _collect(self, nodes, items) -> None:
        me = None if self.network is None else self.network.node_id
        others = [n for n in nodes if n != me]
        if others:
            raws = [raw for _, _, raw, _ in items]
            await self._all(others, f"table/{self.table.name}/update", raws)
            await self._all(others, f"table/{self.table.name}/gc_delete",
                            [[key, value_hash] for _, key, _, value_hash in items])
        data = self.table.data
        for todo_key, key, raw, _ in items:
            if data.delete_if_equal(key, raw):
                self.collected += 1
            data.gc_todo.remove(todo_key)

    def _all(self, nodes, path, message):
        """Call every node; fails unless all of them succeed."""
        return defer.gatherResults(
            [self.network.call(n, path, message, priority=PRIO_BACKGROUND, timeout=TIMEOUT)
             for n in nodes], consumeErrors=True)

    def status(self) -> dict:
        return {"gc_todo_length": self.table.data.gc_todo.key_count.value,
                "collected": self.collected, "last_error": self.last_error}
