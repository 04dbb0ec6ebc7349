"""Bucket lifecycle: rules, and the daily worker that applies them.

A bucket's ``lifecycle_config`` register holds a list of rule dicts
(:func:`rule_matches` reads them): ``enabled``, a filter (``prefix``,
``size_gt``, ``size_lt``, ``tags``: [key, value] pairs the object must all
have), and actions: ``expire_days`` / ``expire_date``
(``YYYY-MM-DD``, UTC midnight) hide the object behind a delete marker;
``abort_mpu_days`` aborts multipart uploads started that many days ago.

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
    STATE_ABORTED, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
)
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


def actions_for(obj: Object, rules: list, now_ms: int) -> list:
    """Object entries to insert for ``obj`` under ``rules`` (maybe none)."""
    out = []
    data = obj.last_data_version()
    if data is not None:
        size = data.data.meta.size
        tags = data.tag_set
        if any(rule_matches(r, obj.key, size, tags) and expired(r, data.timestamp, now_ms)
               for r in rules):
            marker = ObjectVersion(secrets.token_bytes(32),
                                   max(now_ms, obj.max_timestamp() + 1), STATE_COMPLETE,
                                   data=ObjectVersionData.delete_marker())
            out.append(Object(obj.bucket_id, obj.key, (marker,)))
    for version in obj.versions:
        if not (version.is_uploading and version.multipart):
            continue
        if any(rule_matches(r, obj.key, None) and r.get("abort_mpu_days") is not None
               and now_ms - version.timestamp >= r["abort_mpu_days"] * DAY_MS
               for r in rules):
            out.append(Object(obj.bucket_id, obj.key,
                              (ObjectVersion(version.uuid, version.timestamp, STATE_ABORTED),)))
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
        self.variables = {"lifecycle-last-completed": WorkerVariable(
            lambda: "never" if self.last_completed is None else
            rfc3339_msec(self.last_completed * DAY_MS)[:len("YYYY-MM-DD")])}

    def _save(self) -> None:
        self.tree.insert(STATE_KEY, codec.dumps(self.state.to_cbor()))

    def work(self, now_ms: int | None = None):
        return defer.ensureDeferred(self._work(now_ms))

    def _rules(self, bucket_id: bytes, cache: dict):
        if bucket_id not in cache:
            bucket = self.model.bucket_table.data.read_entry(EMPTY_PARTITION, bucket_id)
            params = None if bucket is None else bucket.params
            cache[bucket_id] = None if params is None else params.lifecycle_config.value
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
            rules = self._rules(obj.bucket_id, cache)
            if rules and self.is_leader(obj.partition_hash()):
                inserts += actions_for(obj, rules, now)
        if inserts:
            await self.model.object_table.insert_many(inserts)
            for entry in inserts:
                if entry.versions[0].state == STATE_ABORTED:
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
                "expired": self.expired, "aborted": self.aborted}
