"""Interfaces of the generic table engine.

A table stores *entries*: immutable CRDT values addressed by a partition hash
(32 bytes, which places the entry on the ring) and a sort key (bytes, which
orders entries inside a partition). The engine knows nothing of what an entry
means; a schema and the entry class say it.
"""

from zope.interface import Attribute, Interface


class ITableEntry(Interface):
    """One row of a table: an immutable CRDT value."""

    def partition_hash():
        """The 32-byte hash that places this entry on the ring."""

    def sort_key():
        """``bytes`` ordering this entry within its partition."""

    def merge(other):
        """Return the CRDT merge of this entry and ``other`` (same keys)."""

    def is_tombstone():
        """True if this entry only records a deletion (a GC candidate)."""

    def encode():
        """Versioned canonical CBOR bytes of this entry."""


class ITableSchema(Interface):
    """What a table is: its name, its entries, and its side effects."""

    table_name = Attribute("Short lowercase name, used in tree names and RPC.")

    def decode_entry(data):
        """Decode bytes made by an entry's ``encode()``."""

    def updated(tx, old, new):
        """Side effects of a local change, in the same write transaction.

        :param tx: the :class:`garage_twisted.db.interfaces.ITransaction`
            that also writes the entry; effects on other tables go through
            their insert queue in this same ``tx``.
        :param old: the entry before, or ``None``.
        :param new: the entry after, or ``None`` if deleted.
        """

    def matches_filter(entry, entry_filter):
        """True if ``entry`` passes ``entry_filter`` (schema-defined, or None)."""


class ITableReplication(Interface):
    """Which nodes hold a partition, and how many must answer."""

    def read_nodes(position_hash):
        """Node ids to read ``position_hash`` from, most preferred first."""

    def write_sets(position_hash):
        """List of node-id lists; a write needs a quorum in every set."""

    def all_nodes(position_hash):
        """Every node that should hold ``position_hash`` (all write sets)."""

    def read_quorum():
        """How many of ``read_nodes`` must answer a read."""

    def write_quorum():
        """How many nodes of each write set must acknowledge a write."""
