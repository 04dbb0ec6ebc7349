"""Local table data: several tables written in one transaction."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.table.data import TableData, row_key, update_tables
from tests.unit.table.test_fake_cluster import RecordSchema, record


class _OtherSchema(RecordSchema):
    table_name = "other"


PK = bytes(32)


class UpdateTablesTests(SynchronousTestCase):
    def test_rows_of_two_tables_in_one_commit(self):
        store = MemoryStore()
        first, second = TableData(RecordSchema(), store), TableData(_OtherSchema(), store)
        woken = []
        first.on_merkle_todo.append(lambda: woken.append("first"))
        update_tables([(first, [record(PK, b"a", 1, x=1)]),
                       (second, [record(PK, b"b", 1, y=2), record(PK, b"c", 1, z=3)])])
        self.assertEqual(first.read_entry(PK, b"a").fields.get("x"), 1)
        self.assertEqual(second.read_entry(PK, b"c").fields.get("z"), 3)
        # Each row has its Merkle to-do entry, and the table's worker is woken.
        self.assertEqual(sorted(k for k, _ in second.merkle_todo.range()),
                         [row_key(PK, b"b"), row_key(PK, b"c")])
        self.assertEqual(woken, ["first"])

    def test_a_failure_writes_nothing(self):
        store = MemoryStore()
        first, second = TableData(RecordSchema(), store), TableData(_OtherSchema(), store)

        class Broken:
            def partition_hash(self):
                raise RuntimeError("broken entry")

        with self.assertRaises(RuntimeError):
            update_tables([(first, [record(PK, b"a", 1, x=1)]), (second, [Broken()])])
        self.assertIsNone(first.read_raw(PK, b"a"))
