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
