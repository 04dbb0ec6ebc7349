"""Counted trees keep an exact key count through inserts, removals,
transactions, recounts racing writes, and restarts."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.errors import MetadataStoreFailed
from garage_twisted.db.leveldb import LevelDBStore
from garage_twisted.db.memory import MemoryStore
from tests.unit.db.test_failstop import FailingDatabase


def run_now(f, *args):
    """An I/O pool that runs the function at once."""
    return defer.succeed(f(*args))


class HeldPool:
    """An I/O pool whose functions run only when the test says so."""

    def __init__(self):
        self.pending = []

    def __call__(self, f, *args):
        d = defer.Deferred()
        self.pending.append((f, args, d))
        return d

    def run_all(self):
        pending, self.pending = self.pending, []
        for f, args, d in pending:
            d.callback(f(*args))


class CountedTreeConformanceMixin:
    """What every store does with counted trees."""

    def make_store(self):
        raise NotImplementedError

    def setUp(self):
        self.store = self.make_store()
        self.tree = self.store.open_tree("queue", counted=True)
        self.successResultOf(self.store.recount(run_now))

    def assertCount(self, expected):
        self.assertEqual(self.tree.key_count.value, expected)
        self.assertEqual(self.tree.count(), expected)

    def test_uncounted_tree_has_no_count(self):
        """A tree opened without ``counted`` carries no count and costs no read."""
        self.assertIsNone(self.store.open_tree("plain").key_count)

    def test_insert_and_remove(self):
        """New keys add one, rewrites of a key nothing, removals of present
        keys take one and of absent keys nothing."""
        self.assertCount(0)
        self.tree.insert(b"a", b"1")
        self.tree.insert(b"b", b"1")
        self.tree.insert(b"a", b"2")
        self.assertCount(2)
        self.tree.remove(b"a")
        self.tree.remove(b"a")
        self.tree.remove(b"never")
        self.assertCount(1)

    def test_transactions(self):
        """A transaction's writes count once committed, each key once, and
        an aborted one counts nothing."""
        self.tree.insert(b"old", b"")
        tx = self.store.transaction()
        tx.insert(self.tree, b"x", b"1")
        tx.insert(self.tree, b"x", b"2")
        tx.insert(self.tree, b"old", b"again")
        tx.insert(self.tree, b"y", b"1")
        tx.remove(self.tree, b"y")
        tx.insert(self.store.open_tree("plain"), b"x", b"")
        self.assertCount(1)
        tx.commit()
        self.assertCount(2)
        tx = self.store.transaction()
        tx.remove(self.tree, b"old")
        tx.abort()
        self.assertCount(2)
        tx = self.store.transaction()
        tx.remove(self.tree, b"old")
        tx.remove(self.tree, b"x")
        tx.commit()
        self.assertCount(0)

    def test_counted_after_writes(self):
        """A tree written before it was counted is counted whole."""
        plain = self.store.open_tree("later")
        for key in (b"1", b"2", b"3"):
            plain.insert(key, b"")
        later = self.store.open_tree("later", counted=True)
        self.assertIs(later, self.store.open_tree("later"))
        self.successResultOf(self.store.recount(run_now))
        self.assertEqual(later.key_count.value, 3)
        later.remove(b"2")
        self.assertEqual(later.key_count.value, 2)

    def test_writes_while_recounting(self):
        """Writes made while the pool walks the snapshot are counted once."""
        for key in (b"a", b"b", b"c"):
            self.tree.insert(key, b"")
        pool = HeldPool()
        recounted = self.store.recount(pool)
        self.tree.insert(b"d", b"")
        self.tree.remove(b"a")
        self.tree.remove(b"b")
        pool.run_all()
        self.successResultOf(recounted)
        self.assertCount(2)


class MemoryCountTests(CountedTreeConformanceMixin, SynchronousTestCase):
    def make_store(self):
        return MemoryStore()


class LevelDBCountTests(CountedTreeConformanceMixin, SynchronousTestCase):
    def make_store(self):
        self.path = os.path.join(self.mktemp(), "db")
        os.makedirs(os.path.dirname(self.path))
        store = LevelDBStore.open(self.path)
        self.addCleanup(lambda: self.store.close())
        return store

    def test_unknown_until_recounted(self):
        """A LevelDB count is unknown (``None``), never wrong, until the
        first recount, and then exact whatever was written meanwhile."""
        self.tree.insert(b"a", b"")
        self.store.close()
        self.store = LevelDBStore.open(self.path)
        tree = self.store.open_tree("queue", counted=True)
        self.assertIsNone(tree.key_count.value)
        tree.insert(b"b", b"")
        tree.remove(b"a")
        self.assertIsNone(tree.key_count.value)
        self.successResultOf(self.store.recount(run_now))
        self.assertEqual(tree.key_count.value, 1)

    def test_exact_across_restarts(self):
        """Closing and reopening the store, then recounting, finds the
        count the running one had."""
        for i in range(500):
            self.tree.insert(b"%04d" % i, b"")
        for i in range(0, 500, 3):
            self.tree.remove(b"%04d" % i)
        before = self.tree.key_count.value
        self.assertEqual(before, 333)
        self.store.close()
        self.store = LevelDBStore.open(self.path)
        tree = self.store.open_tree("queue", counted=True)
        self.successResultOf(self.store.recount(run_now))
        self.assertEqual(tree.key_count.value, before)
        self.assertEqual(tree.count(), before)

    def test_recount_pins_the_database(self):
        """A reopen waits while the pool walks a snapshot."""
        pool = HeldPool()
        recounted = self.store.recount(pool)
        self.assertFalse(self.store.reopen())
        pool.run_all()
        self.successResultOf(recounted)
        self.assertTrue(self.store.reopen())

    def test_a_failed_write_counts_nothing_and_forgets(self):
        """A write LevelDB refused adds nothing, and the count is unknown
        until a recount after the reopen (the write may be in the log)."""
        self.tree.insert(b"a", b"")
        self.store.db = FailingDatabase(self.store.db, fail_at=1)
        tx = self.store.transaction()
        tx.insert(self.tree, b"b", b"")
        self.assertRaises(MetadataStoreFailed, tx.commit)
        self.assertIsNone(self.tree.key_count.value)
        self.assertTrue(self.store.reopen())
        self.successResultOf(self.store.recount(run_now))
        self.assertEqual(self.tree.key_count.value, 1)

    def test_reopen_forgets_the_counts(self):
        """After a reopen the counts are unknown until recounted."""
        self.tree.insert(b"a", b"")
        self.assertTrue(self.store.reopen())
        self.assertIsNone(self.tree.key_count.value)
        self.successResultOf(self.store.recount(run_now))
        self.assertEqual(self.tree.key_count.value, 1)


_OPS = st.lists(st.tuples(st.sampled_from(["insert", "remove", "tx"]),
                          st.lists(st.binary(max_size=2), min_size=1, max_size=4)),
                max_size=40)


class CountEquivalenceTests(SynchronousTestCase):
    @settings(max_examples=40, deadline=None)
    @given(ops=_OPS, recount_at=st.integers(min_value=0, max_value=40))
    def test_count_matches_walk(self, ops, recount_at):
        """Whatever the writes and wherever the recount falls, the running
        count equals a walk of the tree, in both stores."""
        path = os.path.join(self.mktemp(), "db")
        os.makedirs(os.path.dirname(path))
        leveldb = LevelDBStore.open(path)
        try:
            for store in (MemoryStore(), leveldb):
                tree = store.open_tree("q", counted=True)
                pool = HeldPool()
                recounted = store.recount(pool) if recount_at == 0 else None
                for index, (op, keys) in enumerate(ops):
                    if op == "insert":
                        tree.insert(keys[0], b"v")
                    elif op == "remove":
                        tree.remove(keys[0])
                    else:
                        tx = store.transaction()
                        for n, key in enumerate(keys):
                            (tx.insert if n % 2 == 0 else tx.remove)(tree, key, *(
                                (b"t",) if n % 2 == 0 else ()))
                        tx.commit()
                    if index + 1 == recount_at:
                        recounted = store.recount(pool)
                if recounted is None:
                    recounted = store.recount(pool)
                pool.run_all()
                self.successResultOf(recounted)
                self.assertEqual(tree.key_count.value, tree.count())
        finally:
            leveldb.close()
