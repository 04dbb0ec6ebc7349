"""Local storage of one table: rows, Merkle to-do list and insert queue.

Trees in the node's key-value store, for a table named ``T``:

- ``T:table``: row key -> encoded entry. Row key = partition hash (32 bytes)
  + sort key, so a partition's rows are contiguous and ordered by sort key.
- ``T:merkle_todo``: row key -> blake2b-256 of the new value (empty bytes for
  a deletion); drained by :class:`garage_twisted.table.merkle.MerkleUpdater`.
- ``T:insert_queue``: row key -> encoded entry waiting to be inserted through
  the replicated table (side effects of other tables' updates).
- ``T:gc_todo``: time written (8 bytes, ms) + row key -> blake2b-256 of a
  tombstone value; :class:`garage_twisted.table.gc.TableGc` forgets the
  tombstone once old enough, if it is still the row's value.

Invariant: a row, its Merkle to-do entry and the schema's ``updated()``
cascade are written in one transaction. All of it runs on the reactor thread
with no yield between the read of the old row and the commit, so updates of
the same row never interleave.
"""

import hashlib
import time

from twisted.logger import Logger

from garage_twisted.db.interfaces import IKeyValueStore

HASH_SIZE = 32
# The decode cache holds at most this many bytes of encoded rows per table,
# and never a row larger than DECODE_CACHE_MAX_ROW (version rows of large
# objects), so it stays small whatever the workload. Decoded entries are many
# small objects that every full garbage collection walks: 4 MiB per table
# made collections pause the node for up to 250 ms.
DECODE_CACHE_BYTES = 1024 * 1024
DECODE_CACHE_MAX_ROW = 512 * 1024


def blake2sum(data: bytes) -> bytes:
    """blake2b-256 of ``data``."""
    return hashlib.blake2b(data, digest_size=HASH_SIZE).digest()


def row_key(partition_hash: bytes, sort_key: bytes) -> bytes:
    """Local key of the row of an entry."""
    return partition_hash + sort_key


def prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with ``prefix``.

    :returns: ``None`` if no such key exists (prefix is all ``0xff``).
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class TableData:
    """The local rows of one table and the bookkeeping around them.

    :param schema: the table's
        :class:`garage_twisted.table.interfaces.ITableSchema`.
    :param store: the node's :class:`IKeyValueStore`.
    """

    log = Logger()

    def __init__(self, schema, store: IKeyValueStore, cache_rows: bool = False,
                 clock=None):
        self.schema = schema
        self.clock = clock
        self.name = schema.table_name
        self.store = store
        self.rows = store.open_tree(f"{self.name}:table")
        # The queues keep running key counts (``key_count``): /metrics and
        # ListWorkers show their lengths without walking them.
        self.merkle_todo = store.open_tree(f"{self.name}:merkle_todo", counted=True)
        self.insert_queue = store.open_tree(f"{self.name}:insert_queue", counted=True)
        self.gc_todo = store.open_tree(f"{self.name}:gc_todo", counted=True)
        # Decoded rows by row key, with the bytes they were decoded from: hot
        # rows (buckets, keys, an object being read) skip CBOR decoding as
        # long as their stored bytes are unchanged.
        self._decoded: dict[bytes, tuple[bytes, object]] = {}
        self._decoded_bytes = 0
        # Small hot tables (buckets, keys, aliases: read on every request)
        # keep every row read in memory. Coherent because every write of a
        # row goes through this object, which updates the cache after commit.
        self._rows_cache: dict[bytes, bytes | None] | None = {} if cache_rows else None
        # Called with no argument after every committed change, so workers
        # waiting for work (Merkle updater, insert queue) wake up.
        self.on_merkle_todo = []
        self.on_insert_queued = []

    # -- reads -----------------------------------------------------------

    def decode(self, key: bytes, raw: bytes):
        """Decode the row ``key`` holding ``raw``, through the decode cache."""
        cached = self._decoded.get(key)
        if cached is not None and cached[0] == raw:
            return cached[1]
        entry = self.schema.decode_entry(raw)
        self._cache_decoded(key, raw, entry)
        return entry

    def _cache_decoded(self, key: bytes, raw: bytes, entry) -> None:
        if len(raw) > DECODE_CACHE_MAX_ROW:
            return
        if self._decoded_bytes + len(raw) > DECODE_CACHE_BYTES:
            self._decoded.clear()
            self._decoded_bytes = 0
        self._decoded[key] = (raw, entry)
        self._decoded_bytes += len(raw)

    def read_raw(self, partition_hash: bytes, sort_key: bytes) -> bytes | None:
        """The local row's stored bytes, or ``None``."""
        key = row_key(partition_hash, sort_key)
        cache = self._rows_cache
        if cache is None:
            return self.rows.get(key)
        if key not in cache:
            cache[key] = self.rows.get(key)
        return cache[key]

    def read_entry(self, partition_hash: bytes, sort_key: bytes):
        """The decoded local entry, or ``None``."""
        raw = self.read_raw(partition_hash, sort_key)
        return None if raw is None else self.decode(row_key(partition_hash, sort_key), raw)

    def _committed(self, written: dict) -> None:
        if self._rows_cache is not None:
            self._rows_cache.update(written)

    def read_range(
        self,
        partition_hash: bytes,
        start_sort_key: bytes | None,
        entry_filter,
        limit: int,
        reverse: bool = False,
    ) -> list:
        """Decoded local entries of a partition, in sort-key order (see
        :meth:`read_range_rows`)."""
        return [entry for _, _, entry in self.read_range_rows(
            partition_hash, start_sort_key, entry_filter, limit, reverse)]

    def read_range_rows(
        self,
        partition_hash: bytes,
        start_sort_key: bytes | None,
        entry_filter,
        limit: int,
        reverse: bool = False,
    ) -> list:
        """``(sort key, stored bytes, entry)`` of a partition's local rows,
        in sort-key order.

        :param start_sort_key: first sort key to return (inclusive; in
            reverse order, the largest); ``None`` starts at the partition's
            end in that direction.
        :param entry_filter: passed to the schema's ``matches_filter``.
        :param limit: maximum number of entries returned.
        """
        end = prefix_end(partition_hash)
        if reverse:
            range_start = partition_hash
            range_end = (
                end
                if start_sort_key is None
                else prefix_end(row_key(partition_hash, start_sort_key))
            )
        else:
            range_start = row_key(partition_hash, start_sort_key or b"")
            range_end = end
        found = []
        decode = self.schema.decode_entry
        matches = self.schema.matches_filter
        for key, raw in self.rows.range(range_start, range_end, reverse=reverse):
            entry = decode(raw)
            if matches(entry, entry_filter):
                found.append((key[HASH_SIZE:], raw, entry))
                if len(found) >= limit:
                    break
        return found

    # -- writes ----------------------------------------------------------

    def update_entry(self, entry) -> bool:
        """Merge ``entry`` into the local row.

        :returns: ``True`` if the stored row changed.
        """
        return self.update_entries([entry]) == 1

    def update_entries(self, entries) -> int:
        """Merge several entries in one transaction; returns how many changed."""
        tx = self.store.transaction()
        written = {}
        fresh = {}
        try:
            changed = sum(1 for e in entries if self.update_entry_in(tx, e, written, fresh))
        except BaseException:
            tx.abort()
            raise
        tx.commit()
        self._after_commit(written, fresh, changed)
        return changed

    def _after_commit(self, written: dict, fresh: dict, changed: int) -> None:
        self._committed(written)
        # The next write to a row (the next batch of a big upload's version)
        # finds it decoded: the entry and its bytes are already at hand.
        for key, pair in fresh.items():
            self._cache_decoded(key, *pair)
        if changed:
            self._notify(self.on_merkle_todo)

    def update_entry_in(self, tx, entry, written: dict | None = None,
                        fresh: dict | None = None) -> bool:
        """Merge ``entry`` into the local row inside an open transaction.

        :param written: if given, receives ``row key -> new bytes`` (for the
            caller to apply to the row cache once the transaction commits).
        :param fresh: if given, receives ``row key -> (new bytes, new entry)``
            (for the decode cache, once committed).
        """
        key = row_key(entry.partition_hash(), entry.sort_key())
        old_raw = tx.get(self.rows, key)
        if old_raw is None:
            old = None
            new = entry
        elif old_raw == entry.known_encoding():
            # The row already holds these bytes: a CRDT merged with itself
            # is itself, so nothing to decode, merge or write. Common: every
            # node holding an object queues the same version and block_ref
            # rows when it changes, so each replica receives each such row
            # once per node.
            return False
        else:
            old = self.decode(key, old_raw)
            new = old.merge(entry)
        new_raw = new.encode()
        if new_raw == old_raw:
            return False
        tx.insert(self.rows, key, new_raw)
        if written is not None:
            written[key] = new_raw
        if fresh is not None:
            fresh[key] = (new_raw, new)
        value_hash = blake2sum(new_raw)
        tx.insert(self.merkle_todo, key, value_hash)
        if new.is_tombstone():
            tx.insert(self.gc_todo, self._now_ms().to_bytes(8, "big") + key, value_hash)
        self.schema.updated(tx, old, new)
        return True

    def _now_ms(self) -> int:
        seconds = self.clock.seconds() if self.clock is not None else time.time()
        return int(seconds * 1000)

    def delete_if_equal(self, key: bytes, expected_raw: bytes) -> bool:
        """Delete a row only if it still holds ``expected_raw`` (used by GC)."""
        tx = self.store.transaction()
        current = tx.get(self.rows, key)
        if current is None or current != expected_raw:
            tx.abort()
            return False
        tx.remove(self.rows, key)
        tx.insert(self.merkle_todo, key, b"")
        self.schema.updated(tx, self.schema.decode_entry(current), None)
        tx.commit()
        self._committed({key: None})
        self._notify(self.on_merkle_todo)
        return True

    # -- insert queue ----------------------------------------------------

    def queue_insert(self, tx, entry, supersedes: bool = False) -> None:
        """Stage ``entry`` for a replicated insert, inside ``tx``.

        Used by other tables' ``updated()`` hooks: the effect is persisted in
        the same transaction as its cause, and the insert-queue worker
        delivers it, so a crash in between loses nothing.

        :param supersedes: the caller knows ``entry`` merged over any entry
            queued under its key gives ``entry`` (a node's own counter,
            whose sequence number only grows): it replaces that entry
            without reading it back and merging.
        """
        key = row_key(entry.partition_hash(), entry.sort_key())
        queued = None if supersedes else tx.get(self.insert_queue, key)
        if queued is not None:
            entry = self.schema.decode_entry(queued).merge(entry)
        tx.insert(self.insert_queue, key, entry.encode())
        self._notify_after_commit(tx, self.on_insert_queued)

    def _notify_after_commit(self, tx, callbacks) -> None:
        # The transaction commits right after the hook returns, on this same
        # reactor turn; workers woken now only run on a later turn.
        self._notify(callbacks)

    def _notify(self, callbacks) -> None:
        for callback in callbacks:
            callback()


def update_tables(groups) -> None:
    """Merge entries into several tables of one store in one transaction.

    :param groups: ``[(TableData, [entries]), ...]``, all on the same store.
    """
    groups = [(data, list(entries)) for data, entries in groups]
    tx = groups[0][0].store.transaction()
    done = []
    try:
        for data, entries in groups:
            written, fresh = {}, {}
            changed = sum(1 for e in entries if data.update_entry_in(tx, e, written, fresh))
            done.append((data, written, fresh, changed))
    except BaseException:
        tx.abort()
        raise
    tx.commit()
    for data, written, fresh, changed in done:
        data._after_commit(written, fresh, changed)
