"""Merkle trie of a table's rows, per partition, kept up to date by a worker.

Anti-entropy compares these tries between replicas and walks only the
subtrees whose hashes differ. Layout (tree ``T:merkle_tree`` of the store):

- node key = partition number (2 bytes, big endian) + prefix bytes;
- a row with local key ``k`` sits at the path given by ``blake2b(k)``, so the
  trie is balanced whatever the keys look like;
- a node is absent (empty), an *intermediate* ``[0, [[byte, hash], ...]]``
  (children sorted by byte) or a *leaf* ``[1, k, value_hash]``;
- a node's hash is blake2b-256 of its canonical CBOR; an empty node hashes to
  ``EMPTY_HASH``.

Invariant: an intermediate node has at least two children, or one child that
is itself an intermediate; a lone leaf is pulled up, so the trie of a set of
rows does not depend on the order they were inserted in (two replicas with the
same rows have the same root hash).

The trie is updated from ``T:merkle_todo``; a to-do entry is removed in the
same transaction as the trie update, and only if it was not overwritten in the
meantime.
"""

from dataclasses import dataclass

from twisted.logger import Logger

from garage_twisted.rpc.ring import partition_of
from garage_twisted.table.data import HASH_SIZE, TableData, blake2sum
from garage_twisted.util import codec
from garage_twisted.util.worker import WorkerState

EMPTY_HASH = bytes(HASH_SIZE)
NODE_INTERMEDIATE = 0
NODE_LEAF = 1
# How many to-do items one worker step handles before yielding the reactor.
ITEMS_PER_STEP = 100


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
        root = MerkleNodeKey(partition_of(row), b"")
        self._update(tx, row, blake2sum(row), root, value_hash)

    def _read(self, tx, key: MerkleNodeKey):
        raw = tx.get(self.tree, key.encode())
        return None if raw is None else codec.loads(raw)

    def _write(self, tx, key: MerkleNodeKey, node) -> bytes:
        if node is None:
            tx.remove(self.tree, key.encode())
            return EMPTY_HASH
        raw = codec.dumps(node)
        tx.insert(self.tree, key.encode(), raw)
        return blake2sum(raw)

    def _update(self, tx, row, row_hash, key, value_hash):
        """Update the subtree at ``key``; returns its new hash, or ``None``
        if nothing changed."""
        depth = len(key.prefix)
        node = self._read(tx, key)
        if node is None:
            if value_hash is None:
                return None
            return self._write(tx, key, [NODE_LEAF, row, value_hash])
        if node[0] == NODE_LEAF:
            _, leaf_row, leaf_hash = node
            if leaf_row == row:
                if value_hash == leaf_hash:
                    return None
                if value_hash is None:
                    return self._write(tx, key, None)
                return self._write(tx, key, [NODE_LEAF, row, value_hash])
            if value_hash is None:
                return None
            # Two rows share this prefix: push the old leaf one level down
            # and insert the new row beside it.
            old_child = key.child(blake2sum(leaf_row)[depth])
            old_child_hash = self._write(tx, old_child, node)
            self._write(
                tx, key, [NODE_INTERMEDIATE, [[old_child.prefix[-1], old_child_hash]]]
            )
            return self._update(tx, row, row_hash, key, value_hash)
        children = {byte: h for byte, h in node[1]}
        byte = row_hash[depth]
        sub = self._update(tx, row, row_hash, key.child(byte), value_hash)
        if sub is None:
            return None
        if sub == EMPTY_HASH:
            children.pop(byte, None)
        else:
            children[byte] = sub
        if not children:
            return self._write(tx, key, None)
        if len(children) == 1:
            (only_byte,) = children
            child_key = key.child(only_byte)
            child = self._read(tx, child_key)
            if child is not None and child[0] == NODE_LEAF:
                tx.remove(self.tree, child_key.encode())
                return self._write(tx, key, child)
        return self._write(
            tx, key, [NODE_INTERMEDIATE, [[b, children[b]] for b in sorted(children)]]
        )


class MerkleUpdater:
    """Worker that applies a table's Merkle to-do list to its trie."""

    log = Logger()

    def __init__(self, data: TableData):
        self.data = data
        self.trie = MerkleTrie(data)
        self.name = f"{data.name} Merkle"

    def work(self):
        """Apply up to ``ITEMS_PER_STEP`` to-do items.

        :returns: ``WorkerState.BUSY`` if more remain, else ``IDLE``.
        """
        todo = self.data.merkle_todo
        items = list(todo.range(limit=ITEMS_PER_STEP + 1))
        for row, value_hash in items[:ITEMS_PER_STEP]:
            tx = self.data.store.transaction()
            self.trie.update_item(tx, row, value_hash or None)
            # Remove the to-do entry only if no newer write replaced it.
            if tx.get(todo, row) == value_hash:
                tx.remove(todo, row)
            tx.commit()
        return WorkerState.BUSY if len(items) > ITEMS_PER_STEP else WorkerState.IDLE

    def status(self) -> dict:
        return {"todo_length": self.data.merkle_todo.count()}
