"""The ``object`` table: the versions of each key of each bucket.

Partition hash = bucket id (so a bucket's keys are listed from one partition),
sort key = the object key as UTF-8. An object holds its versions sorted by
``(timestamp, uuid)``; each is *uploading*, *complete* (data, or a delete
marker) or *aborted*. Merge (as Garage): union of versions, per-version state
merge (aborted > complete > uploading), then what is below the newest
complete version is dropped (:func:`_kept` says exactly what stays), except
pending multipart uploads (uploading and multipart): unlike Garage, a
PutObject that completes while a multipart upload of the same key runs does
not kill the upload (AWS keeps it).

Bucket versioning (PutBucketVersioning, ``api/s3/versioning.py``) keeps
every version: a complete version written while versioning is
Enabled is *versioned* (a version of its own, retained below newer ones);
the null version (unversioned or Suspended writes) is replaced only by a
newer null version; a version deleted by id leaves a small *deletion
record* (aborted and versioned), so that a replica that missed the deletion
cannot bring it back, and an entry holding nothing else is a tombstone the
table's GC collects. The upload of a version of its own is kept too, below
newer versions, until it completes or is aborted (its abort is such a
record): were a replica to drop it below a newer version, the cascade would
delete its block list there, while the upload completes on the replicas
that had not seen the newer one yet (an acknowledged version without its
data). Uploads left by a crash are aborted by the lifecycle worker after a
day (``model/lifecycle.py``). Every state change of a version moves forward
(uploading, complete, deleted), and no such change lowers what the merge
keeps: tests/unit/model/test_object_merge.py checks the CRDT laws over such
histories.

A version's timestamp is taken when its upload starts, but an upload whose
version ended below a complete one moves to a new version above it before
it answers (``api/s3/put.py``): of two writes of a key (PutObject, POST,
CopyObject, CompleteMultipartUpload), the one that completes last wins, as
on AWS. CompleteMultipartUpload never completes the upload's own version:
it writes a new version above every version it sees, then aborts the
upload's (``api/s3/multipart.py``).

A pending multipart version is dropped once aborted. If a replica missed the
abort and another had already dropped it, anti-entropy brings the uploading
state back (there is no tombstone below a complete version): the upload is
listed again though its ``mpu`` row is deleted. ListMultipartUploads skips
and aborts again such a leftover (``api/s3/multipart.py``).

Invariants:

- Only complete versions are ever visible; an interrupted upload stays
  *uploading* (or becomes *aborted*) and is never served.
- A version that disappears from an object, or becomes aborted, is marked
  deleted in the ``version`` table through its insert queue (in the same
  transaction), which releases its blocks.
"""

from dataclasses import dataclass, replace

from garage_twisted.model.mpu import MultipartUpload
from garage_twisted.model.version import Version
from garage_twisted.table.schema import Entry, TableSchema
from garage_twisted.util.crdt import Lww, merge_values
from garage_twisted.util.frozen import builder

INLINE_THRESHOLD = 3072
"""Bodies smaller than this many bytes are stored inside the object entry."""

STATE_UPLOADING = 0
STATE_COMPLETE = 1
STATE_ABORTED = 2

DATA_DELETE_MARKER = 0
DATA_INLINE = 1
DATA_FIRST_BLOCK = 2


