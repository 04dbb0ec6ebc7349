"""The ``key`` table: S3 access keys (full copy on every node).

A key is ``GK`` + 24 hex characters with a 64-hex-character secret. Its state
is :class:`~garage_twisted.util.crdt.Deletable`: once deleted, a key id is
never valid again, whatever a lagging replica says.
"""

import secrets
from dataclasses import dataclass, replace

from garage_twisted.model.permission import BucketKeyPerm
from garage_twisted.table.schema import EMPTY_PARTITION, Entry, TableSchema
from garage_twisted.util.crdt import CrdtMap, Deletable, Lww, LwwMap

KEY_ID_PREFIX = "GK"


def generate_key_id() -> str:
    return KEY_ID_PREFIX + secrets.token_hex(12)


def generate_secret_key() -> str:
    return secrets.token_hex(32)


@dataclass(frozen=True)
class KeyParams:
    secret_key: str
    name: Lww
    allow_create_bucket: Lww
    authorized_buckets: CrdtMap  # bucket id -> BucketKeyPerm
    local_aliases: LwwMap  # alias name -> bucket id or None

    def merge(self, other: "KeyParams") -> "KeyParams":
        return KeyParams(
            # The secret never changes after creation; keep a stable choice.
            max(self.secret_key, other.secret_key),
            self.name.merge(other.name),
            self.allow_create_bucket.merge(other.allow_create_bucket),
            self.authorized_buckets.merge(other.authorized_buckets),
            self.local_aliases.merge(other.local_aliases),
        )

    def to_cbor(self):
        return [
            self.secret_key,
            self.name.to_cbor(),
            self.allow_create_bucket.to_cbor(),
            self.authorized_buckets.to_cbor(),
            self.local_aliases.to_cbor(),
        ]

    @classmethod
    def from_cbor(cls, raw) -> "KeyParams":
        return cls(
            raw[0],
            Lww.from_cbor(raw[1]),
            Lww.from_cbor(raw[2]),
            CrdtMap.from_cbor(raw[3], value_from=BucketKeyPerm.from_cbor),
            LwwMap.from_cbor(raw[4]),
        )


@dataclass(frozen=True)
class Key(Entry):
    """An access key: its id and its (deletable) parameters."""

    MARKER = b"GT.key.v1"

    key_id: str
    state: Deletable

    @classmethod
    def new(cls, now_ms: int, name: str, key_id: str | None = None,
            secret_key: str | None = None) -> "Key":
        params = KeyParams(
            secret_key or generate_secret_key(),
            Lww(now_ms, name),
            Lww(now_ms, False),
            CrdtMap(),
            LwwMap(),
        )
        return cls(key_id or generate_key_id(), Deletable(params))

    @property
    def params(self) -> KeyParams | None:
        return self.state.value

    def with_params(self, params: KeyParams) -> "Key":
        return replace(self, state=Deletable(params))

    def deleted(self) -> "Key":
        return replace(self, state=Deletable(None))

    def bucket_permissions(self, bucket_id: bytes) -> BucketKeyPerm:
        if self.params is None:
            return BucketKeyPerm.NONE
        return self.params.authorized_buckets.get(bucket_id, BucketKeyPerm.NONE)

    def partition_hash(self) -> bytes:
        return EMPTY_PARTITION

    def sort_key(self) -> bytes:
        return self.key_id.encode()

    def merge(self, other: "Key") -> "Key":
        merged = self.state.merge(other.state)
        return self if merged is self.state else replace(self, state=merged)

    def is_tombstone(self) -> bool:
        return self.state.is_deleted

    def to_cbor(self):
        return [self.key_id, self.state.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "Key":
        return cls(raw[0], Deletable.from_cbor(raw[1], KeyParams.from_cbor))


class KeyTableSchema(TableSchema):
    table_name = "key"
    entry_class = Key

    def matches_filter(self, entry: Key, entry_filter) -> bool:
        """Filters: ``None`` (all), ``"live"`` (not deleted)."""
        if entry_filter == "live":
            return not entry.state.is_deleted
        return True
