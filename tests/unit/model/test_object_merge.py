"""The object entry's merge: versions older than the newest complete one go,
except pending multipart uploads; and it stays a CRDT (commutative,
associative, idempotent) with them."""

import itertools
import random
from dataclasses import replace

from twisted.trial.unittest import TestCase

from garage_twisted.model.object import (
    DATA_INLINE, STATE_ABORTED, STATE_COMPLETE, STATE_UPLOADING, Object, ObjectVersion,
    ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util.crdt import Lww

BUCKET = b"b" * 32


def _complete(uuid: bytes, timestamp: int) -> ObjectVersion:
    meta = ObjectVersionMeta((), 1, "e" * 32)
    return ObjectVersion(uuid, timestamp, STATE_COMPLETE,
                         data=ObjectVersionData(DATA_INLINE, meta, inline=b"x"))


def _obj(*versions) -> Object:
    return Object(BUCKET, "k", tuple(sorted(versions, key=ObjectVersion.cmp_key)))


def _random_entry(rng, keys, version, most: int) -> Object:
    """An entry of 1 to ``most`` of ``keys``, each ``version(key)``, built
    by merging as a store does (so already filtered)."""
    chosen = rng.sample(keys, rng.randint(1, most))
    result = _obj(version(chosen[0]))
    for key in chosen[1:]:
        result = result.merge(_obj(version(key)))
    return result


class PendingMultipartTests(TestCase):
    def test_put_completed_later_keeps_a_pending_multipart_upload(self):
        upload = ObjectVersion(b"m" * 32, 100, STATE_UPLOADING, multipart=True)
        single = ObjectVersion(b"s" * 32, 150, STATE_UPLOADING)
        put = _complete(b"p" * 32, 200)
        merged = _obj(upload, single).merge(_obj(put))
        self.assertEqual([v.uuid for v in merged.versions], [b"m" * 32, b"p" * 32])

    def test_an_aborted_upload_below_a_complete_version_goes(self):
        upload = ObjectVersion(b"m" * 32, 100, STATE_UPLOADING, multipart=True)
        put = _complete(b"p" * 32, 200)
        kept = _obj(upload).merge(_obj(put))
        merged = kept.merge(_obj(ObjectVersion(b"m" * 32, 100, STATE_ABORTED)))
        self.assertEqual([v.uuid for v in merged.versions], [b"p" * 32])

    def test_crdt_laws_hold(self):
        """Random entries of uploading, complete and aborted versions over
        few cmp keys (so states collide), and pending multipart uploads.

        A multipart upload's version is only ever uploading here: once
        aborted below a complete version it is dropped, and an entry still
        holding it pending brings it back (the leftover ListMultipartUploads
        cleans, ``model/object.py``), so merges then depend on their order."""
        rng = random.Random(23)
        keys = [(t, bytes([u]) * 32) for t in (100, 200, 300) for u in (1, 2)]
        multipart = {(t, u): t == 200 for t, u in keys}
        # Each plain version has one fate, as an upload has: it completes or
        # it is aborted (a complete version later aborted would make even
        # Garage's rule depend on the order of merges).
        fate = {k: rng.choice((STATE_COMPLETE, STATE_ABORTED)) for k in keys}

        def version(key) -> ObjectVersion:
            if multipart[key]:
                return ObjectVersion(key[1], key[0], STATE_UPLOADING, multipart=True)
            state = rng.choice((STATE_UPLOADING, fate[key]))
            if state == STATE_COMPLETE:
                return _complete(key[1], key[0])
            return ObjectVersion(key[1], key[0], state)

        for _ in range(400):
            a, b, c = (_random_entry(rng, keys, version, 3) for _ in range(3))
            self.assertEqual(a.merge(b).versions, b.merge(a).versions)
            self.assertEqual(a.merge(b).merge(c).versions, a.merge(b.merge(c)).versions)
            self.assertEqual(a.merge(a).versions, a.versions)
            for x, y, z in itertools.permutations((a, b, c)):
                # Any order of merges gives the same entry.
                self.assertEqual(x.merge(y).merge(z).versions, a.merge(b).merge(c).versions)

    def test_any_order_of_two_converges_with_a_leftover(self):
        """The leftover case still converges: two replicas that exchange
        entries end equal (commutativity), the pending state winning."""
        upload = ObjectVersion(b"m" * 32, 100, STATE_UPLOADING, multipart=True)
        put = _complete(b"p" * 32, 200)
        missed_abort = _obj(upload, put)
        saw_abort = _obj(upload, put).merge(
            _obj(ObjectVersion(b"m" * 32, 100, STATE_ABORTED)))
        self.assertEqual([v.uuid for v in saw_abort.versions], [b"p" * 32])
        self.assertEqual(missed_abort.merge(saw_abort).versions,
                         saw_abort.merge(missed_abort).versions)
        self.assertTrue(missed_abort.merge(saw_abort).versions[0].is_pending_multipart)


def _versioned(uuid: bytes, timestamp: int) -> ObjectVersion:
    return replace(_complete(uuid, timestamp), versioned=True)


def _purged(uuid: bytes, timestamp: int) -> ObjectVersion:
    return ObjectVersion(uuid, timestamp, STATE_ABORTED, versioned=True)


class VersionedRetentionTests(TestCase):
    def uuids(self, entry) -> list:
        return [v.uuid[:1] for v in entry.versions]

    def test_versions_of_their_own_stay_below_newer_ones(self):
        merged = _obj(_versioned(b"a" * 32, 100)).merge(_obj(_versioned(b"b" * 32, 200)))
        merged = merged.merge(_obj(_versioned(b"c" * 32, 300)))
        self.assertEqual(self.uuids(merged), [b"a", b"b", b"c"])
        self.assertEqual(merged.last_data_version().uuid, b"c" * 32)

    def test_the_null_version_stays_until_a_newer_null_one(self):
        """Versioning enabled over an existing object: that object (the null
        version) stays below the new versions; a write while Suspended (a
        newer null version) replaces it, and only it."""
        entry = _obj(_complete(b"n" * 32, 100)).merge(_obj(_versioned(b"v" * 32, 200)))
        self.assertEqual(self.uuids(entry), [b"n", b"v"])
        entry = entry.merge(_obj(_complete(b"m" * 32, 300)))
        self.assertEqual(self.uuids(entry), [b"v", b"m"])

    def test_a_deleted_version_leaves_its_record(self):
        entry = _obj(_versioned(b"a" * 32, 100), _versioned(b"b" * 32, 200))
        entry = entry.merge(_obj(_purged(b"a" * 32, 100)))
        self.assertEqual([(v.uuid[:1], v.is_purged) for v in entry.versions],
                         [(b"a", True), (b"b", False)])
        self.assertFalse(entry.is_tombstone())
        # A replica that missed the deletion does not bring the version back.
        stale = _obj(_versioned(b"a" * 32, 100))
        self.assertTrue(entry.merge(stale).versions[0].is_purged)
        self.assertTrue(stale.merge(entry).versions[0].is_purged)
        entry = entry.merge(_obj(_purged(b"b" * 32, 200)))
        self.assertTrue(entry.is_tombstone())
        # A version's own delete marker is a version: kept, listed.
        marker = replace(_complete(b"d" * 32, 300), versioned=True,
                         data=ObjectVersionData.delete_marker())
        self.assertFalse(_obj(marker).is_tombstone())

    def test_deleting_the_null_version_brings_no_older_one_back(self):
        """n1 replaced by n2, then n2 deleted by id: whatever order a replica
        learns these in, n1 stays replaced."""
        n1, n2 = _obj(_complete(b"1" * 32, 100)), _obj(_complete(b"2" * 32, 200))
        deleted = _obj(replace(_purged(b"2" * 32, 200), was_null=True))
        for x, y, z in itertools.permutations((n1, n2, deleted)):
            merged = x.merge(y).merge(z)
            self.assertEqual([(v.uuid[:1], v.is_purged) for v in merged.versions],
                             [(b"2", True)])
            self.assertIsNone(merged.last_data_version())

    def test_encoding(self):
        for version in (_versioned(b"a" * 32, 1), _purged(b"a" * 32, 1),
                        replace(_purged(b"a" * 32, 1), was_null=True),
                        replace(_versioned(b"a" * 32, 1), tags=Lww(5, (("k", "v"),)))):
            self.assertEqual(ObjectVersion.from_cbor(version.to_cbor()), version)
        self.assertEqual(len(_complete(b"a" * 32, 1).to_cbor()), 4)

    def test_crdt_laws_with_versions_of_their_own(self):
        """Each uuid follows one history, as the API writes it: uploading,
        then complete (null or a version of its own), then for a version of
        its own maybe deleted; or uploading then aborted."""
        rng = random.Random(25)
        keys = [(t, bytes([u]) * 32) for t in (100, 200, 300, 400) for u in (1, 2)]
        fates = {k: rng.choice(("null", "null-deleted", "own", "own-deleted", "aborted",
                                "own-aborted"))
                 for k in keys}

        def version(key) -> ObjectVersion:
            fate = fates[key]
            # The upload of a version of its own is one too (kept below
            # newer versions until it completes or is aborted).
            steps = [ObjectVersion(key[1], key[0], STATE_UPLOADING,
                                   versioned=fate.startswith("own"))]
            if fate.endswith("aborted"):
                # Aborted as it was uploaded (put.abort_versions).
                steps.append(ObjectVersion(key[1], key[0], STATE_ABORTED,
                                           versioned=fate.startswith("own")))
            else:
                null = fate.startswith("null")
                steps.append(_complete(key[1], key[0]) if null
                             else _versioned(key[1], key[0]))
                if fate.endswith("-deleted"):
                    steps.append(replace(_purged(key[1], key[0]), was_null=null))
            return rng.choice(steps)

        for _ in range(400):
            a, b, c = (_random_entry(rng, keys, version, 4) for _ in range(3))
            self.assertEqual(a.merge(b).versions, b.merge(a).versions)
            self.assertEqual(a.merge(a).versions, a.versions)
            expected = a.merge(b).merge(c).versions
            for x, y, z in itertools.permutations((a, b, c)):
                self.assertEqual(x.merge(y).merge(z).versions, expected)
