"""Merkle trie of a table's rows, per partition, kept up to date by a worker.

Anti-entropy compares these tries between replicas and walks only the
subtrees whose hashes differ. Layout (tree ``T:merkle_tree`` of the store):

- node key = partition number (2 bytes, big endian) + prefix bytes;
- a row with local key ``k`` sits at the path given by ``blake2b(k)``, so the
  trie is balanced whatever the keys look like;
- a node is absent (empty), an *intermediate* ``[0, children]`` or a *leaf*
  ``[1, k, value_hash]``; ``children`` is one byte string, the concatenation
  of 33-byte records ``byte || child hash`` sorted by byte. One string rather
  than a list of pairs because every update re-encodes each node on its
  path: slicing a string is a copy in C, while rebuilding a list of up to
  256 pairs cost a third of the reactor's time under small PUTs;
- a node's hash is blake2b-256 of its canonical CBOR; an empty node hashes to
  ``EMPTY_HASH``.

Invariant: an intermediate node has at least two children, or one child that
is itself an intermediate; a lone leaf is pulled up, so the trie of a set of
rows does not depend on the order they were inserted in (two replicas with the
same rows have the same root hash).

The trie is updated from ``T:merkle_todo`` in batches; the batch's to-do
entries are removed in the same transaction as the trie update.
"""

import time
from bisect import bisect_left
from dataclasses import dataclass

from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.rpc.ring import partition_of
from garage_twisted.table.data import HASH_SIZE, TableData, blake2sum
from garage_twisted.util import codec
from garage_twisted.util.worker import IWorker, WorkerState

EMPTY_HASH = bytes(HASH_SIZE)
NODE_INTERMEDIATE = 0
NODE_LEAF = 1
# How many to-do items one worker step handles before yielding the reactor
# (about 10 ms of work), and the pause between two steps of a backlog. The
# trie is only read by anti-entropy, so under a burst of writes it may lag:
# the pause keeps its share of the reactor near a third, and a backlog
# updates each partition's upper nodes once for many rows instead of once per
# row (to-do entries of a row written twice also merge while they wait).
ITEMS_PER_STEP = 250
BUSY_DELAY = 0.02
# ... but a step stops early once it has run this long: with a million rows
# in a table (a deep trie, LevelDB reads off the page cache) 250 items took
# 15-60 ms, and the reactor then answered nothing else meanwhile. Items go
# by CHUNK (a transaction each), and the time is checked between chunks.
STEP_SECONDS = 0.002
CHUNK = 8


@dataclass(frozen=True)
class MerkleNodeKey:
    """Where a node sits: a partition and a path of bytes from its root."""

    partition: int
    prefix: bytes

    def encode(self) -> bytes:
        return self.partition.to_bytes(2, "big") + self.prefix

    def child(self, byte: int) -> "MerkleNodeKey":
        return MerkleNodeKey(self.partition, self.prefix + bytes([byte]))


def node_hash(raw_node: bytes | None) -> bytes:
    return EMPTY_HASH if raw_node is None else blake2sum(raw_node)


class MerkleTrie:
    """Reads and updates the trie of one table inside transactions."""

    def __init__(self, data: TableData):
        self.data = data
        self.tree = data.store.open_tree(f"{data.name}:merkle_tree")

    def root_hash(self, partition: int) -> bytes:
        """Hash of a partition's root (``EMPTY_HASH`` if no rows)."""
        return node_hash(self.tree.get(MerkleNodeKey(partition, b"").encode()))

    def read_node(self, key: MerkleNodeKey):
        """The decoded node at ``key``: ``None``, or its CBOR list."""
        raw = self.tree.get(key.encode())
        return None if raw is None else codec.loads(raw)

    def update_item(self, tx, row: bytes, value_hash: bytes | None) -> None:
        """Set (or, with ``None``, remove) one row's value hash in the trie."""
        self.update_items(tx, [(row, value_hash)])

    def update_items(self, tx, items) -> None:
        """Apply ``(row, value hash or None)`` changes in one transaction.

        Two phases, so a batch re-encodes and re-hashes each touched node
        once, however many rows pass through it (the root of a partition
        would otherwise be re-encoded for every row): first walk down and
        change the structure in a node cache, marking touched nodes dirty;
        then, deepest first, recompute each dirty node's children hashes,
        pull up lone leaves, and write it.
        """
        batch = _TrieBatch(self, tx)
        for row, value_hash in items:
            batch.walk(row, value_hash)
        batch.flush()


