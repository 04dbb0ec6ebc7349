"""A failing disk while a queue recount runs: the recount cannot bring back
a count the failure made unknown.

A recount walks a snapshot in the I/O pool; if a write fails meanwhile
(the failure forgets every count: the write may have reached LevelDB's
log, which a reopen replays), the recount landing afterwards used to set a
count from its older snapshot: a wrong figure where the store promises
``None`` until a recount taken after the failure.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.errors import MetadataStoreFailed
from garage_twisted.db.leveldb import LevelDBStore
from tests.unit.db.test_counts import HeldPool, run_now
from tests.unit.db.test_failstop import FailingDatabase


class StaleRecountTests(SynchronousTestCase):
    def test_a_recount_overtaken_by_a_failure_is_ignored(self):
        path = os.path.join(self.mktemp(), "db")
        os.makedirs(os.path.dirname(path))
        store = LevelDBStore.open(path)
        self.addCleanup(lambda: store.close())
        tree = store.open_tree("queue", counted=True)
        self.successResultOf(store.recount(run_now))
        tree.insert(b"a", b"")
        pool = HeldPool()
        recounted = store.recount(pool)  # its snapshot holds {a}
        store.db = FailingDatabase(store.db, fail_at=1)
        tx = store.transaction()
        tx.insert(tree, b"b", b"")
        self.assertRaises(MetadataStoreFailed, tx.commit)
        pool.run_all()  # the old recount lands after the failure
        self.successResultOf(recounted)
        self.assertIsNone(tree.key_count.value)
        # A reopen and a recount taken after it give the count again.
        self.assertTrue(store.reopen())
        self.successResultOf(store.recount(run_now))
        self.assertEqual(tree.key_count.value, tree.count())

    def test_counts_come_back_after_the_store_recovers(self):
        """StoreRecounter recounts at start and after every reopen: a failed
        write leaves the counts unknown only until the store recovers."""
        from garage_twisted.db.counts import StoreRecounter
        path = os.path.join(self.mktemp(), "db")
        os.makedirs(os.path.dirname(path))
        store = LevelDBStore.open(path)
        self.addCleanup(lambda: store.close())
        tree = store.open_tree("queue", counted=True)
        recounter = StoreRecounter(store, run_now)
        recounter.startService()
        self.addCleanup(recounter.stopService)
        tree.insert(b"a", b"")
        self.assertEqual(tree.key_count.value, 1)
        store.db = FailingDatabase(store.db, fail_at=1)
        tx = store.transaction()
        tx.insert(tree, b"b", b"")
        self.assertRaises(MetadataStoreFailed, tx.commit)
        self.assertIsNone(tree.key_count.value)
        self.assertTrue(store.reopen())  # on_recovered: the recounter recounts
        self.assertEqual(tree.key_count.value, tree.count())
