"""Bucket and key management shared by the S3 and admin front ends.

Each operation reads what it needs, computes the new CRDT values and inserts
them; both sides of a relation (bucket <-> key permissions, bucket <-> alias)
are written, the bucket side being the one enforced.

All methods are coroutines (``async def``): callers ``await`` them, which
costs less than Deferred-returning ``inlineCallbacks`` on the request path.
"""

import ipaddress
import re
from dataclasses import replace as _replace

from garage_twisted.model import errors
from garage_twisted.model.bucket import Bucket, BucketAlias
from garage_twisted.model.garage import GarageModel
from garage_twisted.model.key import Key
from garage_twisted.model.object import FILTER_NOT_EMPTY
from garage_twisted.model.permission import BucketKeyPerm
from garage_twisted.table.schema import EMPTY_PARTITION
from garage_twisted.util.crdt import Bool, Lww
from garage_twisted.util.errors import QuorumError
from garage_twisted.util.time import now_msec

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def is_valid_bucket_name(name: str) -> bool:
    """S3's rules for bucket names, as Garage applies them."""
    if not _BUCKET_NAME.match(name) or ".." in name:
        return False
    if name.startswith("xn--") or name.endswith("-s3alias"):
        return False
    try:
        ipaddress.IPv4Address(name)
        return False
    except ValueError:
        return True


