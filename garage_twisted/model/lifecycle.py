"""Bucket lifecycle: rules, and the daily worker that applies them.

A bucket's ``lifecycle_config`` register holds a list of rule dicts
(:func:`rule_matches` reads them): ``enabled``, a filter (``prefix``,
``size_gt``, ``size_lt``, ``tags``: [key, value] pairs the object must all
have), and actions:

- ``expire_days`` / ``expire_date`` (``YYYY-MM-DD``, UTC midnight): the
  current version, if it holds data, is hidden behind a delete marker of
  the bucket's kind (versioning Enabled: a version of its own, so the data
  stays as a noncurrent version; Suspended or never set: the null marker,
  which replaces the null version). A delete marker left alone (no other
  version of the key) and itself that old is removed, as AWS does;
- ``expire_delete_marker``: a delete marker left alone is removed whatever
  its age (AWS's ``ExpiredObjectDeleteMarker``; never with tag or size
  filters, which the XML parser refuses);
- ``noncurrent_days`` (and ``newer_noncurrent``): a noncurrent version,
  data or delete marker, is deleted for good that many days after it became
  noncurrent (the timestamp of the next newer complete version), unless it
  is one of the ``newer_noncurrent`` newest noncurrent versions;
- ``abort_mpu_days`` aborts multipart uploads started that many days ago.

A version is deleted for good as DeleteObject with a versionId does: a
deletion record takes its place (``model/object.py``). Object Lock: no
rule ever removes a version :func:`~garage_twisted.model.object_lock.
is_protected` keeps; a delete marker is still added above a protected
current version (it removes nothing). Filters apply to each version with
its own size and tags; a delete marker has size 0 and no tags. Marker
removal and noncurrent expiration act only in buckets that have had
versioning (in others, older versions do not exist and a lone null marker
is a tombstone the table collects).

Whatever a bucket's rules, every pass also aborts uploads (not multipart)
still uploading a day after they started (:func:`stale_uploads`): the
leftovers of a node that crashed mid-write.

Ages count in whole days of 24 hours from the version's timestamp (AWS
rounds the due time up to the next UTC midnight; this worker runs once a
day, so a version goes at most a day earlier than on AWS).

:class:`LifecycleWorker` walks the local object table once a day, in
batches (its cursor and the day of its last pass are persisted, so a
restart resumes: :class:`LifecycleProgress`, stored as the CBOR list
``[day, cursor]``). In a cluster each object row is on several nodes; only
the first node of the row's partition (``is_leader``) acts on it, so an
object expires once, not once per replica. Writes go through the
replicated object table like any client's.
"""

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timezone

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.model.object import (
    NULL_VERSION_ID, STATE_ABORTED, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
)
from garage_twisted.model.object_lock import is_protected
from garage_twisted.table.schema import EMPTY_PARTITION
from garage_twisted.util import codec
from garage_twisted.util.time import now_msec, rfc3339_msec
from garage_twisted.util.worker import IWorker, WorkerState, WorkerVariable

DAY_MS = 24 * 3600 * 1000
BATCH = 500
STATE_KEY = b"state"
LAST_COMPLETED_KEY = b"last_completed"


def _date_ms(value: str) -> int:
    day = date.fromisoformat(value)
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def rule_matches(rule: dict, key: str, size: int | None, tags: tuple = ()) -> bool:
    """Whether ``rule`` applies to an object (``size`` None: an upload,
    which no rule filtering on tags applies to) with ``tags``."""
    if not rule.get("enabled"):
        return False
    if rule.get("prefix") and not key.startswith(rule["prefix"]):
        return False
    wanted = rule.get("tags")
    if wanted and (size is None or not {tuple(t) for t in wanted} <= set(tags)):
        return False
    if size is not None:
        if rule.get("size_gt") is not None and not size > rule["size_gt"]:
            return False
        if rule.get("size_lt") is not None and not size < rule["size_lt"]:
            return False
    return True


def expired(rule: dict, version_ms: int, now_ms: int) -> bool:
    if rule.get("expire_days") is not None:
        return now_ms - version_ms >= rule["expire_days"] * DAY_MS
    if rule.get("expire_date") is not None:
        return now_ms >= _date_ms(rule["expire_date"])
    return False


def _size_and_tags(version: ObjectVersion) -> tuple:
    """What a rule's filter sees of a complete version: a delete marker
    has size 0 (AWS's example expires markers with ObjectSizeLessThan 1)
    and no tags."""
    if version.is_data:
        return version.data.meta.size, version.tag_set
    return 0, ()


def _deletion_record(version: ObjectVersion) -> ObjectVersion:
    """What deletes ``version`` for good (as DeleteObject with its id)."""
    return ObjectVersion(version.uuid, version.timestamp, STATE_ABORTED, versioned=True,
                         was_null=not version.versioned)


