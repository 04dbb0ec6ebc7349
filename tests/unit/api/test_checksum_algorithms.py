"""CRC32C and CRC64-NVME from the native library: the published check
values, incremental updates, and the table-driven definition of each CRC
(reflected polynomial, all-ones start and final xor) on random data."""

import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3.checksum_algorithms import ChecksumAlgorithm, new_hasher

# The CRC catalogue's check value: the CRC of b"123456789".
CHECK = {ChecksumAlgorithm.CRC32C: 0xE3069283, ChecksumAlgorithm.CRC64NVME: 0xAE8B14860A799888}
POLYNOMIAL = {ChecksumAlgorithm.CRC32C: (0x82F63B78, 32),
              ChecksumAlgorithm.CRC64NVME: (0x9A6C9329AC4BC9B5, 64)}


def reference_crc(algorithm, data: bytes) -> int:
    poly, width = POLYNOMIAL[algorithm]
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ mask


class NativeCrcTests(SynchronousTestCase):

    def digest(self, algorithm, *pieces) -> int:
        hasher = new_hasher(algorithm)
        for piece in pieces:
            hasher.update(piece)
        return int.from_bytes(hasher.digest(), "big")

    def test_check_values(self):
        for algorithm, check in CHECK.items():
            self.assertEqual(self.digest(algorithm, b"123456789"), check, algorithm)
            self.assertEqual(self.digest(algorithm, b"1234", b"", b"56789"), check, algorithm)

    def test_against_the_definition(self):
        data = os.urandom(3000)
        for algorithm in CHECK:
            self.assertEqual(self.digest(algorithm, data[:1000], data[1000:]),
                             reference_crc(algorithm, data), algorithm)

    def test_digest_sizes(self):
        self.assertEqual(len(new_hasher(ChecksumAlgorithm.CRC32C).digest()), 4)
        self.assertEqual(len(new_hasher(ChecksumAlgorithm.CRC64NVME).digest()), 8)
