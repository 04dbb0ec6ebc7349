"""The Merkle trie depends on the set of rows only, and its updater drains the to-do."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.table.data import TableData
from garage_twisted.rpc.ring import partition_of
from garage_twisted.table.data import blake2sum
from garage_twisted.table.merkle import (
    CHUNK, EMPTY_HASH, ITEMS_PER_STEP, NODE_INTERMEDIATE, NODE_LEAF, STEP_SECONDS, MerkleTrie,
    MerkleUpdater,
)
from garage_twisted.util import codec
from garage_twisted.table.schema import TableSchema
from garage_twisted.util.worker import WorkerState


class _Schema(TableSchema):
    table_name = "t"


def _trie():
    store = MemoryStore()
    return store, MerkleTrie(TableData(_Schema(), store))


def _build(ops, batch_size):
    store, trie = _trie()
    for i in range(0, len(ops), batch_size):
        tx = store.transaction()
        trie.update_items(tx, ops[i:i + batch_size])
        tx.commit()
    return dict(trie.tree.range())


rows = st.builds(lambda p, rest: bytes([p]) + rest, st.integers(0, 1), st.binary(min_size=1, max_size=3))
ops = st.lists(st.tuples(rows, st.one_of(st.none(), st.binary(min_size=32, max_size=32))),
               max_size=60)


def _survivors(history) -> dict:
    """row -> value hash after applying ``(row, value hash or None)`` in order."""
    live = {}
    for row, value_hash in history:
        if value_hash is None:
            live.pop(row, None)
        else:
            live[row] = value_hash
    return live


def _reference(live: dict) -> dict:
    """The trie of ``live`` (row -> value hash), built recursively from scratch."""
    nodes = {}

    def build(key, depth, items):
        if len(items) == 1:
            ((row, value_hash),) = items
            node = [NODE_LEAF, row, value_hash]
        else:
            groups = {}
            for row, value_hash in items:
                groups.setdefault(blake2sum(row)[depth], []).append((row, value_hash))
            children = b"".join(bytes([byte]) + build(key + bytes([byte]), depth + 1, group)
                                for byte, group in sorted(groups.items()))
            node = [NODE_INTERMEDIATE, children]
        raw = codec.dumps(node)
        nodes[key] = raw
        return blake2sum(raw)

    partitions = {}
    for row, value_hash in live.items():
        partitions.setdefault(partition_of(row), []).append((row, value_hash))
    for partition, items in partitions.items():
        build(partition.to_bytes(2, "big"), 0, items)
    return nodes


class MerkleTrieTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(ops, st.integers(1, 20), st.randoms())
    def test_trie_depends_only_on_final_rows(self, history, batch_size, rnd):
        """Any history of inserts and deletes, in any batches, gives the trie of
        the surviving rows inserted in any order (every node, not just roots)."""
        final = list(_survivors(history).items())
        rnd.shuffle(final)
        self.assertEqual(_build(history, batch_size), _build(final, 1))
        self.assertEqual(_build(history, batch_size), _build(final, len(final) or 1))

    @settings(max_examples=150, deadline=None)
    @given(ops, st.integers(1, 20))
    def test_trie_equals_reference(self, history, batch_size):
        """Node by node, the trie equals one built from scratch over the
        surviving rows and their values (so values, not only keys, count)."""
        self.assertEqual(_build(history, batch_size), _reference(_survivors(history)))

    def test_empty_set_has_no_nodes(self):
        """Deleting every row leaves no node and an empty root hash."""
        store, trie = _trie()
        rows_ = [bytes([0]) + os.urandom(4) for _ in range(50)]
        tx = store.transaction()
        trie.update_items(tx, [(r, os.urandom(32)) for r in rows_])
        tx.commit()
        self.assertNotEqual(trie.root_hash(0), EMPTY_HASH)
        tx = store.transaction()
        trie.update_items(tx, [(r, None) for r in rows_])
        tx.commit()
        self.assertEqual(list(trie.tree.range()), [])
        self.assertEqual(trie.root_hash(0), EMPTY_HASH)


class MerkleUpdaterTests(SynchronousTestCase):
    def test_a_slow_step_stops_early(self):
        """A step stops after STEP_SECONDS of work, between two chunks (the
        reactor is not held 15-60 ms by 250 items of a big table); the
        trie ends the same, and the to-do list empty."""
        store = MemoryStore()
        data = TableData(_Schema(), store)
        for i in range(100):
            data.merkle_todo.insert(bytes([i % 3]) + b"%06d" % i, os.urandom(32))
        now = [0.0]

        def slow_timer():
            now[0] += STEP_SECONDS / 2  # each chunk "takes" half the budget
            return now[0]
        updater = MerkleUpdater(data, timer=slow_timer)
        self.assertEqual(updater.work(), WorkerState.BUSY)
        self.assertEqual(data.merkle_todo.count(), 100 - 2 * CHUNK)
        while updater.work() == WorkerState.BUSY:
            pass
        self.assertEqual(data.merkle_todo.count(), 0)

    def test_drains_todo(self):
        """The updater empties the to-do list and then reports idle."""
        store = MemoryStore()
        data = TableData(_Schema(), store)
        for i in range(ITEMS_PER_STEP * 5 // 2):
            data.merkle_todo.insert(bytes([i % 3]) + b"%06d" % i, os.urandom(32))
        updater = MerkleUpdater(data, timer=lambda: 0.0)  # never out of time
        states = []
        while not states or states[-1] == WorkerState.BUSY:
            states.append(updater.work())
        # Three steps apply the items; the last one began mid-list, so one
        # more reads the list from its start before reporting idle.
        self.assertEqual(states, [WorkerState.BUSY] * 3 + [WorkerState.IDLE])
        self.assertEqual(data.merkle_todo.count(), 0)
        self.assertEqual(updater.status(), {"todo_length": 0})
        self.assertNotEqual(updater.trie.root_hash(0), EMPTY_HASH)

    def test_rows_written_behind_the_cursor_are_applied(self):
        """A step resumes where the last one stopped; what was written
        meanwhile below that point is found once the end is reached, and
        the trie ends as if every row had been applied in one go."""
        store = MemoryStore()
        data = TableData(_Schema(), store)
        rows = {b"\x01%06d" % i: os.urandom(32) for i in range(ITEMS_PER_STEP * 2)}
        for row, value in rows.items():
            data.merkle_todo.insert(row, value)
        updater = MerkleUpdater(data, timer=lambda: 0.0)
        self.assertEqual(updater.work(), WorkerState.BUSY)
        late = {b"\x00late%d" % i: os.urandom(32) for i in range(3)}
        for row, value in late.items():
            data.merkle_todo.insert(row, value)
        while updater.work() == WorkerState.BUSY:
            pass
        self.assertEqual(data.merkle_todo.count(), 0)
        reference = TableData(_Schema(), MemoryStore())
        for row, value in {**rows, **late}.items():
            reference.merkle_todo.insert(row, value)
        fresh = MerkleUpdater(reference, timer=lambda: 0.0)
        while fresh.work() == WorkerState.BUSY:
            pass
        roots = [updater.trie.root_hash(p) for p in range(256)]
        self.assertEqual(roots, [fresh.trie.root_hash(p) for p in range(256)])
        self.assertGreaterEqual(sum(1 for r in roots if r != EMPTY_HASH), 2)