def actions_for(obj: Object, rules: list, now_ms: int, versioning: str | None = None) -> list:
    """Object entries to insert for ``obj`` under ``rules`` (maybe none).

    :param versioning: the bucket's versioning state (``BucketParams.
        versioning_state``): None (never set), "Enabled" or "Suspended".
    """
    out = []
    key = obj.key
    complete = [v for v in obj.versions if v.is_complete]
    latest = complete[-1] if complete else None
    if latest is not None and latest.is_data:
        size, tags = _size_and_tags(latest)
        if any(rule_matches(r, key, size, tags) and expired(r, latest.timestamp, now_ms)
               for r in rules):
            marker = _expiration_marker(obj, versioning, now_ms)
            if marker is not None:
                out.append(Object(obj.bucket_id, key, (marker,)))
    elif latest is not None and versioning is not None and len(complete) == 1:
        # An expired object delete marker: nothing left behind it.
        if any(rule_matches(r, key, 0) and (r.get("expire_delete_marker")
                                            or expired(r, latest.timestamp, now_ms))
               for r in rules):
            out.append(Object(obj.bucket_id, key, (_deletion_record(latest),)))
    if versioning is not None and len(complete) > 1:
        out += [Object(obj.bucket_id, key, (_deletion_record(v),))
                for v in _expired_noncurrent(obj, complete, rules, now_ms)]
    for version in obj.versions:
        if not (version.is_uploading and version.multipart):
            continue
        if any(rule_matches(r, key, None) and r.get("abort_mpu_days") is not None
               and now_ms - version.timestamp >= r["abort_mpu_days"] * DAY_MS
               for r in rules):
            out.append(Object(obj.bucket_id, key,
                              (ObjectVersion(version.uuid, version.timestamp, STATE_ABORTED),)))
    return out


# A PutObject, copy or completion lasts minutes: an upload (not multipart)
# still uploading after this long was left by a node that crashed or lost
# its client mid-write. The upload of a version of its own is kept below
# newer versions until aborted (model/object.py), so nothing else ever
# removes it; a null one below a complete version is dropped by the merge.
STALE_UPLOAD_MS = DAY_MS


def stale_uploads(obj: Object, now_ms: int, upload_over=lambda upload_id: False) -> list:
    """Object entries aborting ``obj``'s left-over uploads (any bucket,
    lifecycle rules or not): uploads (not multipart) a day old, and
    multipart uploads that are over (``upload_over(upload_id)``: its
    ``mpu`` row is deleted) though their version came back as pending from
    a replica that missed the abort (``model/object.py``)."""
    stale = tuple(ObjectVersion(v.uuid, v.timestamp, STATE_ABORTED, versioned=v.versioned)
                  for v in obj.versions
                  if v.is_uploading and (
                      upload_over(v.uuid) if v.multipart
                      else now_ms - v.timestamp >= STALE_UPLOAD_MS))
    return [Object(obj.bucket_id, obj.key, stale)] if stale else []


def _expiration_marker(obj: Object, versioning: str | None, now_ms: int):
    """The delete marker that expires ``obj``'s current version, or None.

    With versioning Enabled it is a version of its own and deletes nothing,
    so Object Lock does not stop it. Otherwise it is the null marker, which
    replaces the null version: not while Object Lock protects that one.
    """
    versioned = versioning == "Enabled"
    if not versioned:
        null = obj.find_version(NULL_VERSION_ID)
        if null is not None and is_protected(null, now_ms):
            return None
    return ObjectVersion(secrets.token_bytes(32), max(now_ms, obj.max_timestamp() + 1),
                         STATE_COMPLETE, data=ObjectVersionData.delete_marker(),
                         versioned=versioned, suspended=versioning == "Suspended")


def _expired_noncurrent(obj: Object, complete: list, rules: list, now_ms: int) -> list:
    """The noncurrent versions (all of ``complete``, oldest first, but the
    last) that a NoncurrentVersionExpiration rule deletes now."""
    out = []
    last = len(complete) - 1
    for i, version in enumerate(complete[:-1]):
        # Noncurrent since its successor was written; ``newer`` noncurrent
        # versions stand between it and the current one.
        since = complete[i + 1].timestamp
        newer = last - 1 - i
        size, tags = _size_and_tags(version)
        if is_protected(version, now_ms):
            continue
        if any(rule_matches(r, obj.key, size, tags) and r.get("noncurrent_days") is not None
               and now_ms - since >= r["noncurrent_days"] * DAY_MS
               and newer >= (r.get("newer_noncurrent") or 0)
               for r in rules):
            out.append(version)
    return out


