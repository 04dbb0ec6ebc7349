"""The node's metadata store: one LevelDB database (plyvel) per node.

Trees are key prefixes inside the one database: a tree named ``T`` owns the
keys ``T + b"\\x00" + key``, so a write batch spans trees atomically. Tree
names never contain NUL, so ``"a"`` and ``"a:b"`` never overlap.

``sync=True`` (``metadata_fsync``) makes every write batch durable before it
returns (~0.5 ms each on an SSD); without it a crash of the machine (not of
the process) may lose the last writes.

Fail-stop writes. A write LevelDB could not complete (ENOSPC, EIO, a
background compaction's error, anything) may leave a torn record in its
write log, and LevelDB goes on appending after it: the records that follow
look corrupt at the next open, which drops them. So after the first failed
write the store refuses every write (:class:`MetadataStoreFailed`, answered
503 by the APIs, a replica's refusal counted against its quorum) and keeps
serving reads from the open database, which still holds every acknowledged
write. :meth:`LevelDBStore.reopen` (driven by
:class:`~garage_twisted.db.recovery.StoreRecovery` once a probe file can be
written again) closes and reopens it: LevelDB replays the log up to the torn
tail, writes its memtable out, starts a fresh log, and a synced probe write
must succeed before writes are accepted again. Stopping the node instead
would be simpler but leaves a home node down until somebody restarts it;
this way it heals itself when space returns, and never acknowledges a write
that a restart would lose.

Trees opened ``counted`` (queues) carry a running key count
(:mod:`garage_twisted.db.counts`): each write to them first reads whether
its key exists, and :meth:`LevelDBStore.recount` walks a snapshot of them in
the I/O pool.

Every open uses LevelDB's paranoid checks. If they refuse a damaged
database, it is opened again without them (LevelDB then drops what it cannot
read: the rows of this replica that other nodes' anti-entropy restores, a
node that refused to start would restore nothing), and every loss LevelDB
reports in its ``LOG`` is logged as an error.
"""

import os
import threading

from garage_twisted.db.binding import plyvel
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.db.counts import KeyCount
from garage_twisted.db.errors import DatabaseError, DatabaseLocked, MetadataStoreFailed
from garage_twisted.db.interfaces import IKeyValueStore, ITransaction, ITree
from garage_twisted.db.overlay import StagedTransaction

SEPARATOR = b"\x00"
# Bloom filters spare point reads a look into every level-0 file; a larger
# write buffer and block cache keep hot metadata in memory (LevelDB's
# defaults, 4 MiB and 8 MiB, make writes stall and reads hit many files
# under a stream of small PUTs). No Snappy compression: the rows are mostly
# hashes, uuids and CBOR that it barely shrinks (the files were 5-10%
# smaller with it), while every compaction re-compressed every block it
# rewrote. With small PUTs on 30-45 MB databases that cost the LevelDB
# threads 3-4 times more CPU (6.8-16.9 s against 1.6-4.6 s on three nodes
# per s3bench round of 3,000 small PUTs, GETs and deletes), CPU the
# reactors then lacked on a two-core machine.
# Garage's own engines (LMDB, SQLite) do not compress either. Files written
# with Snappy before stay readable: LevelDB marks compression per block.
LEVELDB_OPTIONS = {
    "bloom_filter_bits": 10,
    "write_buffer_size": 8 * 1024 * 1024,
    "lru_cache_size": 16 * 1024 * 1024,
    "max_open_files": 512,
    "compression": None,
}


# A raw key outside every tree (tree keys hold a NUL; ``list_trees`` skips
# keys without one): the probe write that proves the store writable again.
PROBE_KEY = b"garage-twisted-write-probe"
# What LevelDB's LOG says when it drops data at recovery (log and table
# readers' reporters) or ignores an error.
_LOSS_MARKERS = ("dropping", "ignoring error", "corruption", "missing files")


def tree_prefix(name: str) -> bytes:
    if "\x00" in name:
        raise ValueError(f"tree name {name!r} contains NUL")
    return name.encode("utf-8") + SEPARATOR


def _increment(prefix: bytes) -> bytes:
    # Prefixes end with SEPARATOR (0x00), so the last byte can always be bumped.
    return prefix[:-1] + bytes([prefix[-1] + 1])


