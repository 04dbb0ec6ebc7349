"""Object Lock in the model: what protects a version, how its registers
encode and merge, and how versions are found and counted."""

import itertools
from dataclasses import replace

from twisted.trial.unittest import TestCase

from garage_twisted.model.counter import object_counts
from garage_twisted.model.object import (
    DATA_INLINE, STATE_ABORTED, STATE_COMPLETE, Object, ObjectVersion, ObjectVersionData,
    ObjectVersionMeta, version_id_of,
)
from garage_twisted.model.object_lock import (
    CLOCK_MARGIN_MS, DAY_MS, default_retention, deletion_refusal, is_protected,
)
from garage_twisted.util.crdt import Lww

BUCKET = b"b" * 32
NOW = 1_800_000_000_000


def _version(uuid: bytes, timestamp: int, versioned=True, size=1, **fields) -> ObjectVersion:
    meta = ObjectVersionMeta((), size, "e" * 32)
    return ObjectVersion(uuid, timestamp, STATE_COMPLETE, versioned=versioned,
                         data=ObjectVersionData(DATA_INLINE, meta, inline=b"x" * size),
                         **fields)


def _marker(uuid: bytes, timestamp: int, versioned=True) -> ObjectVersion:
    return ObjectVersion(uuid, timestamp, STATE_COMPLETE, versioned=versioned,
                         data=ObjectVersionData.delete_marker())


def _obj(*versions) -> Object:
    return Object(BUCKET, "k", tuple(sorted(versions, key=ObjectVersion.cmp_key)))


class ProtectionTests(TestCase):
    def test_compliance_yields_to_nobody_until_its_date_and_the_margin(self):
        version = _version(b"a" * 32, 1, retention=Lww(1, ("COMPLIANCE", NOW)))
        for now in (NOW - DAY_MS, NOW, NOW + CLOCK_MARGIN_MS - 1):
            self.assertIsNotNone(deletion_refusal(version, now, bypass_governance=True))
            self.assertTrue(is_protected(version, now))
        self.assertIsNone(deletion_refusal(version, NOW + CLOCK_MARGIN_MS, False))
        self.assertFalse(is_protected(version, NOW + CLOCK_MARGIN_MS))

    def test_governance_yields_to_a_bypass_only(self):
        version = _version(b"a" * 32, 1, retention=Lww(1, ("GOVERNANCE", NOW)))
        self.assertIsNotNone(deletion_refusal(version, NOW - 1, False))
        self.assertIsNone(deletion_refusal(version, NOW - 1, True))

    def test_a_legal_hold_yields_to_nobody_until_lifted(self):
        held = _version(b"a" * 32, 1, legal_hold=Lww(1, True))
        self.assertIsNotNone(deletion_refusal(held, NOW * 2, True))
        lifted = replace(held, legal_hold=Lww(2, False))
        self.assertIsNone(deletion_refusal(lifted, NOW, False))
        self.assertIsNone(deletion_refusal(_version(b"b" * 32, 1), NOW, False))

    def test_default_retention(self):
        self.assertEqual(default_retention(("GOVERNANCE", 2, None), NOW),
                         ("GOVERNANCE", NOW + 2 * DAY_MS))
        self.assertEqual(default_retention(("COMPLIANCE", None, 1), NOW),
                         ("COMPLIANCE", NOW + 365 * DAY_MS))
        self.assertIsNone(default_retention(None, NOW))


