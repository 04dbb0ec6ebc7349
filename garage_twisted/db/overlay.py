"""Pending writes of a transaction, readable before they are committed.

Both stores stage a transaction's writes here so that ``tx.get`` sees the
transaction's own inserts and removals (``None`` marks a removal);
:class:`StagedTransaction` is the part of a transaction they share, each
store adding only how it applies the writes (``commit``).
"""


class PendingWrites:
    def __init__(self):
        self._writes: dict[tuple[str, bytes], bytes | None] = {}

    def lookup(self, tree_name: str, key: bytes):
        """``(True, value_or_None)`` if staged, else ``(False, None)``."""
        item = self._writes.get((tree_name, bytes(key)), _ABSENT)
        if item is _ABSENT:
            return False, None
        return True, item

    def put(self, tree_name: str, key: bytes, value: bytes):
        self._writes[(tree_name, bytes(key))] = bytes(value)

    def delete(self, tree_name: str, key: bytes):
        self._writes[(tree_name, bytes(key))] = None

    def drain(self):
        """All staged writes as ``(tree_name, key, value_or_None)``; clears."""
        writes, self._writes = self._writes, {}
        return [(tree, key, value) for (tree, key), value in writes.items()]


_ABSENT = object()


class StagedTransaction:
    """Reads through staged writes; subclasses apply them in ``commit``."""

    def __init__(self, store):
        self._store = store
        self._pending = PendingWrites()

    def get(self, tree, key):
        found, value = self._pending.lookup(tree.name, key)
        return value if found else tree.get(key)

    def insert(self, tree, key, value):
        self._pending.put(tree.name, key, value)

    def remove(self, tree, key):
        self._pending.delete(tree.name, key)

    def abort(self):
        self._pending.drain()