@implementer(ITree)
class LevelDBTree:
    def __init__(self, store: "LevelDBStore", name: str):
        self.name = name
        self._store = store
        self._prefix = tree_prefix(name)
        self._end = _increment(self._prefix)
        self.key_count = None

    def get(self, key):
        return self._store.handle().get(self._prefix + key)

    def insert(self, key, value):
        full = self._prefix + key
        value = bytes(value)
        count = self.key_count
        fresh = count is not None and self._store.handle().get(full) is None
        self._store.write(lambda db: db.put(full, value, sync=self._store.sync))
        if fresh:
            count.add(1)

    def remove(self, key):
        full = self._prefix + key
        count = self.key_count
        present = count is not None and self._store.handle().get(full) is not None
        self._store.write(lambda db: db.delete(full, sync=self._store.sync))
        if present:
            count.add(-1)

    def range(self, start=None, end=None, reverse=False, limit=None):
        lo = self._prefix if start is None else self._prefix + start
        hi = self._end if end is None else self._prefix + end
        return self._iterate(lo, hi, reverse, limit)

    def _iterate(self, lo, hi, reverse, limit):
        if limit is not None and limit <= 0:
            return
        if reverse:
            yield from self._iterate_reverse(lo, hi, limit)
            return
        cut = len(self._prefix)
        with self._store.handle().iterator(start=lo, stop=hi) as iterator:
            count = 0
            for key, value in iterator:
                yield key[cut:], value
                count += 1
                if limit is not None and count >= limit:
                    return

    def _iterate_reverse(self, lo, hi, limit):
        # plyvel's reverse iterator with start/stop skips the first key of
        # the range in some states of the database (seen with deletions
        # after the range); a raw iterator walking back from ``hi`` does not.
        cut = len(self._prefix)
        iterator = self._store.handle().raw_iterator()
        try:
            iterator.seek(hi)
            if iterator.valid():
                iterator.prev()
            else:
                iterator.seek_to_last()
            count = 0
            while iterator.valid():
                key = iterator.key()
                if key < lo:
                    return
                if key < hi:
                    yield key[cut:], iterator.value()
                    count += 1
                    if limit is not None and count >= limit:
                        return
                iterator.prev()
        finally:
            iterator.close()

    def count(self):
        # Counting may run in the I/O pool: pinned, so a reopen waits.
        with self._store.pinned() as db:
            return _count_range(db, self._prefix, self._end)

    def first(self):
        for item in self.range(limit=1):
            return item
        return None


@implementer(ITransaction)
class LevelDBTransaction(StagedTransaction):
    def commit(self):
        writes = self._pending.drain()
        if not writes:
            return
        # Read before the batch is written, applied once it is.
        deltas = self._store.count_deltas(writes)

        def apply(db):
            batch = db.write_batch(sync=self._store.sync)
            for tree_name, key, value in writes:
                full = tree_prefix(tree_name) + key
                if value is None:
                    batch.delete(full)
                else:
                    batch.put(full, value)
            batch.write()

        self._store.write(apply)
        for count, delta in deltas:
            count.add(delta)


