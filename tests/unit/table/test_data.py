"""Local table data: several tables written in one transaction."""

from dataclasses import replace

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.table.data import TableData, row_key, update_tables
from tests.unit.table.test_fake_cluster import Record, RecordSchema, record


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


class _CountingRecord(Record):
    """A record that counts its encodings (``to_cbor`` calls) and merges."""

    encodings = 0
    merges = 0

    def to_cbor(self):
        _CountingRecord.encodings += 1
        return super().to_cbor()

    def merge(self, other):
        _CountingRecord.merges += 1
        return super().merge(other)


class EntryEncodingTests(SynchronousTestCase):
    def setUp(self):
        _CountingRecord.encodings = 0

    def entry(self, ts: int, **fields) -> _CountingRecord:
        plain = record(PK, b"a", ts, **fields)
        return _CountingRecord(plain.pk, plain.sk, plain.fields)

    def test_an_entry_is_encoded_once(self):
        entry = self.entry(1, x=1)
        raw = entry.encode()
        self.assertIs(entry.encode(), raw)
        self.assertEqual(_CountingRecord.encodings, 1)

    def test_a_decoded_entry_is_the_bytes_it_came_from(self):
        raw = self.entry(1, x=1).encode()
        decoded = _CountingRecord.decode(raw)
        self.assertEqual(decoded.encode(), raw)
        self.assertEqual(_CountingRecord.encodings, 1)

    def test_new_values_get_their_own_encoding(self):
        entry = self.entry(1, x=1)
        entry.encode()
        changed = replace(entry, sk=b"b")
        self.assertNotEqual(changed.encode(), entry.encode())
        self.assertEqual(_CountingRecord.decode(changed.encode()).sk, b"b")
        # Equality looks at the fields only, encoded or not.
        self.assertEqual(entry, self.entry(1, x=1))

    def test_the_bytes_already_stored_change_nothing(self):
        """An entry arriving as the very bytes its row holds (a cascade's
        row, queued by every node holding its cause) is neither decoded
        again nor merged nor written: no Merkle work, no update hook."""
        data = TableData(RecordSchema(), MemoryStore())
        data.update_entry(self.entry(1, x=1))
        raw = data.read_raw(PK, b"a")
        tx = data.store.transaction()
        tx.remove(data.merkle_todo, row_key(PK, b"a"))
        tx.commit()
        hooked = []
        data.schema.updated = lambda tx, old, new: hooked.append(new)
        encodings, merges = _CountingRecord.encodings, _CountingRecord.merges
        self.assertFalse(data.update_entry(_CountingRecord.decode(raw)))
        self.assertEqual((_CountingRecord.encodings, _CountingRecord.merges),
                         (encodings, merges))
        self.assertEqual((list(data.merkle_todo.range()), hooked), ([], []))
        # Other bytes of the same row still merge.
        self.assertTrue(data.update_entry(self.entry(2, y=2)))
        self.assertEqual(len(hooked), 1)


class QueueInsertTests(SynchronousTestCase):
    def queued(self, data: TableData) -> Record:
        ((_, raw),) = data.insert_queue.range()
        return data.schema.decode_entry(raw)

    def queue(self, data: TableData, entry, **options) -> None:
        tx = data.store.transaction()
        data.queue_insert(tx, entry, **options)
        tx.commit()

    def test_entries_queued_under_one_key_merge(self):
        data = TableData(RecordSchema(), MemoryStore())
        self.queue(data, record(PK, b"a", 1, x=1))
        self.queue(data, record(PK, b"a", 2, y=2))
        self.assertEqual(dict(self.queued(data).fields.items()), {"x": 1, "y": 2})

    def test_a_superseding_entry_replaces_the_queued_one(self):
        data = TableData(RecordSchema(), MemoryStore())
        self.queue(data, record(PK, b"a", 1, x=1))
        self.queue(data, record(PK, b"a", 2, y=2), supersedes=True)
        self.assertEqual(dict(self.queued(data).fields.items()), {"y": 2})
