"""The key-value store interface every storage implementation provides.

A store holds named *trees* (ordered maps of ``bytes`` to ``bytes``). All
metadata of a node lives in one store. Writes that must be atomic across trees
go through a :class:`ITransaction`, committed as one batch.

Invariants:

- Keys order bytewise; ``range(start, end)`` yields ``start <= key < end``.
- A transaction's ``get`` sees that transaction's own pending writes.
- Single writer: callers run on the reactor thread and do not yield between a
  transaction's reads and its ``commit()``, so a batch behaves like a
  serializable transaction.
"""

from zope.interface import Attribute, Interface


class ITree(Interface):
    """One ordered map of bytes to bytes inside a store."""

    name = Attribute("The tree's name (``str``).")
    key_count = Attribute(
        "The tree's :class:`~garage_twisted.db.counts.KeyCount` if it was opened "
        "``counted=True``, else ``None``.")

    def get(key):
        """Return the value of ``key`` (``bytes``) or ``None``."""

    def insert(key, value):
        """Write one key at once (its own atomic batch)."""

    def remove(key):
        """Delete one key at once; absent keys are ignored."""

    def range(start=None, end=None, reverse=False, limit=None):
        """Iterate ``(key, value)`` pairs with ``start <= key < end``.

        ``None`` bounds are open. ``reverse`` yields the same keys in
        descending order. ``limit`` caps the number of pairs. The iterator is
        lazy: callers over unbounded ranges take what they need and stop.
        """

    def count():
        """Number of keys in the tree (may walk the tree: in the I/O pool
        only; a counted tree's ``key_count`` answers at once)."""

    def first():
        """The smallest ``(key, value)`` pair, or ``None`` if empty."""


class ITransaction(Interface):
    """Writes to several trees, applied atomically by ``commit()``."""

    def get(tree, key):
        """Read ``key`` of ``tree``, seeing this transaction's own writes."""

    def insert(tree, key, value):
        """Stage a write of ``key`` in ``tree``."""

    def remove(tree, key):
        """Stage a deletion of ``key`` in ``tree``."""

    def commit():
        """Apply every staged write atomically; the transaction is then spent."""

    def abort():
        """Drop every staged write; the transaction is then spent."""


class IKeyValueStore(Interface):
    """A set of named trees with atomic multi-tree transactions."""

    def open_tree(name, counted=False):
        """Return the tree called ``name`` (``str``), creating it if needed.

        Opening the same name twice returns an equivalent tree. With
        ``counted``, the store keeps the tree's ``key_count`` (see
        :mod:`garage_twisted.db.counts`); once counted, always counted.
        """

    def recount(run_in_thread):
        """Count the keys of every counted tree from one snapshot, walked by
        ``run_in_thread`` (the I/O pool): Deferred fired once every
        ``key_count`` has its base."""

    def list_trees():
        """Names of the trees that hold at least one key, sorted."""

    def transaction():
        """Return a new :class:`ITransaction`."""

    def frozen_items():
        """Every ``(raw key, value)`` of every tree as they are at this call,
        in key order; later writes do not show. The iterator may be consumed
        in another thread (see :func:`~garage_twisted.db.leveldb.write_copy`)."""

    def close():
        """Release the store; no method may be called afterwards."""