@implementer(IKeyValueStore)
class LevelDBStore:
    """A LevelDB database holding every tree of a node.

    Use :meth:`open`; the constructor only assigns.

    :ivar failure: why writes are refused (``None`` while writable).
    :ivar on_failure: callables called with the cause when writes start
        being refused (the recovery service listens).
    :ivar on_recovered: callables called once writes are accepted again
        (the node wakes the workers that backed off meanwhile).
    """

    log = Logger()

    def __init__(self, db, path: str, sync: bool):
        self.db = db
        self.path = path
        self.sync = sync
        self.failure: str | None = None
        self.on_failure: list = []
        self.on_recovered: list = []
        self._trees: dict[str, LevelDBTree] = {}
        # Trees opened ``counted`` (db/counts.py), by name.
        self._counted_trees: dict[str, LevelDBTree] = {}
        # Uses of the database from I/O pool threads (counts, snapshots):
        # a reopen closes the database only while none is running.
        self._pin_lock = threading.Lock()
        self._pins = 0

    @classmethod
    def open(cls, path: str, sync: bool = False) -> "LevelDBStore":
        """Open (creating if needed) the database at ``path``.

        :raises DatabaseLocked: another process has it open.
        :raises DatabaseError: it cannot be opened.
        """
        return cls(open_database(path), path, sync)

    # -- access ----------------------------------------------------------

    def handle(self):
        """The open database, for reads.

        :raises MetadataStoreFailed: it is closed after a failed reopen.
        """
        db = self.db
        if db is None:
            raise MetadataStoreFailed(
                f"the metadata database is unavailable: {self.failure}")
        return db

    def write(self, apply) -> None:
        """Run ``apply(db)``, a write, unless writes are refused.

        :raises MetadataStoreFailed: writes are refused, or this one failed
            (and from now on they are refused).
        """
        if self.failure is not None:
            raise MetadataStoreFailed(
                f"the metadata store refuses writes until it recovers: {self.failure}")
        try:
            apply(self.handle())
        except plyvel.Error as e:
            cause = _describe(e)
            self._fail(cause)
            raise MetadataStoreFailed(f"metadata write failed: {cause}") from e

    def _fail(self, cause: str) -> None:
        self.failure = cause
        # The failed write may or may not have reached LevelDB's log.
        for tree in self._counted_trees.values():
            tree.key_count.forget()
        self.log.error(
            "metadata store {path}: a write failed ({cause}); refusing writes until a "
            "probe write succeeds after a reopen", path=self.path, cause=cause)
        for callback in list(self.on_failure):
            callback(cause)

    def pinned(self):
        """A context manager giving the database to a pool thread; a reopen
        waits until no thread holds it."""
        return _Pin(self)

    # -- recovery --------------------------------------------------------

    def reopen(self) -> bool:
        """Close and reopen the database, then prove it writable.

        Runs on the reactor thread (every tree read there is synchronous, so
        none sees the database closed); does nothing while a pool thread
        uses it. The open replays LevelDB's log up to a torn tail.

        :returns: whether writes are accepted again.
        """
        with self._pin_lock:
            if self._pins:
                return False
            old, self.db = self.db, None
            if old is not None and not old.closed:
                old.close()
        try:
            self.db = open_database(self.path)
            self.db.put(PROBE_KEY, b"1", sync=True)
            self.db.delete(PROBE_KEY, sync=True)
        except (DatabaseError, plyvel.Error) as e:
            self.failure = f"reopen failed: {_describe(e)}"
            self.log.warn("metadata store {path}: {cause}", path=self.path, cause=self.failure)
            return False
        self.log.info("metadata store {path}: reopened and writable again (was: {cause})",
                      path=self.path, cause=self.failure)
        # A recount that began before the failure may have finished since,
        # from a snapshot that missed the failed write: unknown again until
        # the node recounts (``on_recovered``).
        for tree in self._counted_trees.values():
            tree.key_count.forget()
        self.failure = None
        for callback in list(self.on_recovered):
            callback()
        return True

    # -- IKeyValueStore --------------------------------------------------

    def open_tree(self, name, counted=False):
        tree = self._trees.get(name)
        if tree is None:
            tree = self._trees[name] = LevelDBTree(self, name)
        if counted and tree.key_count is None:
            tree.key_count = KeyCount()
            self._counted_trees[name] = tree
        return tree

    def count_deltas(self, writes) -> list:
        """``[(KeyCount, keys added or removed)]`` that ``writes``
        (``(tree name, key, value or None)``, each key once) make to the
        counted trees, read from the database as it is before them."""
        trees = self._counted_trees
        if not trees:
            return []
        deltas: dict[KeyCount, int] = {}
        get = self.handle().get
        for tree_name, key, value in writes:
            tree = trees.get(tree_name)
            if tree is None:
                continue
            delta = (value is not None) - (get(tree._prefix + key) is not None)
            if delta:
                count = tree.key_count
                deltas[count] = deltas.get(count, 0) + delta
        return list(deltas.items())

    def recount(self, run_in_thread):
        counted = [(name, tree.key_count) for name, tree in self._counted_trees.items()]
        if not counted:
            return defer.succeed(None)
        # The snapshot and the marks together, on the reactor thread: no
        # write comes between them (module docstring of db/counts.py).
        pin = _Pin(self)
        db = pin.__enter__()
        try:
            snapshot = db.snapshot()
        except BaseException:
            # Never a pin left held: a reopen would wait for it for good.
            pin.__exit__(None, None, None)
            raise
        marks = [count.mark() for _, count in counted]

        def walk():
            try:
                return [_count_range(snapshot, tree_prefix(name), _increment(tree_prefix(name)))
                        for name, _ in counted]
            finally:
                snapshot.close()
                pin.__exit__(None, None, None)

        def counted_all(totals):
            for (_, count), keys, mark in zip(counted, totals, marks):
                count.counted(keys, mark)

        return run_in_thread(walk).addCallback(counted_all)

    def list_trees(self):
        names = []
        seek = b""
        db = self.handle()
        while True:
            with db.iterator(start=seek, include_value=False) as iterator:
                key = next(iterator, None)
            if key is None:
                return names
            name, sep, _ = key.partition(SEPARATOR)
            if not sep:
                seek = key + b"\x00"
                continue
            names.append(name.decode("utf-8"))
            seek = name + b"\x01"

    def transaction(self):
        return LevelDBTransaction(self)

    def frozen_items(self):
        # A LevelDB snapshot: reads through it see the database as it was
        # when it was taken, whatever is written meanwhile. Consumed in a
        # pool thread: pinned until exhausted.
        return _PinnedItems(self)

    def close(self):
        db, self.db = self.db, None
        if db is not None and not db.closed:
            db.close()


