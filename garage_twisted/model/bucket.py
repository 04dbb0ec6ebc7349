"""The ``bucket`` table: buckets by 32-byte id (full copy on every node).

Names are not stored here: a global name points to a bucket through the
``bucket_alias`` table, and the bucket keeps the reverse list in ``aliases``
(both are updated together by the bucket helper). Per-key local aliases live
in the key and are mirrored in ``local_aliases``.
"""

import secrets
from dataclasses import dataclass, replace

from garage_twisted.model.permission import BucketKeyPerm
from garage_twisted.table.schema import EMPTY_PARTITION, Entry, TableSchema
from garage_twisted.util.crdt import Bool, CrdtMap, Deletable, Lww, LwwMap


def generate_bucket_id() -> bytes:
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class BucketQuotas:
    max_size: int | None = None
    max_objects: int | None = None

    def to_cbor(self):
        return [self.max_size, self.max_objects]

    @classmethod
    def from_cbor(cls, raw) -> "BucketQuotas":
        return cls(raw[0], raw[1])


def _key_from(k):
    return tuple(k) if isinstance(k, list) else k


@dataclass(frozen=True)
class BucketParams:
    creation_date: int
    authorized_keys: CrdtMap  # key id -> BucketKeyPerm
    aliases: LwwMap  # global alias name -> bool (active)
    local_aliases: LwwMap  # (key id, alias name) -> bool
    website_config: Lww  # None or plain dict
    cors_config: Lww  # None or list of rules
    lifecycle_config: Lww  # None or list of rules
    quotas: Lww  # BucketQuotas
    # None or a tag set ((key, value), ... sorted by key). Rows written
    # before it existed decode with Lww(0, None).
    tags_config: Lww = Lww(0, None)
    # None (never set), "Enabled" or "Suspended".
    versioning: Lww = Lww(0, None)
    # Object Lock: once enabled, for good (it keeps versioning Enabled).
    object_lock_enabled: Bool = Bool(False)
    # None, or the default retention of new versions: [mode, days, years]
    # (one of days and years None).
    object_lock_config: Lww = Lww(0, None)
    # Access (issue 26): None or the bucket policy's JSON text; None or a
    # canned ACL name; None or the four PublicAccessBlock flags
    # [BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
    # RestrictPublicBuckets].
    policy: Lww = Lww(0, None)
    acl: Lww = Lww(0, None)
    public_access_block: Lww = Lww(0, None)
    # None, or the default server-side encryption of new objects (plain
    # data: the SSE-S3 module defines it).
    encryption_config: Lww = Lww(0, None)

    @classmethod
    def new(cls, now_ms: int) -> "BucketParams":
        return cls(
            now_ms, CrdtMap(), LwwMap(), LwwMap(),
            Lww(now_ms, None), Lww(now_ms, None), Lww(now_ms, None),
            Lww(now_ms, BucketQuotas()), Lww(now_ms, None),
            Lww(0, None), Bool(False), Lww(0, None),
            Lww(0, None), Lww(0, None), Lww(0, None), Lww(0, None),
        )

    def merge(self, other: "BucketParams") -> "BucketParams":
        return BucketParams(
            min(self.creation_date, other.creation_date),
            self.authorized_keys.merge(other.authorized_keys),
            self.aliases.merge(other.aliases),
            self.local_aliases.merge(other.local_aliases),
            self.website_config.merge(other.website_config),
            self.cors_config.merge(other.cors_config),
            self.lifecycle_config.merge(other.lifecycle_config),
            self.quotas.merge(other.quotas),
            self.tags_config.merge(other.tags_config),
            self.versioning.merge(other.versioning),
            self.object_lock_enabled.merge(other.object_lock_enabled),
            self.object_lock_config.merge(other.object_lock_config),
            self.policy.merge(other.policy),
            self.acl.merge(other.acl),
            self.public_access_block.merge(other.public_access_block),
            self.encryption_config.merge(other.encryption_config),
        )

    def to_cbor(self):
        return [
            self.creation_date,
            self.authorized_keys.to_cbor(),
            self.aliases.to_cbor(),
            self.local_aliases.to_cbor(),
            self.website_config.to_cbor(),
            self.cors_config.to_cbor(),
            self.lifecycle_config.to_cbor(),
            self.quotas.to_cbor(),
            self.tags_config.to_cbor(),
            self.versioning.to_cbor(),
            self.object_lock_enabled.to_cbor(),
            self.object_lock_config.to_cbor(),
            self.policy.to_cbor(),
            self.acl.to_cbor(),
            self.public_access_block.to_cbor(),
            self.encryption_config.to_cbor(),
        ]

    @classmethod
    def from_cbor(cls, raw) -> "BucketParams":
        return cls(
            int(raw[0]),
            CrdtMap.from_cbor(raw[1], value_from=BucketKeyPerm.from_cbor),
            LwwMap.from_cbor(raw[2]),
            LwwMap.from_cbor(raw[3], key_from=_key_from),
            Lww.from_cbor(raw[4]),
            Lww.from_cbor(raw[5]),
            Lww.from_cbor(raw[6]),
            Lww.from_cbor(raw[7], BucketQuotas.from_cbor),
            Lww.from_cbor(raw[8], _tag_set) if len(raw) > 8 else Lww(0, None),
            Lww.from_cbor(raw[9]) if len(raw) > 9 else Lww(0, None),
            Bool.from_cbor(raw[10]) if len(raw) > 10 else Bool(False),
            Lww.from_cbor(raw[11], _lock_config) if len(raw) > 11 else Lww(0, None),
            Lww.from_cbor(raw[12]) if len(raw) > 12 else Lww(0, None),
            Lww.from_cbor(raw[13]) if len(raw) > 13 else Lww(0, None),
            Lww.from_cbor(raw[14], _flags) if len(raw) > 14 else Lww(0, None),
            Lww.from_cbor(raw[15]) if len(raw) > 15 else Lww(0, None),
        )

    @property
    def versioning_state(self) -> str | None:
        """None (never set), "Enabled" or "Suspended"; a bucket with Object
        Lock is Enabled whatever its register says."""
        return "Enabled" if self.object_lock_enabled.value else self.versioning.value

    @property
    def versioned_writes(self) -> bool:
        """Whether new writes create versions of their own."""
        return self.versioning_state == "Enabled"


