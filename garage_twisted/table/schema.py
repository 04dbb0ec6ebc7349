"""Base classes that spare each table from restating the engine's plumbing.

An entry class derives from :class:`Entry` and gives its ``MARKER`` (the
versioned encoding marker), ``to_cbor()`` / ``from_cbor()``, keys and merge.
A table's schema derives from :class:`TableSchema`, naming the table and the
entry class, and overrides ``updated()`` / ``matches_filter()`` if needed.
"""

import hashlib

from zope.interface import implementer

from garage_twisted.table.interfaces import ITableEntry, ITableSchema
from garage_twisted.util import codec

_ENCODED = "_encoded"

EMPTY_PARTITION = bytes(32)
"""Partition hash of tables with no partition key (full-copy tables)."""


def hash_partition_key(key: bytes) -> bytes:
    """Position hash of a partition key that is not already a 32-byte hash."""
    return hashlib.blake2b(key, digest_size=32).digest()


@implementer(ITableEntry)
class Entry:
    """Mixin for frozen-dataclass table entries."""

    MARKER = b""

    def encode(self) -> bytes:
        # Entries are immutable values, so their bytes are kept once known:
        # a write encodes an entry for its message and again for the store,
        # and an entry decoded from bytes is those bytes (a replica stores
        # what it received without encoding it anew). Kept in the instance's
        # __dict__, outside the dataclass fields: equality and hashing
        # ignore it, and ``dataclasses.replace`` makes an instance without.
        raw = self.__dict__.get(_ENCODED)
        if raw is None:
            raw = codec.encode_versioned(self.MARKER, self.to_cbor())
            self.__dict__[_ENCODED] = raw
        return raw

    def known_encoding(self) -> bytes | None:
        """The entry's bytes if already known (decoded from them, or
        encoded once), else ``None``: never encodes."""
        return self.__dict__.get(_ENCODED)

    @classmethod
    def decode(cls, data: bytes):
        entry = cls.from_cbor(codec.decode_versioned(cls.MARKER, data))
        entry.__dict__[_ENCODED] = bytes(data)
        return entry

    def is_tombstone(self) -> bool:
        return False


@implementer(ITableSchema)
class TableSchema:
    """A table's name and entry class, with no side effects and no filters."""

    table_name = ""
    entry_class = Entry

    def decode_entry(self, data: bytes):
        return self.entry_class.decode(data)

    def updated(self, tx, old, new) -> None:
        pass

    def matches_filter(self, entry, entry_filter) -> bool:
        return True
