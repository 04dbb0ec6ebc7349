"""The lifecycle worker: its persisted progress (named fields, the bytes of
before), and what its rules do to an object's versions (versioning
Enabled, Suspended or never set; Object Lock)."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.model.lifecycle import (
    DAY_MS, STALE_UPLOAD_MS, STATE_KEY, LifecycleProgress, LifecycleWorker, actions_for,
    stale_uploads,
)
from garage_twisted.model.object import (
    DATA_DELETE_MARKER, DATA_INLINE, STATE_ABORTED, STATE_COMPLETE, STATE_UPLOADING, Object,
    ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util import codec
from garage_twisted.util.crdt import Lww


class LifecycleProgressTests(SynchronousTestCase):
    def test_progress_keeps_its_stored_bytes(self):
        """The progress is stored as the ``[day, cursor]`` CBOR list earlier
        releases wrote: a node's persisted state reads back, and is written
        back byte for byte."""
        self.assertEqual(codec.dumps(LifecycleProgress().to_cbor()), bytes.fromhex("8220f6"))
        store = MemoryStore()
        tree = store.open_tree("lifecycle")
        for old in ([19_700, b"bucket\x00key\x00"], [19_700, None]):
            raw = codec.dumps(old)
            tree.insert(STATE_KEY, raw)
            worker = LifecycleWorker(None, store, lambda _hash: True, Clock())
            self.assertEqual(worker.state, LifecycleProgress(*old))
            self.assertEqual(worker.status()["in_progress"], old[1] is not None)
            worker._save()
            self.assertEqual(bytes(tree.get(STATE_KEY)), raw)
        # A finished pass found on disk is the last completed one.
        self.assertEqual(worker.last_completed, 19_700)


BUCKET = b"b" * 32
NOW = 1_800_000_000_000


def _data(n: int, timestamp: int, versioned=True, size=1, tags=(), **fields):
    meta = ObjectVersionMeta((), size, "e" * 32, tags=tags)
    return ObjectVersion(bytes([n]) * 32, timestamp, STATE_COMPLETE, versioned=versioned,
                         data=ObjectVersionData(DATA_INLINE, meta, inline=b"x" * size),
                         **fields)


def _marker(n: int, timestamp: int, versioned=True):
    return ObjectVersion(bytes([n]) * 32, timestamp, STATE_COMPLETE, versioned=versioned,
                         data=ObjectVersionData.delete_marker())


def _obj(*versions, key="k") -> Object:
    return Object(BUCKET, key, tuple(sorted(versions, key=ObjectVersion.cmp_key)))


def _rule(**fields) -> dict:
    rule = {"id": "r", "enabled": True, "prefix": None, "size_gt": None, "size_lt": None,
            "expire_days": None, "expire_date": None, "expire_delete_marker": None,
            "noncurrent_days": None, "newer_noncurrent": None, "abort_mpu_days": None}
    rule.update(fields)
    return rule


def _applied(obj: Object, entries: list) -> Object:
    for entry in entries:
        obj = obj.merge(entry)
    return obj


def _purged(entries: list) -> list:
    """The uuids (first byte) of the versions ``entries`` delete for good."""
    out = []
    for entry in entries:
        (version,) = entry.versions
        if version.is_purged:
            out.append(version.uuid[0])
    return sorted(out)


class CurrentExpirationTests(SynchronousTestCase):
    """Expiration (Days, Date) of the current version, by versioning state."""

    def test_enabled_adds_a_marker_of_its_own_and_keeps_the_data(self):
        obj = _obj(_data(1, NOW - 3 * DAY_MS), _data(2, NOW - 2 * DAY_MS))
        (entry,) = actions_for(obj, [_rule(expire_days=2)], NOW, "Enabled")
        (marker,) = entry.versions
        self.assertEqual((marker.state, marker.data.kind, marker.versioned),
                         (STATE_COMPLETE, DATA_DELETE_MARKER, True))
        self.assertGreaterEqual(marker.timestamp, NOW)
        after = _applied(obj, [entry])
        self.assertEqual(after.latest_version(), marker)
        self.assertEqual([v.uuid[0] for v in after.versions if v.is_data], [1, 2])
        # Not due yet, or the current version already a marker: nothing.
        self.assertEqual(actions_for(obj, [_rule(expire_days=3)], NOW, "Enabled"), [])
        self.assertEqual(actions_for(after, [_rule(expire_days=1)], NOW + DAY_MS,
                                     "Enabled"), [])

    def test_suspended_adds_the_null_marker_which_replaces_the_null_version(self):
        obj = _obj(_data(1, NOW - 3 * DAY_MS), _data(2, NOW - 2 * DAY_MS, versioned=False))
        (entry,) = actions_for(obj, [_rule(expire_date="2020-01-01")], NOW, "Suspended")
        self.assertFalse(entry.versions[0].versioned)
        after = _applied(obj, [entry])
        self.assertEqual([(v.uuid[0], v.is_data) for v in after.versions],
                         [(1, True), (entry.versions[0].uuid[0], False)])

    def test_unversioned_as_before(self):
        obj = _obj(_data(1, NOW - 2 * DAY_MS, versioned=False))
        (entry,) = actions_for(obj, [_rule(expire_days=1)], NOW)
        self.assertFalse(entry.versions[0].versioned)
        self.assertTrue(_applied(obj, [entry]).is_tombstone())

    def test_a_locked_current_version_still_gets_its_marker(self):
        """A marker of its own removes nothing, so Object Lock allows it."""
        for locked in ({"retention": Lww(1, ("COMPLIANCE", NOW + DAY_MS))},
                       {"legal_hold": Lww(1, True)}):
            obj = _obj(_data(1, NOW - 2 * DAY_MS, **locked))
            (entry,) = actions_for(obj, [_rule(expire_days=1)], NOW, "Enabled")
            self.assertTrue(entry.versions[0].versioned)
            self.assertEqual(_applied(obj, [entry]).versions[0], obj.versions[0])

    def test_a_null_marker_never_replaces_a_locked_null_version(self):
        obj = _obj(_data(1, NOW - 2 * DAY_MS, versioned=False, legal_hold=Lww(1, True)))
        self.assertEqual(actions_for(obj, [_rule(expire_days=1)], NOW, "Suspended"), [])


class NoncurrentExpirationTests(SynchronousTestCase):
    """NoncurrentVersionExpiration: days since a version was replaced."""

    def test_days_count_from_the_successor(self):
        obj = _obj(_data(1, NOW - 10 * DAY_MS), _data(2, NOW - 3 * DAY_MS),
                   _data(3, NOW - DAY_MS))
        rules = [_rule(noncurrent_days=3)]
        entries = actions_for(obj, rules, NOW, "Enabled")
        # 1 was replaced 3 days ago, 2 a day ago; 3 is current.
        self.assertEqual(_purged(entries), [1])
        (record,) = entries[0].versions
        self.assertEqual(record, ObjectVersion(obj.versions[0].uuid, NOW - 10 * DAY_MS,
                                               STATE_ABORTED, versioned=True, was_null=False))
        after = _applied(obj, entries)
        self.assertEqual([v.uuid[0] for v in after.versions if v.is_complete], [2, 3])
        self.assertEqual(_purged(actions_for(after, rules, NOW + 2 * DAY_MS, "Enabled")), [2])

    def test_newer_noncurrent_versions_are_retained(self):
        """With NewerNoncurrentVersions 2, the two newest noncurrent versions
        stay however old; older ones go once old enough."""
        obj = _obj(*[_data(n, NOW - (10 - n) * DAY_MS) for n in range(1, 7)])
        rules = [_rule(noncurrent_days=1, newer_noncurrent=2)]
        # 6 is current; 4 and 5 are the two newest noncurrent.
        self.assertEqual(_purged(actions_for(obj, rules, NOW, "Enabled")), [1, 2, 3])
        rules = [_rule(noncurrent_days=7, newer_noncurrent=2)]
        # Only 1 (replaced 8 days ago) and 2 (7) are old enough; 3 (6) is not.
        self.assertEqual(_purged(actions_for(obj, rules, NOW, "Enabled")), [1, 2])

    def test_null_versions_and_markers_are_versions_too(self):
        obj = _obj(_data(1, NOW - 9 * DAY_MS, versioned=False), _marker(2, NOW - 8 * DAY_MS),
                   _data(3, NOW - 7 * DAY_MS))
        entries = actions_for(obj, [_rule(noncurrent_days=1)], NOW, "Suspended")
        self.assertEqual(_purged(entries), [1, 2])
        was_null = {e.versions[0].uuid[0]: e.versions[0].was_null for e in entries}
        self.assertEqual(was_null, {1: True, 2: False})
        after = _applied(obj, entries)
        self.assertEqual([v.uuid[0] for v in after.versions if v.is_complete], [3])
        self.assertIsNone(after.find_version("null"))

    def test_locked_versions_are_kept(self):
        obj = _obj(_data(1, NOW - 9 * DAY_MS, retention=Lww(1, ("GOVERNANCE", NOW + 1))),
                   _data(2, NOW - 8 * DAY_MS, legal_hold=Lww(1, True)),
                   _data(3, NOW - 7 * DAY_MS, retention=Lww(1, ("COMPLIANCE", NOW - DAY_MS))),
                   _data(4, NOW - 6 * DAY_MS))
        rules = [_rule(noncurrent_days=1)]
        # 1's retention runs (with the clock margin), 2 is held; 3's is over.
        self.assertEqual(_purged(actions_for(obj, rules, NOW, "Enabled")), [3])
        self.assertEqual(_purged(actions_for(obj, rules, NOW + 3600_000, "Enabled")), [1, 3])

    def test_filters_see_each_versions_own_size_and_tags(self):
        obj = _obj(_data(1, NOW - 9 * DAY_MS, size=10, tags=(("t", "x"),)),
                   _data(2, NOW - 8 * DAY_MS, size=1000),
                   _data(3, NOW - 7 * DAY_MS, size=10, tags=(("t", "x"),)),
                   _marker(4, NOW - 6 * DAY_MS), _data(5, NOW - 5 * DAY_MS, size=5000))
        self.assertEqual(_purged(actions_for(obj, [_rule(noncurrent_days=1, size_gt=100)],
                                             NOW, "Enabled")), [2])
        self.assertEqual(_purged(actions_for(obj, [_rule(noncurrent_days=1, size_lt=100)],
                                             NOW, "Enabled")), [1, 3, 4])
        self.assertEqual(_purged(actions_for(obj, [_rule(noncurrent_days=1,
                                                         tags=[["t", "x"]])],
                                             NOW, "Enabled")), [1, 3])
        self.assertEqual(_purged(actions_for(obj, [_rule(noncurrent_days=1, prefix="other")],
                                             NOW, "Enabled")), [])

    def test_no_noncurrent_versions_in_a_bucket_never_versioned(self):
        obj = _obj(_data(1, NOW - 9 * DAY_MS, versioned=False))
        self.assertEqual(actions_for(obj, [_rule(noncurrent_days=1)], NOW), [])


class ExpiredDeleteMarkerTests(SynchronousTestCase):
    """A delete marker left alone is removed (ExpiredObjectDeleteMarker, or
    an Expiration by age that the marker itself has reached)."""

    def test_a_lone_marker_goes_whatever_its_age(self):
        rules = [_rule(expire_delete_marker=True)]
        for versioning, versioned in (("Enabled", True), ("Suspended", False)):
            obj = _obj(_marker(1, NOW - 1, versioned=versioned))
            entries = actions_for(obj, rules, NOW, versioning)
            self.assertEqual(_purged(entries), [1])
            self.assertEqual(entries[0].versions[0].was_null, not versioned)
            self.assertTrue(_applied(obj, entries).is_tombstone())

    def test_a_marker_with_versions_behind_it_stays(self):
        rules = [_rule(expire_delete_marker=True)]
        for behind in (_data(1, NOW - DAY_MS), _marker(1, NOW - DAY_MS)):
            obj = _obj(behind, _marker(2, NOW - 1))
            self.assertNotIn(2, _purged(actions_for(obj, rules, NOW, "Enabled")))
        # Once what was behind it is deleted for good, it goes.
        gone = ObjectVersion(bytes([1]) * 32, NOW - DAY_MS, STATE_ABORTED, versioned=True)
        obj = _obj(gone, _marker(2, NOW - 1))
        self.assertEqual(_purged(actions_for(obj, rules, NOW, "Enabled")), [2])

    def test_false_does_nothing(self):
        obj = _obj(_marker(1, NOW - 10 * DAY_MS))
        self.assertEqual(actions_for(obj, [_rule(expire_delete_marker=False)], NOW,
                                     "Enabled"), [])

    def test_expiration_days_removes_a_lone_marker_as_old(self):
        obj = _obj(_marker(1, NOW - 2 * DAY_MS))
        self.assertEqual(_purged(actions_for(obj, [_rule(expire_days=2)], NOW, "Enabled")),
                         [1])
        self.assertEqual(actions_for(obj, [_rule(expire_days=3)], NOW, "Enabled"), [])
        # A rule filtering on tags never matches a marker (it has none).
        self.assertEqual(actions_for(obj, [_rule(expire_days=1, tags=[["a", "b"]])], NOW,
                                     "Enabled"), [])

    def test_a_null_marker_in_a_bucket_never_versioned_is_left_to_the_gc(self):
        obj = _obj(_marker(1, NOW - 2 * DAY_MS, versioned=False))
        self.assertEqual(actions_for(obj, [_rule(expire_delete_marker=True)], NOW), [])


class StaleUploadTests(SynchronousTestCase):
    def test_uploads_left_a_day_are_aborted_whatever_the_rules(self):
        """The upload of a version of its own stays below newer versions
        until aborted; one left by a crashed write is aborted after a day
        (multipart uploads are the rules' business)."""
        now = 100 * 24 * 3600 * 1000
        left = ObjectVersion(b"l" * 32, now - STALE_UPLOAD_MS, STATE_UPLOADING, versioned=True)
        fresh = ObjectVersion(b"f" * 32, now - 1000, STATE_UPLOADING, versioned=True)
        multipart = ObjectVersion(b"m" * 32, 1, STATE_UPLOADING, multipart=True)
        obj = Object(b"b" * 32, "k", (multipart, left, fresh))
        (entry,) = stale_uploads(obj, now)
        self.assertEqual([(v.uuid, v.state) for v in entry.versions],
                         [(b"l" * 32, STATE_ABORTED)])
        merged = obj.merge(entry)
        self.assertTrue(next(v for v in merged.versions if v.uuid == b"l" * 32).is_purged)
        self.assertEqual(stale_uploads(Object(b"b" * 32, "k", (fresh,)), now), [])

    def test_multipart_uploads_over_are_aborted_again(self):
        """A pending multipart version whose upload is over (its mpu row
        deleted: a replica that missed the abort brought it back) is
        aborted; a live one is left to the rules."""
        now = 100 * 24 * 3600 * 1000
        over = ObjectVersion(b"o" * 32, 1, STATE_UPLOADING, multipart=True)
        live = ObjectVersion(b"l" * 32, 2, STATE_UPLOADING, multipart=True)
        obj = Object(b"b" * 32, "k", (over, live))
        (entry,) = stale_uploads(obj, now, lambda upload_id: upload_id == b"o" * 32)
        self.assertEqual([(v.uuid, v.state) for v in entry.versions],
                         [(b"o" * 32, STATE_ABORTED)])