class _Pin:
    def __init__(self, store: LevelDBStore):
        self._store = store

    def __enter__(self):
        store = self._store
        with store._pin_lock:
            db = store.handle()
            store._pins += 1
        return db

    def __exit__(self, *exc_info):
        with self._store._pin_lock:
            self._store._pins -= 1
        return False


class _PinnedItems:
    """An iterator over a snapshot of the whole database, holding a pin
    from its creation until it is exhausted, closed or collected."""

    def __init__(self, store: LevelDBStore):
        self._pin = _Pin(store)
        db = self._pin.__enter__()
        self._iterator = db.snapshot().iterator()

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterator is None:
            raise StopIteration
        try:
            return next(self._iterator)
        except StopIteration:
            self.close()
            raise

    def close(self):
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            iterator.close()
            self._pin.__exit__(None, None, None)

    def __del__(self):
        self.close()


def _count_range(db, start: bytes, stop: bytes) -> int:
    """Keys of ``db`` (a database or a snapshot) in ``[start, stop)``: walks
    them, so only in the I/O pool."""
    with db.iterator(start=start, stop=stop, include_value=False) as iterator:
        return sum(1 for _ in iterator)


def _describe(error: Exception) -> str:
    message = error.args[0] if error.args else error
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{type(error).__name__}: {message}"


def open_database(path: str):
    """Open (creating if needed) the LevelDB database at ``path``, with its
    paranoid checks, and log as errors what it reports lost.

    :raises DatabaseLocked: another process has it open.
    :raises DatabaseError: it cannot be opened.
    """
    log = LevelDBStore.log
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        try:
            db = plyvel.DB(path, create_if_missing=True, paranoid_checks=True,
                           **LEVELDB_OPTIONS)
        except plyvel.CorruptionError as e:
            log.error("metadata database {path} is damaged ({cause}); opening it without "
                      "paranoid checks: what LevelDB cannot read is dropped, and the other "
                      "replicas' anti-entropy brings those rows back",
                      path=path, cause=_describe(e))
            db = plyvel.DB(path, create_if_missing=True, **LEVELDB_OPTIONS)
    except plyvel.IOError as e:
        if "lock" in str(e).lower():
            raise DatabaseLocked(
                f"the metadata database {path} is in use by another process "
                "(is another garage node running with this metadata_dir?)"
            ) from e
        raise DatabaseError(f"cannot open the metadata database {path}: {_describe(e)}") from e
    except (plyvel.Error, OSError) as e:
        raise DatabaseError(f"cannot open the metadata database {path}: {_describe(e)}") from e
    for line in recovery_losses(path):
        log.error("metadata database {path}: LevelDB reported at open: {report}",
                  path=path, report=line)
    return db


def recovery_losses(path: str) -> list[str]:
    """The lines of LevelDB's ``LOG`` (written by the open just done) that
    report data dropped or errors ignored."""
    try:
        with open(os.path.join(path, "LOG"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines()
            if any(marker in line.lower() for marker in _LOSS_MARKERS)]


def write_copy(items, path: str, batch_rows: int = 10_000) -> int:
    """Write ``items`` (raw ``(key, value)`` pairs, from
    :meth:`IKeyValueStore.frozen_items`) as a new database at ``path``, which
    :meth:`LevelDBStore.open` then opens. Blocking: run it in a thread.

    :returns: how many rows were written.
    :raises DatabaseError: ``path`` exists or cannot be written.
    """
    try:
        db = plyvel.DB(path, create_if_missing=True, error_if_exists=True, **LEVELDB_OPTIONS)
    except (plyvel.Error, OSError) as e:
        raise DatabaseError(f"cannot create the database copy {path}: {e}") from e
    count = 0
    try:
        # Synced batches: LevelDB flushes its log at each, so once the last
        # is written every row is on disk.
        batch = db.write_batch(sync=True)
        for key, value in items:
            batch.put(key, value)
            count += 1
            if count % batch_rows == 0:
                batch.write()
                batch = db.write_batch(sync=True)
        batch.write()
    finally:
        db.close()
    return count