@dataclass(frozen=True)
class ObjectVersionMeta:
    """What a GET/HEAD reports of a complete version."""

    headers: tuple  # ((name, value), ...) as stored (content-type, x-amz-meta-*, ...)
    size: int
    etag: str
    # The x-amz-checksum-* the client asked for: (header name, base64 value),
    # and for a multipart object its type too ("COMPOSITE" or "FULL_OBJECT").
    checksum: tuple | None = None
    # Encrypted data: SSE-C, the base64 MD5 of the customer key; SSE-S3,
    # ``sse-s3:<key id>:<wrapped data key>`` (api/s3/sse_s3.py).
    encryption: str | None = None
    # The tag set given when the version was written ((key, value), ...,
    # sorted by key); ObjectVersion.tags holds later changes.
    tags: tuple = ()

    @property
    def checksum_type(self) -> str | None:
        """``COMPOSITE`` or ``FULL_OBJECT`` (every single-part checksum)."""
        if self.checksum is None:
            return None
        return self.checksum[2] if len(self.checksum) > 2 else "FULL_OBJECT"

    def to_cbor(self):
        raw = [[list(h) for h in self.headers], self.size, self.etag]
        # Optional fields only when set: plain versions keep their encoding.
        if self.checksum is not None or self.encryption is not None or self.tags:
            raw.append(None if self.checksum is None else list(self.checksum))
        if self.encryption is not None or self.tags:
            raw.append(self.encryption)
        if self.tags:
            raw.append([list(t) for t in self.tags])
        return raw

    @classmethod
    def from_cbor(cls, raw) -> "ObjectVersionMeta":
        checksum = tuple(raw[3]) if len(raw) > 3 and raw[3] is not None else None
        encryption = raw[4] if len(raw) > 4 else None
        tags = tags_from_plain(raw[5]) if len(raw) > 5 else ()
        return _build_meta(tuple([(h[0], h[1]) for h in raw[0]]), int(raw[1]), raw[2],
                           checksum, encryption, tags)


NULL_VERSION_ID = "null"


def version_id_of(version) -> str:
    """The id S3 clients know ``version`` by: its uuid in hex if it is a
    version of its own (written under Enabled versioning), else ``null``."""
    return version.uuid.hex() if version.versioned else NULL_VERSION_ID


def tags_from_plain(raw) -> tuple | None:
    """A tag set from its stored form (lists), or None."""
    return None if raw is None else tuple((t[0], t[1]) for t in raw)


@dataclass(frozen=True)
class ObjectVersionData:
    """Where a complete version's bytes are: nowhere, inline, or in blocks."""

    kind: int
    meta: ObjectVersionMeta | None = None
    inline: bytes | None = None
    first_block: bytes | None = None

    @classmethod
    def delete_marker(cls) -> "ObjectVersionData":
        return cls(DATA_DELETE_MARKER)

    def to_cbor(self):
        if self.kind == DATA_DELETE_MARKER:
            return [DATA_DELETE_MARKER]
        if self.kind == DATA_INLINE:
            return [DATA_INLINE, self.meta.to_cbor(), self.inline]
        return [DATA_FIRST_BLOCK, self.meta.to_cbor(), self.first_block]

    @classmethod
    def from_cbor(cls, raw) -> "ObjectVersionData":
        kind = raw[0]
        if kind == DATA_DELETE_MARKER:
            return cls(kind)
        meta = ObjectVersionMeta.from_cbor(raw[1])
        if kind == DATA_INLINE:
            return _build_data(kind, meta, bytes(raw[2]), None)
        return _build_data(kind, meta, None, bytes(raw[2]))