def _flags(raw) -> tuple | None:
    return None if raw is None else tuple(bool(flag) for flag in raw)


def _lock_config(raw) -> tuple | None:
    return None if raw is None else tuple(raw)


def _tag_set(raw) -> tuple | None:
    return None if raw is None else tuple((t[0], t[1]) for t in raw)


@dataclass(frozen=True)
class Bucket(Entry):
    MARKER = b"GT.bucket.v1"

    bucket_id: bytes
    state: Deletable

    @classmethod
    def new(cls, now_ms: int, bucket_id: bytes | None = None) -> "Bucket":
        return cls(bucket_id or generate_bucket_id(), Deletable(BucketParams.new(now_ms)))

    @property
    def params(self) -> BucketParams | None:
        return self.state.value

    def with_params(self, params: BucketParams) -> "Bucket":
        return replace(self, state=Deletable(params))

    def deleted(self) -> "Bucket":
        return replace(self, state=Deletable(None))

    def key_permissions(self, key_id: str) -> BucketKeyPerm:
        if self.params is None:
            return BucketKeyPerm.NONE
        return self.params.authorized_keys.get(key_id, BucketKeyPerm.NONE)

    def global_aliases(self) -> list[str]:
        if self.params is None:
            return []
        return [name for name, active in self.params.aliases.items() if active]

    def partition_hash(self) -> bytes:
        return EMPTY_PARTITION

    def sort_key(self) -> bytes:
        return self.bucket_id

    def merge(self, other: "Bucket") -> "Bucket":
        merged = self.state.merge(other.state)
        return self if merged is self.state else replace(self, state=merged)

    def is_tombstone(self) -> bool:
        return self.state.is_deleted

    def to_cbor(self):
        return [self.bucket_id, self.state.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "Bucket":
        return cls(bytes(raw[0]), Deletable.from_cbor(raw[1], BucketParams.from_cbor))


class BucketTableSchema(TableSchema):
    table_name = "bucket"
    entry_class = Bucket

    def matches_filter(self, entry: Bucket, entry_filter) -> bool:
        if entry_filter == "live":
            return not entry.state.is_deleted
        return True


@dataclass(frozen=True)
class BucketAlias(Entry):
    """A global bucket name and the bucket id it points to (or ``None``)."""

    MARKER = b"GT.bucket_alias.v1"

    name: str
    state: Lww  # bucket id or None

    @property
    def bucket_id(self) -> bytes | None:
        return self.state.value

    def partition_hash(self) -> bytes:
        return EMPTY_PARTITION

    def sort_key(self) -> bytes:
        return self.name.encode()

    def merge(self, other: "BucketAlias") -> "BucketAlias":
        merged = self.state.merge(other.state)
        return self if merged is self.state else replace(self, state=merged)

    def is_tombstone(self) -> bool:
        return self.state.value is None

    def to_cbor(self):
        return [self.name, self.state.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "BucketAlias":
        return cls(raw[0], Lww.from_cbor(raw[1], lambda v: None if v is None else bytes(v)))


class BucketAliasTableSchema(TableSchema):
    table_name = "bucket_alias"
    entry_class = BucketAlias
