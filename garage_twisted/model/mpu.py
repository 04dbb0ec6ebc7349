"""The ``mpu`` table: multipart uploads in progress, and their parts.

Partition hash = upload id (which is also the uuid of the upload's
*uploading* object version; completion writes a new version, see
``model/object.py``). Every UploadPart writes its blocks into a version of
its own and records it here: announced (no ETag) under ``(part_number,
start time)`` before its blocks are written, then finished under
``(part_number, finish time)``, above every attempt of that part that
finished before (``api/s3/multipart.py``). Attempts coexist and the newest
finished one is the part: the attempt that finished last. Once the upload is
completed or aborted it is marked ``deleted`` (a :class:`Bool`), which
deletes every part's version (and so releases the parts' block references)
through the version table's insert queue; a completed one also records the
object version it completed into (``completed_as``).
"""

from dataclasses import dataclass, replace

from garage_twisted.model.version import Version
from garage_twisted.table.schema import Entry, TableSchema
from garage_twisted.util.crdt import Bool, CrdtMap, merge_values


@dataclass(frozen=True)
class MpuPart:
    version: bytes  # uuid of the part's version
    etag: str | None = None  # set once the part is fully written
    size: int | None = None
    # base64 checksum of the upload's x-amz-checksum-algorithm, if it has one
    checksum: str | None = None

    def _fields(self) -> tuple:
        return (self.version, self.etag, self.size, self.checksum or "")

    def merge(self, other: "MpuPart") -> "MpuPart":
        # A part only ever goes from unfinished to finished.
        if self.etag is None and other.etag is not None:
            return other
        if other.etag is None:
            return self
        return self if merge_values(self._fields(), other._fields()) == self._fields() \
            else other

    def to_cbor(self):
        raw = [self.version, self.etag, self.size]
        # Parts without a checksum encode as before.
        return raw if self.checksum is None else raw + [self.checksum]

    @classmethod
    def from_cbor(cls, raw) -> "MpuPart":
        return cls(bytes(raw[0]), raw[1], raw[2], raw[3] if len(raw) > 3 else None)


@dataclass(frozen=True)
class MultipartUpload(Entry):
    MARKER = b"GT.mpu.v1"

    upload_id: bytes
    timestamp: int
    deleted: Bool
    parts: CrdtMap  # (part_number, timestamp) -> MpuPart
    bucket_id: bytes
    key: str
    # Set with ``deleted`` by CompleteMultipartUpload: the uuid of the object
    # version it completed into (a retried completion answers from it).
    completed_as: bytes | None = None

    @classmethod
    def new(cls, upload_id: bytes, timestamp: int, bucket_id: bytes, key: str,
            deleted: bool = False, completed_as: bytes | None = None) -> "MultipartUpload":
        return cls(upload_id, timestamp, Bool(deleted), CrdtMap(), bucket_id, key,
                   completed_as)

    def with_part(self, part_number: int, timestamp: int, part: MpuPart) -> "MultipartUpload":
        return replace(self, parts=self.parts.put((part_number, timestamp), part))

    def latest_parts(self) -> dict:
        """part number -> (timestamp, MpuPart) of the newest finished attempt."""
        latest = {}
        for (number, timestamp), part in self.parts.items():
            if part.etag is None:
                continue
            if number not in latest or timestamp > latest[number][0]:
                latest[number] = (timestamp, part)
        return latest

    def partition_hash(self) -> bytes:
        return self.upload_id

    def sort_key(self) -> bytes:
        return b""

    def merge(self, other: "MultipartUpload") -> "MultipartUpload":
        deleted = self.deleted.merge(other.deleted)
        if deleted.value:
            # Two completions of one upload (a client retrying before the
            # first answered) keep a deterministic one.
            completed_as = max((c for c in (self.completed_as, other.completed_as)
                                if c is not None), default=None)
            if self.deleted.value and not self.parts.entries \
                    and completed_as == self.completed_as:
                return self
            return replace(self, deleted=deleted, parts=CrdtMap(), completed_as=completed_as)
        parts = self.parts.merge(other.parts)
        return self if parts == self.parts else replace(self, parts=parts)

    def is_tombstone(self) -> bool:
        return self.deleted.value

    def to_cbor(self):
        raw = [self.upload_id, self.timestamp, self.deleted.to_cbor(), self.parts.to_cbor(),
               self.bucket_id, self.key]
        # Rows of uploads not completed encode as before.
        return raw if self.completed_as is None else raw + [self.completed_as]

    @classmethod
    def from_cbor(cls, raw) -> "MultipartUpload":
        return cls(bytes(raw[0]), int(raw[1]), Bool.from_cbor(raw[2]),
                   CrdtMap.from_cbor(raw[3], value_from=MpuPart.from_cbor,
                                     key_from=lambda k: (int(k[0]), int(k[1]))),
                   bytes(raw[4]), raw[5], bytes(raw[6]) if len(raw) > 6 else None)


class MpuTableSchema(TableSchema):
    """Multipart uploads; deleting one deletes its parts' versions.

    :param version_table: the version :class:`~garage_twisted.table.table.Table`.
    """

    table_name = "mpu"
    entry_class = MultipartUpload

    def __init__(self, version_table=None):
        self.version_table = version_table

    def updated(self, tx, old, new) -> None:
        if old is None or new is None or self.version_table is None:
            return
        if new.deleted.value and not old.deleted.value:
            for _, part in old.parts.items():
                self.version_table.queue_insert(
                    tx, Version.new(part.version, old.bucket_id, old.key, deleted=True))
