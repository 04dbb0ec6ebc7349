"""The object entry's merge: versions older than the newest complete one go,
except pending multipart uploads; and it stays a CRDT (commutative,
associative, idempotent) with them."""

import itertools
import random

from twisted.trial.unittest import TestCase

from garage_twisted.model.object import (
    DATA_INLINE, STATE_ABORTED, STATE_COMPLETE, STATE_UPLOADING, Object, ObjectVersion,
    ObjectVersionData, ObjectVersionMeta,
)

BUCKET = b"b" * 32


def _complete(uuid: bytes, timestamp: int) -> ObjectVersion:
    meta = ObjectVersionMeta((), 1, "e" * 32)
    return ObjectVersion(uuid, timestamp, STATE_COMPLETE,
                         data=ObjectVersionData(DATA_INLINE, meta, inline=b"x"))


def _obj(*versions) -> Object:
    return Object(BUCKET, "k", tuple(sorted(versions, key=ObjectVersion.cmp_key)))


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
            if state == STATE_UPLOADING:
                return ObjectVersion(key[1], key[0], state)
            return ObjectVersion(key[1], key[0], state)

        def entry() -> Object:
            chosen = rng.sample(keys, rng.randint(1, 3))
            # Built by merging, as a store does, so it is already filtered.
            result = _obj(version(chosen[0]))
            for key in chosen[1:]:
                result = result.merge(_obj(version(key)))
            return result

        for _ in range(400):
            a, b, c = entry(), entry(), entry()
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