CHILD_RECORD = 1 + HASH_SIZE


def _child_index(children: bytes, byte: int) -> tuple[int, bool]:
    """Position of ``byte``'s record in ``children``, and whether it is there."""
    firsts = children[0::CHILD_RECORD]
    index = bisect_left(firsts, byte)
    return index, index < len(firsts) and firsts[index] == byte


class _TrieBatch:
    def __init__(self, trie: MerkleTrie, tx):
        self.trie = trie
        self.tx = tx
        self.nodes: dict[bytes, list | None] = {}
        self.dirty: set[bytes] = set()
        # Per dirty intermediate node, the children bytes whose hash changes.
        self.dirty_children: dict[bytes, set[int]] = {}

    def get(self, key: bytes):
        if key in self.nodes:
            return self.nodes[key]
        raw = self.tx.get(self.trie.tree, key)
        node = None if raw is None else codec.loads(raw)
        self.nodes[key] = node
        return node

    def set(self, key: bytes, node) -> None:
        self.nodes[key] = node
        self.dirty.add(key)

    def _mark_child(self, key: bytes, byte: int) -> None:
        self.dirty.add(key)
        marked = self.dirty_children.get(key)
        if marked is None:
            self.dirty_children[key] = {byte}
        else:
            marked.add(byte)

    def walk(self, row: bytes, value_hash: bytes | None) -> None:
        row_hash = blake2sum(row)
        key = MerkleNodeKey(partition_of(row), b"").encode()
        depth = 0
        path = []
        while True:
            node = self.get(key)
            if node is None:
                if value_hash is None:
                    return
                self.set(key, [NODE_LEAF, row, value_hash])
                break
            if node[0] == NODE_LEAF:
                leaf_row = node[1]
                if leaf_row == row:
                    if node[2] == value_hash:
                        return
                    self.set(key, None if value_hash is None else [NODE_LEAF, row, value_hash])
                    break
                if value_hash is None:
                    return
                # Two rows share this prefix: push the old leaf one level
                # down; the loop then goes on through the new intermediate.
                old_byte = blake2sum(leaf_row)[depth]
                self.set(key + bytes([old_byte]), node)
                self.set(key, [NODE_INTERMEDIATE, bytes([old_byte]) + EMPTY_HASH])
                self._mark_child(key, old_byte)
                continue
            children = node[1]
            byte = row_hash[depth]
            index, found = _child_index(children, byte)
            if not found:
                if value_hash is None:
                    return
                # A placeholder record, given its hash by flush().
                at = index * CHILD_RECORD
                children = children[:at] + bytes([byte]) + EMPTY_HASH + children[at:]
                self.nodes[key] = [NODE_INTERMEDIATE, children]
            path.append((key, byte))
            key = key + bytes([byte])
            depth += 1
        for parent, byte in path:
            self._mark_child(parent, byte)

    def flush(self) -> None:
        hashes: dict[bytes, bytes] = {}
        tree = self.trie.tree
        # Deepest first: a node's dirty children have their hashes already.
        for key in sorted(self.dirty, key=len, reverse=True):
            node = self.nodes[key]
            if node is not None and node[0] == NODE_INTERMEDIATE:
                children = node[1]
                for byte in self.dirty_children.get(key, ()):
                    index, found = _child_index(children, byte)
                    if not found:
                        continue
                    at = index * CHILD_RECORD
                    child_hash = hashes[key + bytes([byte])]
                    if child_hash == EMPTY_HASH:
                        children = children[:at] + children[at + CHILD_RECORD:]
                    else:
                        children = children[:at + 1] + child_hash + children[at + CHILD_RECORD:]
                node = None if not children else [NODE_INTERMEDIATE, children]
                if len(children) == CHILD_RECORD:
                    child = key + children[0:1]
                    child_node = self.get(child)
                    if child_node is not None and child_node[0] == NODE_LEAF:
                        # A lone leaf moves up, so the trie of a set of rows
                        # does not depend on the order of their updates.
                        self.tx.remove(tree, child)
                        self.nodes[child] = None
                        node = child_node
            if node is None:
                self.tx.remove(tree, key)
                hashes[key] = EMPTY_HASH
            else:
                raw = codec.dumps(node)
                self.tx.insert(tree, key, raw)
                hashes[key] = blake2sum(raw)
            self.nodes[key] = node


