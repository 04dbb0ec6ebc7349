"""In-memory twin of the LevelDB store, for fast unit tests.

Same semantics as :class:`~garage_twisted.db.leveldb.LevelDBStore`: ordered
trees of bytes, lazy ranges that tolerate writes during iteration (they read
a snapshot of the keys), atomic transactions that see their own writes,
counted trees (their count is known from the start: nothing to walk).
"""

import bisect

from twisted.internet import defer
from zope.interface import implementer

from garage_twisted.db.counts import KeyCount
from garage_twisted.db.interfaces import IKeyValueStore, ITransaction, ITree
from garage_twisted.db.leveldb import tree_prefix
from garage_twisted.db.overlay import StagedTransaction


@implementer(ITree)
class MemoryTree:
    def __init__(self, name: str):
        self.name = name
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []
        self.key_count = None

    def get(self, key):
        return self._data.get(bytes(key))

    def _put(self, key: bytes, value: bytes):
        if key not in self._data:
            bisect.insort(self._keys, key)
            if self.key_count is not None:
                self.key_count.add(1)
        self._data[key] = bytes(value)

    def _delete(self, key: bytes):
        if key in self._data:
            del self._data[key]
            del self._keys[bisect.bisect_left(self._keys, key)]
            if self.key_count is not None:
                self.key_count.add(-1)

    def insert(self, key, value):
        self._put(bytes(key), value)

    def remove(self, key):
        self._delete(bytes(key))

    def range(self, start=None, end=None, reverse=False, limit=None):
        lo = 0 if start is None else bisect.bisect_left(self._keys, start)
        hi = len(self._keys) if end is None else bisect.bisect_left(self._keys, end)
        keys = self._keys[lo:hi]
        if reverse:
            keys.reverse()
        if limit is not None:
            keys = keys[:limit]
        return self._iterate(keys)

    def _iterate(self, keys):
        for key in keys:
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def count(self):
        return len(self._keys)

    def first(self):
        if not self._keys:
            return None
        key = self._keys[0]
        return key, self._data[key]


@implementer(ITransaction)
class MemoryTransaction(StagedTransaction):
    def commit(self):
        for tree_name, key, value in self._pending.drain():
            tree = self._store.open_tree(tree_name)
            if value is None:
                tree._delete(key)
            else:
                tree._put(key, value)


@implementer(IKeyValueStore)
class MemoryStore:
    """All trees in dictionaries; nothing survives the process."""

    def __init__(self):
        self._trees: dict[str, MemoryTree] = {}

    def open_tree(self, name, counted=False):
        tree = self._trees.get(name)
        if tree is None:
            tree = self._trees[name] = MemoryTree(name)
        if counted and tree.key_count is None:
            tree.key_count = KeyCount()
            tree.key_count.counted(len(tree._keys), tree.key_count.mark())
        return tree

    def recount(self, run_in_thread):
        for tree in self._trees.values():
            if tree.key_count is not None:
                tree.key_count.counted(len(tree._keys), tree.key_count.mark())
        return defer.succeed(None)

    def list_trees(self):
        return sorted(name for name, tree in self._trees.items() if tree.count())

    def transaction(self):
        return MemoryTransaction(self)

    def frozen_items(self):
        # The keys as the LevelDB store lays them out, copied now so that
        # later writes do not show. Trees in name order, then their keys in
        # order, is key order: a prefix ends with NUL, below any name byte.
        items = []
        for name in sorted(self._trees):
            prefix = tree_prefix(name)
            items += [(prefix + key, value) for key, value in self._trees[name].range()]
        return iter(items)

    def close(self):
        self._trees = {}