class ModelHelper:
    """Operations on buckets, aliases and keys.

    :param model: the node's :class:`GarageModel`.
    :param count_reader: the node's
        :class:`~garage_twisted.model.count_reader.BucketCountReader` (exact
        counts from the nodes holding a bucket), or ``None`` (the published
        counts only).
    """

    def __init__(self, model: GarageModel, count_reader=None):
        self.model = model
        self.clock = model.clock
        self.count_reader = count_reader

    def now(self) -> int:
        return now_msec(self.clock)

    # -- keys ----------------------------------------------------------

    async def get_key(self, key_id: str):
        """The live key ``key_id``, or ``None``."""
        key = await self.model.key_table.get(EMPTY_PARTITION, key_id.encode())
        return None if key is None or key.state.is_deleted else key

    async def get_existing_key(self, key_id: str) -> Key:
        key = await self.get_key(key_id)
        if key is None:
            raise errors.NoSuchAccessKey(f"access key {key_id} not found")
        return key

    async def find_key(self, pattern: str) -> Key:
        """A live key by exact id, id prefix, or exact name (as Garage's CLI)."""
        key = await self.get_key(pattern)
        if key is not None:
            return key
        keys = await self.list_keys()
        matches = [k for k in keys if k.key_id.startswith(pattern)]
        if not matches:
            matches = [k for k in keys if k.params.name.value == pattern]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise errors.NoSuchAccessKey(f"no key matches {pattern!r}")
        raise errors.BadRequest(f"{len(matches)} keys match {pattern!r}; be more precise")

    async def list_keys(self) -> list:
        keys = await self.model.key_table.get_range(
            EMPTY_PARTITION, None, "live", limit=1_000_000)
        return keys

    async def create_key(self, name: str, key_id: str | None = None,
                   secret_key: str | None = None) -> Key:
        """Create a key (or import one, when ``key_id``/``secret_key`` given)."""
        if key_id is not None:
            existing = await self.model.key_table.get(EMPTY_PARTITION, key_id.encode())
            if existing is not None:
                raise errors.KeyAlreadyExists(f"key {key_id} already exists (or existed)")
        key = Key.new(self.now(), name, key_id, secret_key)
        await self.model.key_table.insert(key)
        return key

    async def update_key(self, key: Key, name=None, allow_create_bucket=None) -> Key:
        params = key.params
        now = self.now()
        if name is not None:
            params = _replace(params, name=params.name.update(now, name))
        if allow_create_bucket is not None:
            params = _replace(
                params,
                allow_create_bucket=params.allow_create_bucket.update(now, allow_create_bucket),
            )
        key = key.with_params(params)
        await self.model.key_table.insert(key)
        return key

    async def delete_key(self, key: Key):
        """Delete a key: revoke its permissions everywhere, then tombstone it."""
        for bucket_id, perm in key.params.authorized_buckets.items():
            if perm.is_any():
                await self.set_permissions(bucket_id, key.key_id, False, False, False)
        for name, bucket_id in key.params.local_aliases.items():
            if bucket_id is not None:
                await self.unset_local_alias(bucket_id, key.key_id, name)
        key = await self.get_existing_key(key.key_id)
        await self.model.key_table.insert(key.deleted())

    # -- buckets -------------------------------------------------------

    async def get_bucket(self, bucket_id: bytes):
        """The live bucket ``bucket_id``, or ``None``."""
        bucket = await self.model.bucket_table.get(EMPTY_PARTITION, bucket_id)
        return None if bucket is None or bucket.state.is_deleted else bucket

    async def get_existing_bucket(self, bucket_id: bytes) -> Bucket:
        bucket = await self.get_bucket(bucket_id)
        if bucket is None:
            raise errors.NoSuchBucket(f"bucket {bucket_id.hex()} not found")
        return bucket

    async def resolve_global_alias(self, name: str):
        alias = await self.model.bucket_alias_table.get(EMPTY_PARTITION, name.encode())
        return None if alias is None else alias.bucket_id

    async def resolve_bucket(self, name: str, key: Key | None):
        """Bucket id named ``name`` for ``key``: its local alias, else global.

        :returns: a Deferred firing with the id, or ``None``.
        """
        if key is not None and key.params is not None:
            local = key.params.local_aliases.get(name)
            if local is not None:
                return local
        bucket_id = await self.resolve_global_alias(name)
        return bucket_id

    async def find_bucket(self, pattern: str) -> Bucket:
        """A live bucket by global alias, full hex id or hex id prefix."""
        bucket_id = await self.resolve_global_alias(pattern)
        if bucket_id is None and re.fullmatch(r"[0-9a-f]{64}", pattern):
            bucket_id = bytes.fromhex(pattern)
        if bucket_id is not None:
            bucket = await self.get_existing_bucket(bucket_id)
            return bucket
        if re.fullmatch(r"[0-9a-f]{1,63}", pattern):
            buckets = await self.list_buckets()
            matches = [b for b in buckets if b.bucket_id.hex().startswith(pattern)]
            if len(matches) == 1:
                return matches[0]
        raise errors.NoSuchBucket(f"bucket {pattern!r} not found")

    async def list_buckets(self) -> list:
        buckets = await self.model.bucket_table.get_range(
            EMPTY_PARTITION, None, "live", limit=1_000_000)
        return buckets

    async def create_bucket(self, name: str | None, owner: Key | None = None,
                      local_alias_of: Key | None = None, object_lock: bool = False) -> Bucket:
        """Create a bucket with a global alias ``name`` (or none).

        :param owner: a key that gets read, write and owner rights.
        :param object_lock: with Object Lock (and so versioning) on from the
            start.
        :raises errors.BucketAlreadyOwnedByYou: ``owner`` already owns it.
        :raises errors.BucketAlreadyExists: the name belongs to another bucket.
        """
        if name is not None:
            if not is_valid_bucket_name(name):
                raise errors.InvalidBucketName(f"invalid bucket name: {name!r}")
            existing_id = await self.resolve_bucket(name, owner)
            if existing_id is not None:
                existing = await self.get_bucket(existing_id)
                if existing is not None:
                    if owner is not None and existing.key_permissions(owner.key_id).allow_owner:
                        raise errors.BucketAlreadyOwnedByYou(
                            f"bucket {name} already exists and is yours")
                    raise errors.BucketAlreadyExists(f"bucket name {name} is not available")
        bucket = Bucket.new(self.now())
        if object_lock:
            bucket = bucket.with_params(_replace(
                bucket.params, object_lock_enabled=Bool(True),
                versioning=bucket.params.versioning.update(self.now(), "Enabled")))
        await self.model.bucket_table.insert(bucket)
        if name is not None:
            await self.set_global_alias(bucket.bucket_id, name)
        if owner is not None:
            await self.set_permissions(bucket.bucket_id, owner.key_id, True, True, True)
        bucket = await self.get_existing_bucket(bucket.bucket_id)
        return bucket

    async def is_bucket_empty(self, bucket_id: bytes) -> bool:
        # Data, uploads, and every version of its own (delete markers and
        # versions under Object Lock included) keep a bucket.
        found = await self.model.object_table.get_range(
            bucket_id, None, FILTER_NOT_EMPTY, limit=1)
        return not found

    async def delete_bucket(self, bucket_id: bytes):
        """Delete an empty bucket, its aliases and its permissions."""
        bucket = await self.get_existing_bucket(bucket_id)
        empty = await self.is_bucket_empty(bucket_id)
        if not empty:
            raise errors.BucketNotEmpty("the bucket you tried to delete is not empty")
        for name in bucket.global_aliases():
            await self.unset_global_alias(bucket_id, name, allow_last=True)
        for (key_id, name), active in bucket.params.local_aliases.items():
            if active:
                await self.unset_local_alias(bucket_id, key_id, name, allow_last=True)
        for key_id, perm in bucket.params.authorized_keys.items():
            if perm.is_any():
                await self.set_permissions(bucket_id, key_id, False, False, False)
        bucket = await self.get_existing_bucket(bucket_id)
        await self.model.bucket_table.insert(bucket.deleted())

    # -- aliases -------------------------------------------------------

    async def set_global_alias(self, bucket_id: bytes, name: str):
        if not is_valid_bucket_name(name):
            raise errors.InvalidBucketName(f"invalid bucket name: {name!r}")
        bucket = await self.get_existing_bucket(bucket_id)
        alias = await self.model.bucket_alias_table.get(EMPTY_PARTITION, name.encode())
        now = self.now()
        if alias is not None and alias.bucket_id not in (None, bucket_id):
            raise errors.BadRequest(f"alias {name} already points to another bucket")
        state = Lww(now, bucket_id) if alias is None else alias.state.update(now, bucket_id)
        await self.model.bucket_alias_table.insert(BucketAlias(name, state))
        params = bucket.params
        await self.model.bucket_table.insert(bucket.with_params(
            _replace(params, aliases=params.aliases.put(now, name, True))))

    async def unset_global_alias(self, bucket_id: bytes, name: str, allow_last=False):
        bucket = await self.get_existing_bucket(bucket_id)
        if not allow_last and bucket.global_aliases() == [name] and not any(
                a for _, a in bucket.params.local_aliases.items()):
            raise errors.BadRequest(
                f"alias {name} is the last name of the bucket; delete the bucket instead")
        alias = await self.model.bucket_alias_table.get(EMPTY_PARTITION, name.encode())
        now = self.now()
        if alias is not None and alias.bucket_id == bucket_id:
            await self.model.bucket_alias_table.insert(
                BucketAlias(name, alias.state.update(now, None)))
        params = bucket.params
        await self.model.bucket_table.insert(bucket.with_params(
            _replace(params, aliases=params.aliases.put(now, name, False))))

    async def set_local_alias(self, bucket_id: bytes, key_id: str, name: str):
        if not is_valid_bucket_name(name):
            raise errors.InvalidBucketName(f"invalid bucket name: {name!r}")
        bucket = await self.get_existing_bucket(bucket_id)
        key = await self.get_existing_key(key_id)
        existing = key.params.local_aliases.get(name)
        if existing is not None and existing != bucket_id:
            raise errors.BadRequest(f"key already has a local alias {name} to another bucket")
        now = self.now()
        await self.model.key_table.insert(key.with_params(_replace(
            key.params, local_aliases=key.params.local_aliases.put(now, name, bucket_id))))
        await self.model.bucket_table.insert(bucket.with_params(_replace(
            bucket.params,
            local_aliases=bucket.params.local_aliases.put(now, (key_id, name), True))))

    async def unset_local_alias(self, bucket_id: bytes, key_id: str, name: str, allow_last=False):
        bucket = await self.get_existing_bucket(bucket_id)
        key = await self.model.key_table.get(EMPTY_PARTITION, key_id.encode())
        now = self.now()
        if key is not None and key.params is not None:
            await self.model.key_table.insert(key.with_params(_replace(
                key.params, local_aliases=key.params.local_aliases.put(now, name, None))))
        await self.model.bucket_table.insert(bucket.with_params(_replace(
            bucket.params,
            local_aliases=bucket.params.local_aliases.put(now, (key_id, name), False))))

    async def set_bucket_config(self, bucket_id: bytes, name: str, value) -> None:
        """Replace one configuration register of a bucket (``cors_config``,
        ``website_config``, ``lifecycle_config``) with ``value`` (plain data,
        or ``None`` to remove it)."""
        bucket = await self.get_existing_bucket(bucket_id)
        params = bucket.params
        register = getattr(params, name)
        await self.model.bucket_table.insert(bucket.with_params(_replace(
            params, **{name: register.update(self.now(), value)})))

    async def set_object_lock(self, bucket_id: bytes, default_retention) -> None:
        """Turn Object Lock on for good (versioning Enabled with it), with
        ``default_retention`` ``(mode, days, years)`` or None."""
        bucket = await self.get_existing_bucket(bucket_id)
        params = bucket.params
        now = self.now()
        await self.model.bucket_table.insert(bucket.with_params(_replace(
            params, object_lock_enabled=Bool(True),
            versioning=params.versioning.update(now, "Enabled"),
            object_lock_config=params.object_lock_config.update(now, default_retention))))

    async def bucket_counts(self, bucket_id: bytes) -> list:
        """``[objects, bytes, unfinished uploads]`` of a bucket, from the
        counters of the nodes holding it (see :mod:`garage_twisted.model.counter`)."""
        table = self.model.counter_table
        nodes = table.replication.all_nodes(bucket_id)
        if self.model.local_node_id in nodes:
            # This node holds the bucket's objects: its own counts are exact
            # at once (the published ones follow through the insert queue).
            return self.model.local_counts.read(bucket_id)
        reader = self.count_reader
        if reader is not None:
            # Not behind the insert queue (see model/count_reader.py); the
            # published counts remain if too few nodes answer.
            try:
                return await reader.read(bucket_id, table.replication.read_nodes(bucket_id),
                                         table.replication.read_quorum())
            except QuorumError:
                pass
        entry = await table.get(bucket_id, b"")
        return [0, 0, 0] if entry is None else entry.counts(nodes)

    # -- permissions ---------------------------------------------------

    async def set_permissions(self, bucket_id: bytes, key_id: str,
                        read: bool, write: bool, owner: bool):
        """Set a key's rights on a bucket, on both sides."""
        bucket = await self.get_existing_bucket(bucket_id)
        key = await self.model.key_table.get(EMPTY_PARTITION, key_id.encode())
        old = bucket.key_permissions(key_id)
        perm = BucketKeyPerm(max(self.now(), old.timestamp + 1), read, write, owner)
        if key is not None and key.params is not None:
            await self.model.key_table.insert(key.with_params(_replace(
                key.params,
                authorized_buckets=key.params.authorized_buckets.put(bucket_id, perm))))
        elif read or write or owner:
            raise errors.NoSuchAccessKey(f"access key {key_id} not found")
        await self.model.bucket_table.insert(bucket.with_params(_replace(
            bucket.params,
            authorized_keys=bucket.params.authorized_keys.put(key_id, perm))))