@dataclass(frozen=True)
class ObjectVersion:
    uuid: bytes
    timestamp: int
    state: int
    # Uploading: headers given at creation and whether it is multipart.
    multipart: bool = False
    upload_headers: tuple = ()
    # Complete: the data.
    data: ObjectVersionData | None = None
    # Complete: the tag set as changed after the write (PutObjectTagging,
    # DeleteObjectTagging), an Lww of a tag set; None: the write's own
    # (data.meta.tags).
    tags: Lww | None = None
    # Complete: written while the bucket's versioning was Enabled, so a
    # version of its own (its id is its uuid) that newer writes do not
    # replace. Uploading: the upload of such a version. Aborted: the record
    # of such a version (or upload) permanently deleted.
    # False: the "null" version (unversioned or Suspended buckets).
    versioned: bool = False
    # Aborted and versioned (a deletion record): the deleted version was
    # the null version (older null versions stay replaced).
    was_null: bool = False
    # Complete: Object Lock retention, an Lww of ``(mode, until_ms)`` or
    # None (model/object_lock.py), and legal hold, an Lww of a bool.
    retention: Lww | None = None
    legal_hold: Lww | None = None
    # Complete null version written while versioning was Suspended: a
    # version S3 lists, so its delete marker is no internal tombstone (it
    # keeps the bucket from being deleted, and the GC from collecting it).
    suspended: bool = False
    # Complete: the object's canned ACL (issue 26), an Lww of its name, or
    # None (private, the default).
    acl: Lww | None = None

    def cmp_key(self):
        return (self.timestamp, self.uuid)

    @property
    def tag_set(self) -> tuple:
        """The version's tags now."""
        if self.tags is not None:
            return self.tags.value
        return self.data.meta.tags if self.data is not None and self.data.meta else ()

    @property
    def is_complete(self) -> bool:
        return self.state == STATE_COMPLETE

    @property
    def is_data(self) -> bool:
        """Complete and not a delete marker: something GET can return."""
        return self.state == STATE_COMPLETE and self.data.kind != DATA_DELETE_MARKER

    @property
    def is_uploading(self) -> bool:
        return self.state == STATE_UPLOADING

    @property
    def is_pending_multipart(self) -> bool:
        """An uploading multipart version: kept below newer complete ones."""
        return self.state == STATE_UPLOADING and self.multipart

    @property
    def is_retained(self) -> bool:
        """A version of its own (or the upload of one, or the record of one
        deleted): newer versions never make the merge drop it. An upload
        too: a replica that dropped it below a newer version would delete
        its block list, and the upload may still complete on the others."""
        return self.versioned

    @property
    def is_purged(self) -> bool:
        """The record of a version permanently deleted (DeleteObject with a
        versionId), kept so that a replica that missed the deletion does not
        bring the version back."""
        return self.versioned and self.state == STATE_ABORTED

    @property
    def is_settled(self) -> bool:
        """Complete, or deleted for good: the versions below it that are
        neither (uploads) are over."""
        return self.state == STATE_COMPLETE or self.is_purged

    @property
    def holds_null_line(self) -> bool:
        """The null version, or the record of its deletion: older null
        versions are replaced."""
        return (self.state == STATE_COMPLETE and not self.versioned) or \
            (self.is_purged and self.was_null)

    def merge_state(self, other: "ObjectVersion") -> "ObjectVersion":
        if self.state == STATE_ABORTED or other.state == STATE_ABORTED:
            aborted = self if self.state == STATE_ABORTED else other
            # A deletion record stays one (and says what it deleted).
            versioned = self.versioned or other.versioned
            was_null = self.was_null or other.was_null
            if aborted.versioned == versioned and aborted.was_null == was_null:
                return aborted
            return replace(aborted, versioned=versioned, was_null=was_null)
        if self.state == STATE_COMPLETE:
            if other.state != STATE_COMPLETE:
                return self
            chosen = self
            if other.data != self.data:
                # Two different completions of one uuid cannot happen through
                # the API; keep a deterministic choice.
                chosen = self if merge_values(self.data, other.data) is self.data else other
            tags = _merge_tags(self.tags, other.tags)
            retention = _merge_tags(self.retention, other.retention)
            legal_hold = _merge_tags(self.legal_hold, other.legal_hold)
            acl = _merge_tags(self.acl, other.acl)
            if tags is chosen.tags and retention is chosen.retention and \
                    legal_hold is chosen.legal_hold and acl is chosen.acl:
                return chosen
            return replace(chosen, tags=tags, retention=retention, legal_hold=legal_hold,
                           acl=acl)
        return other if other.state == STATE_COMPLETE else self

    def to_cbor(self):
        if self.state == STATE_UPLOADING:
            body = [self.multipart, [list(h) for h in self.upload_headers]]
        elif self.state == STATE_COMPLETE:
            body = self.data.to_cbor()
        else:
            body = None
        raw = [self.uuid, self.timestamp, self.state, body]
        # Optional fields, trailing ones left out when unset: plain versions
        # keep their encoding.
        complete = self.state == STATE_COMPLETE
        tail = [_plain(self.tags if complete else None), self.versioned or None,
                self.was_null or None, _plain(self.retention if complete else None),
                _plain(self.legal_hold if complete else None),
                (self.suspended and complete) or None,
                _plain(self.acl if complete else None)]
        while tail and tail[-1] is None:
            tail.pop()
        raw += tail
        return raw

    @classmethod
    def from_cbor(cls, raw) -> "ObjectVersion":
        uuid, timestamp, state, body = bytes(raw[0]), int(raw[1]), raw[2], raw[3]
        versioned = len(raw) > 5 and bool(raw[5])
        if state == STATE_UPLOADING:
            return cls(uuid, timestamp, state, bool(body[0]),
                       tuple((h[0], h[1]) for h in body[1]), versioned=versioned)
        was_null = len(raw) > 6 and bool(raw[6])
        if state == STATE_COMPLETE:
            tags = Lww.from_cbor(raw[4], tags_from_plain) \
                if len(raw) > 4 and raw[4] is not None else None
            retention = Lww.from_cbor(raw[7], _retention_from_plain) \
                if len(raw) > 7 and raw[7] is not None else None
            legal_hold = Lww.from_cbor(raw[8], bool) \
                if len(raw) > 8 and raw[8] is not None else None
            suspended = len(raw) > 9 and bool(raw[9])
            acl = Lww.from_cbor(raw[10]) if len(raw) > 10 and raw[10] is not None else None
            return _build_version(uuid, timestamp, state, False, (),
                                  ObjectVersionData.from_cbor(body), tags, versioned, False,
                                  retention, legal_hold, suspended, acl)
        return cls(uuid, timestamp, state, versioned=versioned, was_null=was_null)


