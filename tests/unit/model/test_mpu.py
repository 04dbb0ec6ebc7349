"""Multipart upload entries: encoding of parts, with and without checksums."""

from twisted.trial.unittest import TestCase

from garage_twisted.model.mpu import MpuPart, MultipartUpload


class MpuPartTests(TestCase):
    def test_parts_without_checksum_encode_as_before(self):
        part = MpuPart(b"v" * 32, "e" * 32, 5)
        self.assertEqual(part.to_cbor(), [b"v" * 32, "e" * 32, 5])
        self.assertEqual(MpuPart.from_cbor([b"v" * 32, "e" * 32, 5]), part)

    def test_checksum_round_trips_and_merges(self):
        unfinished = MpuPart(b"v" * 32)
        finished = MpuPart(b"v" * 32, "e" * 32, 5, "q83vEg==")
        self.assertEqual(MpuPart.from_cbor(finished.to_cbor()), finished)
        self.assertEqual(unfinished.merge(finished), finished)
        self.assertEqual(finished.merge(unfinished), finished)

    def test_upload_entry_round_trips(self):
        upload = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key").with_part(
            1, 1001, MpuPart(b"v" * 32, "e" * 32, 5, "q83vEg=="))
        self.assertEqual(MultipartUpload.from_cbor(upload.to_cbor()), upload)


class CompletedAsTests(TestCase):
    """A completed upload's row records the version it completed into."""

    def test_round_trip_and_old_rows(self):
        done = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key", deleted=True,
                                   completed_as=b"c" * 32)
        self.assertEqual(MultipartUpload.from_cbor(done.to_cbor()), done)
        # A row without the field (written before it existed) still decodes.
        plain = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key", deleted=True)
        self.assertEqual(len(plain.to_cbor()), 6)
        self.assertIsNone(MultipartUpload.from_cbor(plain.to_cbor()).completed_as)

    def test_merge_keeps_it_whatever_the_order(self):
        live = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key").with_part(
            1, 1001, MpuPart(b"v" * 32, "e" * 32, 5))
        aborted_by_cascade = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key",
                                                 deleted=True)
        done = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key", deleted=True,
                                   completed_as=b"c" * 32)
        other = MultipartUpload.new(b"u" * 32, 1000, b"b" * 32, "key", deleted=True,
                                    completed_as=b"d" * 32)
        for a, b in ((live, done), (done, live), (aborted_by_cascade, done),
                     (done, aborted_by_cascade)):
            merged = a.merge(b)
            self.assertTrue(merged.deleted.value)
            self.assertEqual(merged.completed_as, b"c" * 32)
            self.assertFalse(merged.parts.entries)
        self.assertEqual(done.merge(other), other.merge(done))
