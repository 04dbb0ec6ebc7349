"""The ``version`` table: the block list of each object version.

Partition hash = version uuid, no sort key. ``blocks`` maps
``(part_number, offset)`` to the block's hash and size, so a multipart upload
adds its parts' blocks independently. ``part_checksums`` maps a part number
to its base64 checksum, for a completed multipart upload with
``x-amz-checksum-algorithm`` (GetObject ``partNumber`` and
GetObjectAttributes give them). Once ``deleted`` (a :class:`Bool`, so
deletion wins every merge) the block list is dropped and every block
reference is marked deleted through the ``block_ref`` insert queue.
"""

from dataclasses import dataclass, replace

from garage_twisted.model.block_ref import BlockRef
from garage_twisted.table.schema import Entry, TableSchema
from garage_twisted.util.crdt import Bool, CrdtMap


@dataclass(frozen=True)
class VersionBlock:
    hash: bytes
    size: int

    def merge(self, other: "VersionBlock") -> "VersionBlock":
        # Same (part, offset) always holds the same block through the API;
        # keep a deterministic choice otherwise.
        return self if (self.hash, self.size) >= (other.hash, other.size) else other

    def to_cbor(self):
        return [self.hash, self.size]

    @classmethod
    def from_cbor(cls, raw) -> "VersionBlock":
        return cls(bytes(raw[0]), int(raw[1]))


@dataclass(frozen=True)
class Version(Entry):
    MARKER = b"GT.version.v1"

    uuid: bytes
    deleted: Bool
    blocks: CrdtMap  # (part_number, offset) -> VersionBlock
    bucket_id: bytes  # backlink to the object
    key: str
    part_checksums: CrdtMap = CrdtMap()  # part_number -> base64 checksum

    @classmethod
    def new(cls, uuid: bytes, bucket_id: bytes, key: str, deleted: bool = False) -> "Version":
        return cls(uuid, Bool(deleted), CrdtMap(), bucket_id, key)

    def with_block(self, part_number: int, offset: int, block: VersionBlock) -> "Version":
        return replace(self, blocks=self.blocks.put((part_number, offset), block))

    def with_part_checksum(self, part_number: int, value: str) -> "Version":
        return replace(self, part_checksums=self.part_checksums.put(part_number, value))

    def sorted_blocks(self):
        """``[((part_number, offset), VersionBlock)]`` in read order."""
        return sorted(self.blocks.entries.items())

    def part_sizes(self) -> dict:
        """part number -> its bytes, in part order."""
        sizes = {}
        for (part, _), block in self.sorted_blocks():
            sizes[part] = sizes.get(part, 0) + block.size
        return sizes

    def partition_hash(self) -> bytes:
        return self.uuid

    def sort_key(self) -> bytes:
        return b""

    def merge(self, other: "Version") -> "Version":
        deleted = self.deleted.merge(other.deleted)
        if deleted.value:
            if self.deleted.value and not self.blocks.entries and \
                    not self.part_checksums.entries:
                return self
            return replace(self, deleted=deleted, blocks=CrdtMap(), part_checksums=CrdtMap())
        blocks = self.blocks.merge(other.blocks)
        checksums = self.part_checksums.merge(other.part_checksums)
        if blocks == self.blocks and checksums == self.part_checksums:
            return self
        return replace(self, blocks=blocks, part_checksums=checksums)

    def is_tombstone(self) -> bool:
        return self.deleted.value

    def to_cbor(self):
        raw = [self.uuid, self.deleted.to_cbor(), self.blocks.to_cbor(),
               self.bucket_id, self.key]
        # Versions without part checksums encode as before.
        return raw + [self.part_checksums.to_cbor()] if self.part_checksums.entries else raw

    @classmethod
    def from_cbor(cls, raw) -> "Version":
        return cls(
            bytes(raw[0]),
            Bool.from_cbor(raw[1]),
            CrdtMap.from_cbor(raw[2], value_from=VersionBlock.from_cbor,
                              key_from=lambda k: (int(k[0]), int(k[1]))),
            bytes(raw[3]),
            raw[4],
            CrdtMap.from_cbor(raw[5], value_from=str, key_from=int) if len(raw) > 5
            else CrdtMap(),
        )


class VersionTableSchema(TableSchema):
    """Version table; deleting a version cascades to its block references.

    :param block_ref_table: the ``block_ref``
        :class:`~garage_twisted.table.table.Table`.
    """

    table_name = "version"
    entry_class = Version

    def __init__(self, block_ref_table=None):
        self.block_ref_table = block_ref_table

    def updated(self, tx, old: Version | None, new: Version | None) -> None:
        if old is None or new is None or self.block_ref_table is None:
            return
        if new.deleted.value and not old.deleted.value:
            for _, block in old.sorted_blocks():
                self.block_ref_table.queue_insert(
                    tx, BlockRef(block.hash, old.uuid, Bool(True))
                )
