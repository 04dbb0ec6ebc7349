"""Checksums of multipart objects from their parts' checksums."""

import base64
import hashlib
import random
import zlib

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import checksum_of_parts as mc
from garage_twisted.api.s3.checksum_algorithms import ChecksumAlgorithm, encode, new_hasher


def checksum(algorithm, data: bytes) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return encode(hasher.digest())


class FullObjectTests(TestCase):
    def test_combined_crc_is_the_crc_of_the_whole(self):
        """For every CRC, combining the parts' CRCs (empty parts and parts
        of one size included) gives the CRC of the concatenation."""
        rng = random.Random(7)
        for algorithm in (ChecksumAlgorithm.CRC32, ChecksumAlgorithm.CRC32C,
                          ChecksumAlgorithm.CRC64NVME):
            for _ in range(10):
                parts = [rng.randbytes(rng.choice((0, 1, 100, 100, 4099)))
                         for _ in range(rng.randint(1, 6))]
                combined = mc.full_object(
                    algorithm, [(checksum(algorithm, p), len(p)) for p in parts])
                self.assertEqual(combined, checksum(algorithm, b"".join(parts)), algorithm)

    def test_crc32_against_zlib(self):
        parts = [b"a" * 1000, b"b" * 3]
        whole = zlib.crc32(b"".join(parts)).to_bytes(4, "big")
        self.assertEqual(mc.full_object(ChecksumAlgorithm.CRC32,
                                        [(checksum(ChecksumAlgorithm.CRC32, p), len(p))
                                         for p in parts]),
                         base64.b64encode(whole).decode())


class CompositeTests(TestCase):
    def test_checksum_of_checksums_with_count(self):
        parts = [b"one", b"two", b"three"]
        digests = [hashlib.sha1(p).digest() for p in parts]
        value = mc.composite(ChecksumAlgorithm.SHA1, [encode(d) for d in digests])
        self.assertEqual(value, encode(hashlib.sha1(b"".join(digests)).digest()) + "-3")
        self.assertEqual(mc.decode(value), hashlib.sha1(b"".join(digests)).digest())


class TypeTests(TestCase):
    def test_defaults_and_allowed_pairs(self):
        A = ChecksumAlgorithm
        self.assertEqual(mc.checksum_type(A.SHA256, None), mc.COMPOSITE)
        self.assertEqual(mc.checksum_type(A.CRC64NVME, None), mc.FULL_OBJECT)
        self.assertEqual(mc.checksum_type(A.CRC32, "full_object"), mc.FULL_OBJECT)
        self.assertIsNone(mc.checksum_type(A.SHA1, "FULL_OBJECT"))
        self.assertIsNone(mc.checksum_type(A.CRC64NVME, "COMPOSITE"))
        self.assertIsNone(mc.checksum_type(A.CRC32, "BOTH"))