def _plain(register: Lww | None):
    return None if register is None else register.to_cbor()


def _retention_from_plain(raw) -> tuple | None:
    return None if raw is None else (raw[0], int(raw[1]))


def _merge_tags(mine: Lww | None, theirs: Lww | None) -> Lww | None:
    if theirs is None:
        return mine
    if mine is None:
        return theirs
    return mine.merge(theirs)


@dataclass(frozen=True)
class Object(Entry):
    MARKER = b"GT.object.v1"

    bucket_id: bytes
    key: str
    versions: tuple  # of ObjectVersion, sorted by cmp_key

    def partition_hash(self) -> bytes:
        return self.bucket_id

    def sort_key(self) -> bytes:
        return self.key.encode("utf-8")

    def last_data_version(self) -> ObjectVersion | None:
        """The newest complete version, if it holds data (not a delete marker)."""
        for version in reversed(self.versions):
            if version.is_complete:
                return version if version.is_data else None
        return None

    def latest_version(self) -> ObjectVersion | None:
        """The newest complete version (data or delete marker), if any."""
        for version in reversed(self.versions):
            if version.is_complete:
                return version
        return None

    def find_version(self, version_id: str) -> ObjectVersion | None:
        """The complete version S3 clients know as ``version_id``: ``null``
        (the newest null version), or a version of its own by its uuid in
        hex (:func:`version_id_of`)."""
        if version_id == NULL_VERSION_ID:
            for version in reversed(self.versions):
                if version.holds_null_line:
                    return version if version.is_complete else None
            return None
        for version in self.versions:
            if version.versioned and version.is_complete and \
                    version.uuid.hex() == version_id:
                return version
        return None

    def max_timestamp(self) -> int:
        return max((v.timestamp for v in self.versions), default=0)

    def merge(self, other: "Object") -> "Object":
        by_key = {v.cmp_key(): v for v in self.versions}
        changed = False
        for version in other.versions:
            key = version.cmp_key()
            mine = by_key.get(key)
            merged = version if mine is None else mine.merge_state(version)
            if merged is not mine:
                by_key[key] = merged
                changed = True
        if not changed:
            return self
        return replace(self, versions=tuple(_kept([by_key[k] for k in sorted(by_key)])))

    def is_tombstone(self) -> bool:
        """Nothing left but a null delete marker (of a bucket without
        versioning), or records of deleted
        versions: the table's GC may remove the row once every replica has
        it."""
        versions = self.versions
        if len(versions) == 1 and versions[0].is_complete and not versions[0].versioned \
                and not versions[0].suspended and versions[0].data.kind == DATA_DELETE_MARKER:
            return True
        return bool(versions) and all(v.is_purged for v in versions)

    def to_cbor(self):
        return [self.bucket_id, self.key, [v.to_cbor() for v in self.versions]]

    @classmethod
    def from_cbor(cls, raw) -> "Object":
        decode = ObjectVersion.from_cbor
        return _build_object(bytes(raw[0]), raw[1], tuple([decode(v) for v in raw[2]]))


