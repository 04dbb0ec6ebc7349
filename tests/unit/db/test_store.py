"""One conformance suite for every IKeyValueStore implementation."""

import os

from garage_twisted.db.binding import plyvel
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from garage_twisted.db.errors import DatabaseLocked
from garage_twisted.db.interfaces import IKeyValueStore, ITransaction, ITree
from garage_twisted.db.leveldb import LevelDBStore, write_copy
from garage_twisted.db.memory import MemoryStore


class KeyValueStoreConformanceMixin:
    """Behaviour every store must have; mixed into one TestCase per store."""

    def make_store(self):
        raise NotImplementedError

    def setUp(self):
        self.store = self.make_store()
        self.tree = self.store.open_tree("t")

    def test_interfaces(self):
        """The store, its trees and its transactions provide their interfaces."""
        verifyObject(IKeyValueStore, self.store)
        verifyObject(ITree, self.tree)
        verifyObject(ITransaction, self.store.transaction())

    def test_get_insert_remove(self):
        """A key reads back what was inserted, and nothing once removed."""
        self.assertIsNone(self.tree.get(b"k"))
        self.tree.insert(b"k", b"v")
        self.assertEqual(self.tree.get(b"k"), b"v")
        self.tree.insert(b"k", b"")
        self.assertEqual(self.tree.get(b"k"), b"")
        self.tree.remove(b"k")
        self.assertIsNone(self.tree.get(b"k"))
        self.tree.remove(b"absent")

    def test_range_bounds(self):
        """Ranges include their start, exclude their end, and accept open bounds."""
        for key in (b"a", b"b", b"c", b"d"):
            self.tree.insert(key, key.upper())
        self.assertEqual([k for k, _ in self.tree.range(b"b", b"d")], [b"b", b"c"])
        self.assertEqual([k for k, _ in self.tree.range(None, b"c")], [b"a", b"b"])
        self.assertEqual([k for k, _ in self.tree.range(b"c")], [b"c", b"d"])
        self.assertEqual(list(self.tree.range(b"a", b"b")), [(b"a", b"A")])

    def test_range_reverse_and_limit(self):
        """Reverse ranges yield the same keys descending; limits cut them."""
        for key in (b"a", b"b", b"c", b"d"):
            self.tree.insert(key, b"")
        self.assertEqual([k for k, _ in self.tree.range(b"b", reverse=True)],
                         [b"d", b"c", b"b"])
        self.assertEqual([k for k, _ in self.tree.range(limit=2)], [b"a", b"b"])
        self.assertEqual([k for k, _ in self.tree.range(reverse=True, limit=1)], [b"d"])
        self.assertEqual(list(self.tree.range(limit=0)), [])

    def test_trees_are_isolated(self):
        """Trees whose names prefix each other never see each other's keys."""
        names = ["a", "a:b", "ab", "b"]
        trees = {name: self.store.open_tree(name) for name in names}
        for name, tree in trees.items():
            tree.insert(b"\x00key", name.encode())
            tree.insert(b"\xffkey", name.encode())
        for name, tree in trees.items():
            self.assertEqual([v for _, v in tree.range()], [name.encode()] * 2)
            self.assertEqual(tree.count(), 2)
        self.assertEqual(self.store.list_trees(), sorted(names))

    def test_binary_keys(self):
        """Keys with NUL and 0xff bytes order bytewise."""
        keys = [b"\x00", b"\x00\x00", b"\x01", b"\xff", b"\xff\xff"]
        for key in reversed(keys):
            self.tree.insert(key, key)
        self.assertEqual([k for k, _ in self.tree.range()], keys)
        self.assertEqual(self.tree.first(), (b"\x00", b"\x00"))

    def test_transaction_atomic_across_trees(self):
        """A committed transaction applies all its writes, an aborted one none."""
        other = self.store.open_tree("other")
        self.tree.insert(b"old", b"1")
        tx = self.store.transaction()
        tx.insert(self.tree, b"new", b"2")
        tx.insert(other, b"x", b"3")
        tx.remove(self.tree, b"old")
        self.assertIsNone(self.tree.get(b"new"))
        tx.commit()
        self.assertEqual(self.tree.get(b"new"), b"2")
        self.assertEqual(other.get(b"x"), b"3")
        self.assertIsNone(self.tree.get(b"old"))
        tx = self.store.transaction()
        tx.insert(self.tree, b"never", b"4")
        tx.remove(other, b"x")
        tx.abort()
        self.assertIsNone(self.tree.get(b"never"))
        self.assertEqual(other.get(b"x"), b"3")

    def test_transaction_reads_its_own_writes(self):
        """A transaction's get sees its pending inserts and removals."""
        self.tree.insert(b"a", b"1")
        tx = self.store.transaction()
        tx.insert(self.tree, b"b", b"2")
        tx.remove(self.tree, b"a")
        self.assertEqual(tx.get(self.tree, b"b"), b"2")
        self.assertIsNone(tx.get(self.tree, b"a"))
        tx.abort()

    def test_write_during_iteration(self):
        """Writing to a tree while iterating a range over it does not fail."""
        for i in range(10):
            self.tree.insert(b"%02d" % i, b"")
        seen = []
        for key, _ in self.tree.range():
            seen.append(key)
            self.tree.insert(key + b"x", b"")
            self.tree.remove(b"09")
        self.assertIn(b"00", seen)

    def test_empty_store(self):
        """An empty tree has no first key and counts zero."""
        self.assertIsNone(self.tree.first())
        self.assertEqual(self.tree.count(), 0)
        self.assertEqual(self.store.list_trees(), [])


    def test_frozen_items_copy(self):
        """A copy written from ``frozen_items`` opens as a store with every
        tree as it was at the call, and none of the writes made after it."""
        self.tree.insert(b"k", b"v")
        self.store.open_tree("other").insert(b"\x00\xff", b"binary")
        items = self.store.frozen_items()
        self.tree.insert(b"later", b"x")
        self.tree.remove(b"k")
        path = os.path.abspath(self.mktemp())
        self.assertEqual(write_copy(items, path, batch_rows=1), 2)
        copy = LevelDBStore.open(path)
        self.addCleanup(copy.close)
        self.assertEqual(list(copy.open_tree("t").range()), [(b"k", b"v")])
        self.assertEqual(copy.open_tree("other").get(b"\x00\xff"), b"binary")
        self.assertEqual(copy.list_trees(), ["other", "t"])
        self.assertRaises(Exception, write_copy, iter(()), path)