@dataclass(frozen=True)
class LifecycleProgress:
    """The worker's pass: what survives a restart.

    :param day: the day (days since the epoch) of the pass in progress or
        of the last one; -1: never.
    :param cursor: the object table key to resume from, or ``None``: no
        pass in progress.
    """

    day: int = -1
    cursor: bytes | None = None

    def to_cbor(self) -> list:
        return [self.day, self.cursor]

    @classmethod
    def from_cbor(cls, value) -> "LifecycleProgress":
        day, cursor = value
        return cls(day, None if cursor is None else bytes(cursor))


@implementer(IWorker)
class LifecycleWorker:
    """Applies lifecycle rules to this node's objects, once a day.

    :param model: the node's ``GarageModel``.
    :param kv_store: where the worker keeps its progress.
    :param is_leader: ``is_leader(partition hash) -> bool``: whether this
        node acts on that partition's objects.
    :param clock: ``IReactorTime``.
    """

    log = Logger()
    name = "lifecycle"

    def __init__(self, model, kv_store, is_leader, clock):
        self.model = model
        self.tree = kv_store.open_tree("lifecycle")
        self.is_leader = is_leader
        self.clock = clock
        self.next_idle_delay = None
        raw = self.tree.get(STATE_KEY)
        self.state = LifecycleProgress.from_cbor(codec.loads(raw)) if raw \
            else LifecycleProgress()
        raw = self.tree.get(LAST_COMPLETED_KEY)
        # The day of the last finished pass (kept apart from the state,
        # which a pass in progress overwrites).
        self.last_completed = codec.loads(raw) if raw else \
            (self.state.day if self.state.cursor is None and self.state.day >= 0 else None)
        self.expired = 0
        self.aborted = 0
        self.deleted = 0
        self.variables = {"lifecycle-last-completed": WorkerVariable(
            lambda: "never" if self.last_completed is None else
            rfc3339_msec(self.last_completed * DAY_MS)[:len("YYYY-MM-DD")])}

    def _save(self) -> None:
        self.tree.insert(STATE_KEY, codec.dumps(self.state.to_cbor()))

    def work(self, now_ms: int | None = None):
        return defer.ensureDeferred(self._work(now_ms))

    def _upload_over(self, upload_id: bytes) -> bool:
        """Whether this node's ``mpu`` row says the upload is over (a row
        this node does not hold says nothing: left to ListMultipartUploads,
        which aborts such leftovers again too)."""
        row = self.model.mpu_table.data.read_entry(upload_id, b"")
        return row is not None and row.deleted.value

    def _rules(self, bucket_id: bytes, cache: dict) -> tuple:
        """``(rules, versioning state)`` of a bucket (rules None: none, or
        no such bucket)."""
        if bucket_id not in cache:
            bucket = self.model.bucket_table.data.read_entry(EMPTY_PARTITION, bucket_id)
            params = None if bucket is None else bucket.params
            cache[bucket_id] = (None, None) if params is None else \
                (params.lifecycle_config.value, params.versioning_state)
        return cache[bucket_id]

    async def _work(self, now_ms):
        now = now_msec(self.clock) if now_ms is None else now_ms
        today = now // DAY_MS
        last_day, cursor = self.state.day, self.state.cursor
        self.next_idle_delay = None
        if cursor is None:
            if last_day == today:
                self.next_idle_delay = ((today + 1) * DAY_MS - now) / 1000 + 1
                return WorkerState.IDLE
            cursor = b""
            self.state = LifecycleProgress(today, cursor)
        data = self.model.object_table.data
        rows = list(data.rows.range(cursor, None, limit=BATCH))
        cache, inserts = {}, []
        for _, raw in rows:
            obj = data.schema.decode_entry(raw)
            if not self.is_leader(obj.partition_hash()):
                continue
            rules, versioning = self._rules(obj.bucket_id, cache)
            if rules:
                inserts += actions_for(obj, rules, now, versioning)
            inserts += stale_uploads(obj, now, self._upload_over)
        if inserts:
            await self.model.object_table.insert_many(inserts)
            for entry in inserts:
                version = entry.versions[0]
                if version.is_purged:
                    self.deleted += 1
                elif version.state == STATE_ABORTED:
                    self.aborted += 1
                else:
                    self.expired += 1
        if len(rows) < BATCH:
            self.state = LifecycleProgress(today, None)
            self._save()
            self.last_completed = today
            self.tree.insert(LAST_COMPLETED_KEY, codec.dumps(today))
            self.next_idle_delay = ((today + 1) * DAY_MS - now) / 1000 + 1
            return WorkerState.IDLE
        self.state = LifecycleProgress(today, bytes(rows[-1][0]) + b"\x00")
        self._save()
        return WorkerState.BUSY

    def status(self) -> dict:
        return {"last_pass_day": self.state.day, "in_progress": self.state.cursor is not None,
                "expired": self.expired, "aborted": self.aborted, "deleted": self.deleted}