def _kept(versions: list) -> list:
    """The versions (sorted) a merged entry keeps.

    The *settled line* is the newest version complete or deleted for good;
    the *null line* the newest null version (or the record of its
    deletion). Kept: everything at or above the settled line; below it,
    versions of their own and deletion records (:attr:`ObjectVersion.
    is_retained`), the null version if it is at the null line, and pending
    multipart uploads. So an unversioned bucket keeps, as Garage, what is at
    or above its newest complete version; a versioned bucket every version;
    and a state change of one version (uploading, complete, deleted) never
    lowers a line: the merge is a CRDT whatever order replicas meet in.
    """
    settled = null_line = None
    for i in range(len(versions) - 1, -1, -1):
        version = versions[i]
        if settled is None and version.is_settled:
            settled = i
        if version.holds_null_line:
            null_line = i
            break
    if settled is None:
        return versions
    return [v for i, v in enumerate(versions)
            if i >= settled or v.is_retained or v.is_pending_multipart
            or (i == null_line and v.is_complete)]


# Decoding builds these without their __init__ (util/frozen.py): a listing
# page decodes a thousand objects.
_build_meta = builder(ObjectVersionMeta)
_build_data = builder(ObjectVersionData)
_build_version = builder(ObjectVersion)
_build_object = builder(Object)

FILTER_IS_DATA = "is_data"
FILTER_IS_UPLOADING = "is_uploading"
# Rows holding a complete version (data or delete marker): ListObjectVersions.
FILTER_HAS_VERSIONS = "has_versions"
# Rows that keep a bucket from being deleted: data, uploads, or versions
# S3 lists (delete markers of their own or of Suspended versioning
# included, as AWS).
FILTER_NOT_EMPTY = "not_empty"


class ObjectTableSchema(TableSchema):
    """Object table; deleting a version cascades to the version table.

    :param version_table: the :class:`~garage_twisted.table.table.Table` of
        versions, whose insert queue receives the deletions.
    """

    table_name = "object"
    entry_class = Object

    def __init__(self, version_table=None, mpu_table=None, counts=None):
        self.version_table = version_table
        self.mpu_table = mpu_table
        # LocalCounts: per-bucket counters kept with the rows (quotas).
        self.counts = counts

    def matches_filter(self, entry: Object, entry_filter) -> bool:
        if entry_filter == FILTER_IS_DATA:
            return entry.last_data_version() is not None
        if entry_filter == FILTER_IS_UPLOADING:
            return any(v.is_uploading for v in entry.versions)
        if entry_filter == FILTER_HAS_VERSIONS:
            return any(v.is_complete for v in entry.versions)
        if entry_filter == FILTER_NOT_EMPTY:
            return any(v.is_data or v.is_uploading
                       or (v.is_complete and (v.versioned or v.suspended))
                       for v in entry.versions)
        return True

    def updated(self, tx, old: Object | None, new: Object | None) -> None:
        if self.counts is not None:
            self.counts.apply(tx, (old or new).bucket_id, old, new)
        # A row removed locally (offloaded to its new nodes, or a tombstone
        # collected) deletes nothing: the object lives on elsewhere.
        if old is None or new is None or self.version_table is None:
            return
        new_versions = {v.cmp_key(): v for v in new.versions}
        for version in old.versions:
            kept = new_versions.get(version.cmp_key())
            gone = kept is None or (
                kept.state == STATE_ABORTED and version.state != STATE_ABORTED
            )
            if gone:
                self.version_table.queue_insert(
                    tx, Version.new(version.uuid, old.bucket_id, old.key, deleted=True)
                )
                if version.multipart and self.mpu_table is not None:
                    # An upload that will never complete: drop its parts.
                    self.mpu_table.queue_insert(tx, MultipartUpload.new(
                        version.uuid, version.timestamp, old.bucket_id, old.key,
                        deleted=True))
