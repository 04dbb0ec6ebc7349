"""The LevelDB store refuses writes after a failed one, and heals by reopening.

Faults are injected at the database handle (a wrapper around the real plyvel
database that raises LevelDB's own error on the Nth write); the database
underneath is a real LevelDB directory.
"""

import os

from garage_twisted.db.binding import plyvel
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.errors import MetadataStoreFailed
from garage_twisted.db.leveldb import LevelDBStore, open_database, recovery_losses
from garage_twisted.db.recovery import StoreRecovery


class FailingDatabase:
    """A plyvel database whose writes fail from the ``fail_at``-th on (1-based),
    as LevelDB fails them on a full disk."""

    def __init__(self, db, fail_at: int, failures: int = 1_000_000):
        self._db = db
        self._writes = 0
        self.fail_at = fail_at
        self.failures = failures

    def _count(self):
        self._writes += 1
        if self.fail_at <= self._writes < self.fail_at + self.failures:
            raise plyvel.IOError(b"IO error: 000003.log: No space left on device")

    def put(self, *args, **kwargs):
        self._count()
        return self._db.put(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._count()
        return self._db.delete(*args, **kwargs)

    def write_batch(self, *args, **kwargs):
        batch = self._db.write_batch(*args, **kwargs)
        outer = self

        class Batch:
            def put(self, *a):
                batch.put(*a)

            def delete(self, *a):
                batch.delete(*a)

            def write(self):
                outer._count()
                batch.write()

        return Batch()

    def __getattr__(self, name):
        return getattr(self._db, name)


def _capture_log(testcase) -> list:
    events = []
    globalLogPublisher.addObserver(events.append)
    testcase.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


class FailStopTests(SynchronousTestCase):
    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.store = LevelDBStore.open(self.path)
        self.addCleanup(self.store.close)
        self.tree = self.store.open_tree("t")

    def _inject(self, fail_at: int) -> None:
        self.store.db = FailingDatabase(self.store.db, fail_at)

    def test_writes_refused_after_a_failed_one(self):
        """The failed write and every later one raise MetadataStoreFailed;
        reads still see every write acknowledged before."""
        causes = []
        self.store.on_failure.append(causes.append)
        self._inject(fail_at=3)
        self.tree.insert(b"a", b"1")
        tx = self.store.transaction()
        tx.insert(self.tree, b"b", b"2")
        tx.commit()
        self.assertRaises(MetadataStoreFailed, self.tree.insert, b"c", b"3")
        self.assertEqual(len(causes), 1)
        self.assertIn("No space left", causes[0])
        # The disk has room again, but the store does not trust its log.
        self.store.db.failures = 0
        self.assertRaises(MetadataStoreFailed, self.tree.insert, b"d", b"4")
        self.assertRaises(MetadataStoreFailed, self.tree.remove, b"a")
        tx = self.store.transaction()
        tx.insert(self.tree, b"e", b"5")
        self.assertRaises(MetadataStoreFailed, tx.commit)
        self.assertEqual(list(self.tree.range()), [(b"a", b"1"), (b"b", b"2")])
        self.assertEqual(len(causes), 1)

    def test_reopen_heals(self):
        """After a reopen the store takes writes again and holds every
        acknowledged one; the probe leaves no row."""
        self.tree.insert(b"a", b"1")
        recovered = []
        self.store.on_recovered.append(lambda: recovered.append(True))
        self._inject(fail_at=1)
        self.assertRaises(MetadataStoreFailed, self.tree.insert, b"b", b"2")
        self.assertTrue(self.store.reopen())
        self.assertEqual(recovered, [True])
        self.assertIsNone(self.store.failure)
        self.tree.insert(b"c", b"3")
        self.assertEqual(list(self.tree.range()), [(b"a", b"1"), (b"c", b"3")])
        self.assertEqual(self.store.list_trees(), ["t"])
        self.store.close()
        again = LevelDBStore.open(self.path)
        self.addCleanup(again.close)
        self.assertEqual(list(again.open_tree("t").range()), [(b"a", b"1"), (b"c", b"3")])

    def test_reopen_waits_for_pool_users(self):
        """A reopen does not close the database under a thread that uses it."""
        self._inject(fail_at=1)
        self.assertRaises(MetadataStoreFailed, self.tree.insert, b"a", b"1")
        items = self.store.frozen_items()
        self.assertFalse(self.store.reopen())
        self.assertIsNotNone(self.store.failure)
        list(items)
        self.assertTrue(self.store.reopen())


class RecoveryReportTests(SynchronousTestCase):
    def test_damaged_log_is_opened_and_its_losses_logged(self):
        """A write log damaged in its middle: the open falls back from the
        paranoid checks, and what LevelDB dropped is logged as an error."""
        path = os.path.abspath(self.mktemp())
        db = plyvel.DB(path, create_if_missing=True)
        for i in range(200):
            db.put(b"t\x00%04d" % i, b"v" * 100)
        db.close()
        logs = [name for name in os.listdir(path) if name.endswith(".log")]
        self.assertEqual(len(logs), 1)
        with open(os.path.join(path, logs[0]), "r+b") as f:
            f.seek(5000)
            f.write(b"\xff" * 64)
        events = _capture_log(self)
        db = open_database(path)
        self.addCleanup(db.close)
        errors = [e for e in events if e.get("log_level").name == "error"]
        self.assertTrue(any("damaged" in e["log_format"] for e in errors))
        reports = [e["report"] for e in errors if "report" in e]
        self.assertTrue(reports and all("dropping" in r.lower() or "error" in r.lower()
                                        for r in reports), reports)
        self.assertTrue(recovery_losses(path))

    def test_clean_open_reports_nothing(self):
        """A database closed cleanly opens with nothing reported lost."""
        path = os.path.abspath(self.mktemp())
        store = LevelDBStore.open(path)
        store.open_tree("t").insert(b"k", b"v")
        store.close()
        store = LevelDBStore.open(path)
        self.addCleanup(store.close)
        self.assertEqual(recovery_losses(path), [])


class StoreRecoveryTests(SynchronousTestCase):
    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.store = LevelDBStore.open(self.path)
        self.addCleanup(self.store.close)
        self.clock = Clock()
        self.disk_full = True

        def run_in_thread(f, *args):
            if self.disk_full:
                return defer.fail(OSError(28, "No space left on device"))
            return defer.maybeDeferred(f, *args)

        self.recovery = StoreRecovery(self.store, run_in_thread, self.clock,
                                      interval=5.0, probe_bytes=4096)
        self.recovery.startService()
        self.addCleanup(self.recovery.stopService)

    def test_reopens_once_the_probe_file_fits(self):
        """Nothing happens while the store is well; after a failure the
        probe is retried every interval, and the store reopens once it fits."""
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.store.db = FailingDatabase(self.store.db, fail_at=1)
        self.assertRaises(MetadataStoreFailed, self.store.open_tree("t").insert, b"k", b"v")
        self.clock.advance(5.0)
        self.clock.advance(5.0)
        self.assertEqual(self.recovery.attempts, 2)
        self.assertIsNotNone(self.store.failure)
        self.disk_full = False
        self.clock.advance(5.0)
        self.assertIsNone(self.store.failure)
        self.store.open_tree("t").insert(b"k", b"v")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(os.path.exists(os.path.join(self.path, ".write-probe")))