@implementer(IWorker)
class MerkleUpdater:
    """Worker that applies a table's Merkle to-do list to its trie.

    :param paused: optional ``() -> bool``: while it answers True (no other
        node has a role: a cluster of one node), steps do nothing. Nobody
        reads the trie then, and a single node is spared a trie update per
        row written. The to-do list keeps one entry per row written
        meanwhile, and the first anti-entropy pass after a layout change
        drains it before it compares tries (``TableSyncer``).
    """

    log = Logger()

    def __init__(self, data: TableData, paused=None, timer=time.perf_counter):
        self.data = data
        self.trie = MerkleTrie(data)
        self.name = f"{data.name} Merkle"
        self.busy_delay = BUSY_DELAY
        self.paused = paused
        # Measures the step's own work (not the reactor's clock, which a
        # step does not advance).
        self.timer = timer
        # To-do items the last step applied.
        self.last_step_items = 0
        # Where the next step reads the to-do list from: just past what the
        # last chunk applied (None: the start). A step that sought the start
        # every chunk would walk over the deletions of every chunk before
        # it, in LevelDB tombstones, until a compaction removed them: under
        # a stream of writes, a quarter of a replica's reactor time.
        self._resume = None

    def work(self):
        """Apply up to ``ITEMS_PER_STEP`` to-do items, stopping early after
        ``STEP_SECONDS``.

        :returns: ``WorkerState.BUSY`` if more remain, else ``IDLE``.
        """
        if self.paused is not None and self.paused():
            return WorkerState.IDLE
        todo = self.data.merkle_todo
        deadline = self.timer() + STEP_SECONDS
        done = self.last_step_items = 0
        # Whether this step has read the list from its start: with no
        # yield in a step, reaching the end then means it is empty.
        from_start = self._resume is None
        while done < ITEMS_PER_STEP:
            size = min(CHUNK, ITEMS_PER_STEP - done)
            items = list(todo.range(start=self._resume, limit=size + 1))
            if not items and not from_start:
                # The end of the list: what was written meanwhile below
                # the cursor is found from the start.
                self._resume, from_start = None, True
                items = list(todo.range(limit=size + 1))
            batch = items[:size]
            if not batch:
                return WorkerState.IDLE
            tx = self.data.store.transaction()
            self.trie.update_items(tx, [(row, value_hash or None) for row, value_hash in batch])
            # This step runs on the reactor thread without yielding, so no
            # write can have replaced a to-do entry since it was read.
            for row, _ in batch:
                tx.remove(todo, row)
            tx.commit()
            done += len(batch)
            self.last_step_items = done
            if len(items) <= size:
                # Nothing past this chunk. Read from the start, the list is
                # empty now; else rows written meanwhile may wait below the
                # cursor: the next step reads from the start.
                self._resume = None
                return WorkerState.IDLE if from_start else WorkerState.BUSY
            self._resume = items[size][0]
            if self.timer() >= deadline:
                break
        return WorkerState.BUSY

    def status(self) -> dict:
        status = {"todo_length": self.data.merkle_todo.key_count.value}
        if self.paused is not None and self.paused():
            status["paused"] = "single node: no replica reads the trie"
        return status