class MemoryStoreTests(KeyValueStoreConformanceMixin, SynchronousTestCase):
    def make_store(self):
        return MemoryStore()


def _table_files(path: str) -> bytes:
    """The bytes of every table file of the database at ``path``."""
    contents = []
    for name in sorted(os.listdir(path)):
        if name.endswith(".ldb"):
            with open(os.path.join(path, name), "rb") as f:
                contents.append(f.read())
    assert contents, f"no table file in {path}"
    return b"".join(contents)


class LevelDBStoreTests(KeyValueStoreConformanceMixin, SynchronousTestCase):
    def make_store(self):
        self.path = os.path.abspath(self.mktemp())
        store = LevelDBStore.open(self.path)
        self.addCleanup(store.close)
        return store

    def test_persists_across_reopen(self):
        """Data written before close is there after reopening."""
        self.tree.insert(b"k", b"v")
        self.store.close()
        store = LevelDBStore.open(self.path)
        self.addCleanup(store.close)
        self.assertEqual(store.open_tree("t").get(b"k"), b"v")

    def test_locked_by_another_opener(self):
        """Opening a database already open raises DatabaseLocked naming the path."""
        error = self.assertRaises(DatabaseLocked, LevelDBStore.open, self.path)
        self.assertIn(self.path, str(error))

    def test_reads_a_database_written_with_snappy(self):
        """Table files an older node wrote Snappy-compressed read back."""
        self.store.close()
        path = os.path.abspath(self.mktemp())
        old = plyvel.DB(path, create_if_missing=True, compression="snappy")
        value = b"metadata row " * 1000
        old.put(b"t\x00k", value)
        old.compact_range()
        old.close()
        self.assertNotIn(value, _table_files(path))  # Snappy did compress it
        store = LevelDBStore.open(path)
        self.addCleanup(store.close)
        self.assertEqual(store.open_tree("t").get(b"k"), value)

    def test_table_files_are_not_compressed(self):
        """Rows land in the table files as they are (no Snappy pass on
        every compaction)."""
        value = b"metadata row " * 1000
        self.tree.insert(b"k", value)
        self.store.db.compact_range()
        self.assertIn(value, _table_files(self.path))

    def test_sync_writes(self):
        """A store opened with sync=True reads back what it wrote."""
        self.store.close()
        store = LevelDBStore.open(self.path, sync=True)
        self.addCleanup(store.close)
        tx = store.transaction()
        tx.insert(store.open_tree("s"), b"k", b"v")
        tx.commit()
        self.assertEqual(store.open_tree("s").get(b"k"), b"v")


operations = st.lists(st.tuples(
    st.sampled_from(["insert", "remove"]), st.sampled_from(["a", "a:b", "b"]),
    st.binary(max_size=3), st.binary(max_size=3)), max_size=40)


class StoreEquivalenceTests(SynchronousTestCase):
    @settings(max_examples=40, deadline=None)
    @given(operations, st.binary(max_size=2), st.binary(max_size=2), st.booleans())
    def test_memory_matches_leveldb(self, ops, start, end, reverse):
        """The memory twin answers every range like LevelDB after the same writes."""
        leveldb = LevelDBStore.open(os.path.abspath(self.mktemp()))
        try:
            memory = MemoryStore()
            for store in (leveldb, memory):
                tx = store.transaction()
                for op, tree, key, value in ops:
                    if op == "insert":
                        tx.insert(store.open_tree(tree), key, value)
                    else:
                        tx.remove(store.open_tree(tree), key)
                tx.commit()
            for tree in ("a", "a:b", "b"):
                self.assertEqual(
                    list(leveldb.open_tree(tree).range(start or None, end or None, reverse)),
                    list(memory.open_tree(tree).range(start or None, end or None, reverse)))
            self.assertEqual(leveldb.list_trees(), memory.list_trees())
        finally:
            leveldb.close()
