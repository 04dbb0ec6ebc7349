"""Block payloads: the block name function and the stored forms."""

import hashlib
import os

from twisted.trial import unittest

from garage_twisted.block.data import (SAMPLE_PIECE, SAMPLED_MIN, SODIUM_HASH_MIN, DataBlock,
                                       blake2sum, block_hash, compress, hash_matches)
from garage_twisted.block.errors import CorruptBlock

# BLAKE3's published test vectors (the first 32 bytes of each extended
# output): the input is bytes 0, 1, ..., 250, 0, 1, ... of each length.
BLAKE3_VECTORS = {
    0: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    1: "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    1024: "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
}


def vector_input(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


class BlockHashTests(unittest.TestCase):
    def test_blocks_are_named_by_blake3(self):
        for length, expected in BLAKE3_VECTORS.items():
            data = vector_input(length)
            self.assertEqual(block_hash(data).hex(), expected, length)
            self.assertEqual(block_hash(memoryview(data)).hex(), expected, length)
            self.assertEqual(block_hash(bytearray(data)).hex(), expected, length)

    def test_a_block_matches_its_blake3_name_and_its_older_blake2b_name(self):
        data = os.urandom(1024 * 1024)
        self.assertTrue(hash_matches(data, block_hash(data)))
        self.assertTrue(hash_matches(data, blake2sum(data)))
        self.assertFalse(hash_matches(data, block_hash(data[1:])))
        self.assertFalse(hash_matches(data, blake2sum(data[1:])))

    def test_a_block_stored_under_its_blake2b_name_still_verifies(self):
        data = b"written before the switch " * 1000
        block = compress(data, 1)
        self.assertEqual(block.verify(blake2sum(data)), data)


class Blake2sumTests(unittest.TestCase):
    def test_same_digest_as_hashlib_on_both_sides_of_the_switch(self):
        # Blocks already stored are named by hashlib's blake2b-256: the
        # libsodium path for large inputs must give the very same names.
        for size in (0, 1, SODIUM_HASH_MIN - 1, SODIUM_HASH_MIN, 1024 * 1024 + 7):
            data = os.urandom(size)
            expected = hashlib.blake2b(data, digest_size=32).digest()
            self.assertEqual(blake2sum(data), expected, size)
            self.assertEqual(blake2sum(memoryview(data)), expected, size)
            self.assertEqual(blake2sum(bytearray(data)), expected, size)


class CompressTests(unittest.TestCase):
    def test_compressible_data_is_stored_compressed_and_verifies(self):
        data = b"garage " * 20000
        block = compress(data, 1)
        self.assertTrue(block.compressed)
        self.assertLess(len(block.payload), len(data))
        self.assertEqual(block.verify(block_hash(data)), data)

    def test_random_data_is_stored_plain(self):
        data = os.urandom(100000)
        block = compress(data, 1)
        self.assertEqual(block, DataBlock(False, data))

    def test_large_compressible_block_is_compressed(self):
        # Sampled first (start and middle), then compressed whole.
        data = b"".join(b"line %d of a log file\n" % i for i in range(60000))[:1 << 20]
        self.assertGreaterEqual(len(data), SAMPLED_MIN)
        block = compress(data, 1)
        self.assertTrue(block.compressed)
        self.assertEqual(block.verify(block_hash(data)), data)

    def test_large_random_block_is_stored_plain(self):
        data = os.urandom(1 << 20)
        self.assertEqual(compress(data, 1), DataBlock(False, data))

    def test_large_block_compressible_only_where_sampled_is_tried_whole(self):
        # A compressible sample only lets the whole block be tried: what
        # is kept is still decided on the whole block.
        size = 1 << 20
        data = bytearray(os.urandom(size))
        data[:SAMPLE_PIECE] = bytes(SAMPLE_PIECE)
        data[size // 2:size // 2 + SAMPLE_PIECE] = bytes(SAMPLE_PIECE)
        data = bytes(data)
        self.assertEqual(compress(data, 1), DataBlock(False, data))

    def test_large_block_random_where_sampled_is_stored_plain(self):
        # The price of sampling: a block whose sampled pieces do not
        # compress is stored plain, whatever the rest holds.
        size = 1 << 20
        data = bytearray(size)
        data[:SAMPLE_PIECE] = os.urandom(SAMPLE_PIECE)
        data[size // 2:size // 2 + SAMPLE_PIECE] = os.urandom(SAMPLE_PIECE)
        data = bytes(data)
        self.assertEqual(compress(data, 1), DataBlock(False, data))

    def test_wrong_hash_is_refused(self):
        block = compress(b"x" * 1000, 1)
        self.assertRaises(CorruptBlock, block.verify, block_hash(b"y"))
