"""plyvel (LevelDB 1.22, Python up to 3.12) and plyvel-next (LevelDB 1.23,
Python 3.12 and newer) read each other's databases: a node whose Python is
upgraded (so whose binding changes, ``db/binding.py``) opens its metadata.

Runs where both bindings are installed: ``.ci/run``'s Python 3.12 tier
installs both (the ``leveldb-both`` extra)."""

import importlib

from twisted.trial.unittest import SkipTest, TestCase

from garage_twisted.db.leveldb import LEVELDB_OPTIONS, LevelDBStore


def _binding(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise SkipTest(f"{name} is not installed here (both are on Python 3.12)") from None


ROWS = {f"key-{i:05d}".encode(): (f"value {i} " * (i % 7 + 1)).encode() for i in range(5000)}


class BindingCompatibilityTests(TestCase):
    def _write_with(self, module, path: str) -> None:
        db = module.DB(path, create_if_missing=True, **LEVELDB_OPTIONS)
        with db.write_batch(sync=True) as batch:
            for key, value in ROWS.items():
                batch.put(key, value)
        db.compact_range()  # tables on disk, not only the log
        with db.write_batch(sync=True) as batch:
            batch.put(b"in-the-log", b"too")
        db.close()

    def _read_with(self, module, path: str) -> dict:
        db = module.DB(path, paranoid_checks=True, **LEVELDB_OPTIONS)
        try:
            return dict(db.iterator())
        finally:
            db.close()

    def test_each_reads_the_other(self):
        plyvel, plyvel_next = _binding("plyvel"), _binding("plyvel_next")
        expected = {**ROWS, b"in-the-log": b"too"}
        for writer, reader in ((plyvel, plyvel_next), (plyvel_next, plyvel)):
            path = self.mktemp()
            self._write_with(writer, path)
            self.assertEqual(self._read_with(reader, path), expected,
                             f"{writer.__name__} -> {reader.__name__}")

    def test_the_store_opens_a_database_of_the_other_binding(self):
        """Our own store, on whichever binding this Python has, opens and
        writes a database the other one wrote."""
        plyvel, plyvel_next = _binding("plyvel"), _binding("plyvel_next")
        from garage_twisted.db.binding import plyvel as ours
        other = plyvel_next if ours is plyvel else plyvel
        path = self.mktemp()
        self._write_with(other, path)
        store = LevelDBStore.open(path)
        self.addCleanup(store.close)
        self.assertEqual(store.handle().get(b"key-00042"), ROWS[b"key-00042"])
