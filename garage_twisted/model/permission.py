"""Per-key, per-bucket permissions: read, write, owner.

A :class:`BucketKeyPerm` is stored on both sides (in the bucket's
``authorized_keys`` and in the key's ``authorized_buckets``); the bucket's copy
is the one enforced. Merge: the newer timestamp wins; at equal timestamps
differing grants are intersected, so a revocation racing a grant never
leaves more rights than either writer meant.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class BucketKeyPerm:
    timestamp: int
    allow_read: bool = False
    allow_write: bool = False
    allow_owner: bool = False

    NONE = None  # set below

    def merge(self, other: "BucketKeyPerm") -> "BucketKeyPerm":
        if other.timestamp > self.timestamp:
            return other
        if other.timestamp < self.timestamp or other == self:
            return self
        return BucketKeyPerm(
            self.timestamp,
            self.allow_read and other.allow_read,
            self.allow_write and other.allow_write,
            self.allow_owner and other.allow_owner,
        )

    def is_any(self) -> bool:
        return self.allow_read or self.allow_write or self.allow_owner

    def to_cbor(self):
        return [self.timestamp, self.allow_read, self.allow_write, self.allow_owner]

    @classmethod
    def from_cbor(cls, raw) -> "BucketKeyPerm":
        return cls(int(raw[0]), bool(raw[1]), bool(raw[2]), bool(raw[3]))


BucketKeyPerm.NONE = BucketKeyPerm(0)
