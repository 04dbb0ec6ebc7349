"""Block payloads: the block name function and the stored forms."""

import hashlib
import os

from twisted.trial import unittest

from garage_twisted.block.data import SODIUM_HASH_MIN, DataBlock, blake2sum, compress
from garage_twisted.block.errors import CorruptBlock


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
        self.assertEqual(block.verify(blake2sum(data)), data)

    def test_random_data_is_stored_plain(self):
        data = os.urandom(100000)
        block = compress(data, 1)
        self.assertEqual(block, DataBlock(False, data))

    def test_wrong_hash_is_refused(self):
        block = compress(b"x" * 1000, 1)
        self.assertRaises(CorruptBlock, block.verify, blake2sum(b"y"))
