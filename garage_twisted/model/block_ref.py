"""The ``block_ref`` table: which versions use which block.

Partition hash = block hash (so a block's references live on the nodes that
store the block), sort key = version uuid. A reference going from live to
deleted (or appearing live) changes the block's local reference count in the
same transaction; the block manager deletes blocks whose count stays at zero.
"""

from dataclasses import dataclass, replace

from garage_twisted.table.schema import Entry, TableSchema
from garage_twisted.util.crdt import Bool


@dataclass(frozen=True)
class BlockRef(Entry):
    MARKER = b"GT.block_ref.v1"

    block: bytes
    version: bytes
    deleted: Bool

    def partition_hash(self) -> bytes:
        return self.block

    def sort_key(self) -> bytes:
        return self.version

    def merge(self, other: "BlockRef") -> "BlockRef":
        deleted = self.deleted.merge(other.deleted)
        return self if deleted is self.deleted else replace(self, deleted=deleted)

    def is_tombstone(self) -> bool:
        return self.deleted.value

    def to_cbor(self):
        return [self.block, self.version, self.deleted.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "BlockRef":
        return cls(bytes(raw[0]), bytes(raw[1]), Bool.from_cbor(raw[2]))


class BlockRefTableSchema(TableSchema):
    """Keeps the block manager's reference counts in step with this table.

    :param block_manager: provides ``incref(tx, hash)`` / ``decref(tx, hash)``.
    """

    table_name = "block_ref"
    entry_class = BlockRef

    def __init__(self, block_manager):
        self.block_manager = block_manager

    def updated(self, tx, old: BlockRef | None, new: BlockRef | None) -> None:
        block = (old or new).block
        was_live = old is not None and not old.deleted.value
        is_live = new is not None and not new.deleted.value
        if is_live and not was_live:
            self.block_manager.incref(tx, block)
        elif was_live and not is_live:
            self.block_manager.decref(tx, block)