class RegisterTests(TestCase):
    def test_encoding_round_trips(self):
        for version in (
            _version(b"a" * 32, 1, retention=Lww(3, ("COMPLIANCE", NOW))),
            _version(b"a" * 32, 1, legal_hold=Lww(4, True)),
            _version(b"a" * 32, 1, versioned=False, legal_hold=Lww(4, False)),
            _version(b"a" * 32, 1, tags=Lww(2, (("k", "v"),)),
                     retention=Lww(3, ("GOVERNANCE", NOW)), legal_hold=Lww(4, True)),
            _version(b"a" * 32, 1, acl=Lww(5, "public-read")),
        ):
            self.assertEqual(ObjectVersion.from_cbor(version.to_cbor()), version)
        # A version without registers keeps its old, shorter encoding.
        self.assertEqual(len(_version(b"a" * 32, 1, versioned=False).to_cbor()), 4)

    def test_registers_merge_as_crdts(self):
        """Retention and legal hold changes made on different replicas meet
        in any order to the same version (the newest change of each)."""
        base = _version(b"a" * 32, 1)
        changes = [replace(base, retention=Lww(5, ("GOVERNANCE", NOW))),
                   replace(base, retention=Lww(7, ("COMPLIANCE", NOW + 1))),
                   replace(base, legal_hold=Lww(6, True)),
                   replace(base, legal_hold=Lww(9, False))]
        expected = None
        for order in itertools.permutations(changes):
            entry = _obj(order[0])
            for change in order[1:]:
                entry = entry.merge(_obj(change))
            if expected is None:
                expected = entry.versions
            self.assertEqual(entry.versions, expected)
        (merged,) = expected
        self.assertEqual(merged.retention, Lww(7, ("COMPLIANCE", NOW + 1)))
        self.assertEqual(merged.legal_hold, Lww(9, False))

    def test_a_deletion_record_drops_the_registers(self):
        locked = _version(b"a" * 32, 1, retention=Lww(5, ("GOVERNANCE", NOW)))
        record = ObjectVersion(b"a" * 32, 1, STATE_ABORTED, versioned=True)
        merged = _obj(locked).merge(_obj(record))
        self.assertTrue(merged.versions[0].is_purged)
        self.assertEqual(ObjectVersion.from_cbor(merged.versions[0].to_cbor()),
                         merged.versions[0])


class FindAndCountTests(TestCase):
    def test_versions_are_found_by_their_ids(self):
        null = _version(b"n" * 32, 100, versioned=False)
        own = _version(b"o" * 32, 200)
        marker = _marker(b"m" * 32, 300)
        entry = _obj(null, own, marker)
        self.assertIs(entry.find_version("null"), null)
        self.assertIs(entry.find_version(version_id_of(own)), own)
        self.assertIs(entry.find_version(version_id_of(marker)), marker)
        self.assertIs(entry.latest_version(), marker)
        self.assertIsNone(entry.last_data_version())
        self.assertIsNone(entry.find_version("0" * 64))
        # The null version deleted by id is found no more.
        deleted = entry.merge(_obj(ObjectVersion(b"n" * 32, 100, STATE_ABORTED,
                                                 versioned=True, was_null=True)))
        self.assertIsNone(deleted.find_version("null"))
        self.assertIs(deleted.find_version(version_id_of(own)), own)

    def test_every_stored_version_counts(self):
        entry = _obj(_version(b"n" * 32, 100, versioned=False, size=3),
                     _version(b"o" * 32, 200, size=5), _marker(b"m" * 32, 300))
        self.assertEqual(object_counts(entry), [2, 8, 0])
        self.assertEqual(object_counts(None), [0, 0, 0])


class SuspendedNullVersionTests(TestCase):
    def test_a_suspended_null_marker_is_no_tombstone(self):
        """A null delete marker written while versioning is Suspended is a
        version S3 lists: it keeps its entry (and bucket); one written in a
        bucket that never had versioning is an internal tombstone."""
        internal = _marker(b"m" * 32, 1, versioned=False)
        listed = replace(internal, suspended=True)
        self.assertTrue(_obj(internal).is_tombstone())
        self.assertFalse(_obj(listed).is_tombstone())
        self.assertEqual(ObjectVersion.from_cbor(listed.to_cbor()), listed)
        self.assertEqual(len(internal.to_cbor()), 4)
        deleted = _obj(listed).merge(_obj(ObjectVersion(b"m" * 32, 1, STATE_ABORTED,
                                                        versioned=True, was_null=True)))
        self.assertTrue(deleted.is_tombstone())
