"""The node's metadata store: one LevelDB database (plyvel) per node.

Trees are key prefixes inside the one database: a tree named ``T`` owns the
keys ``T + b"\\x00" + key``, so a write batch spans trees atomically. Tree
names never contain NUL, so ``"a"`` and ``"a:b"`` never overlap.

``sync=True`` (``metadata_fsync``) makes every write batch durable before it
returns (~0.5 ms each on an SSD); without it a crash of the machine (not of
the process) may lose the last writes.
"""

import os

import plyvel
from zope.interface import implementer

from garage_twisted.db.errors import DatabaseError, DatabaseLocked
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

    def get(self, key):
        return self._store.db.get(self._prefix + key)

    def insert(self, key, value):
        self._store.db.put(self._prefix + key, bytes(value), sync=self._store.sync)

    def remove(self, key):
        self._store.db.delete(self._prefix + key, sync=self._store.sync)

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
        with self._store.db.iterator(start=lo, stop=hi) as iterator:
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
        iterator = self._store.db.raw_iterator()
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
        with self._store.db.iterator(start=self._prefix, stop=self._end,
                                     include_value=False) as iterator:
            return sum(1 for _ in iterator)

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
        with self._store.db.write_batch(transaction=True, sync=self._store.sync) as batch:
            for tree_name, key, value in writes:
                full = tree_prefix(tree_name) + key
                if value is None:
                    batch.delete(full)
                else:
                    batch.put(full, value)


@implementer(IKeyValueStore)
class LevelDBStore:
    """A LevelDB database holding every tree of a node.

    Use :meth:`open`; the constructor only assigns.
    """

    def __init__(self, db, path: str, sync: bool):
        self.db = db
        self.path = path
        self.sync = sync
        self._trees: dict[str, LevelDBTree] = {}

    @classmethod
    def open(cls, path: str, sync: bool = False) -> "LevelDBStore":
        """Open (creating if needed) the database at ``path``.

        :raises DatabaseLocked: another process has it open.
        :raises DatabaseError: it cannot be opened.
        """
        try:
            os.makedirs(path, exist_ok=True)
            db = plyvel.DB(path, create_if_missing=True, **LEVELDB_OPTIONS)
        except plyvel.IOError as e:
            if "lock" in str(e).lower():
                raise DatabaseLocked(
                    f"the metadata database {path} is in use by another process "
                    "(is another garage node running with this metadata_dir?)"
                ) from e
            raise DatabaseError(f"cannot open the metadata database {path}: {e}") from e
        except (plyvel.Error, OSError) as e:
            raise DatabaseError(f"cannot open the metadata database {path}: {e}") from e
        return cls(db, path, sync)

    def open_tree(self, name):
        tree = self._trees.get(name)
        if tree is None:
            tree = self._trees[name] = LevelDBTree(self, name)
        return tree

    def list_trees(self):
        names = []
        seek = b""
        while True:
            with self.db.iterator(start=seek, include_value=False) as iterator:
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
        # when it was taken, whatever is written meanwhile.
        return self.db.snapshot().iterator()

    def close(self):
        if not self.db.closed:
            self.db.close()


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
