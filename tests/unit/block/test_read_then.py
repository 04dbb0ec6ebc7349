"""``BlockManager.get_block(..., then)``: the function a reader passes (SSE
decryption) is applied to the verified bytes, in the same pool trip as the
read for a large block, never to a corrupt copy, and its errors reach the
caller as they are."""

import os
import threading

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import block_hash, compress
from garage_twisted.block.errors import CorruptBlock
from garage_twisted.block.manager import SMALL_BLOCK, BlockManager
from garage_twisted.block.store import LocalBlockStore
from garage_twisted.db.memory import MemoryStore


class CountingPool:
    """``run_in_thread`` that runs at once and counts the trips."""

    def __init__(self):
        self.trips = 0

    def __call__(self, f, *args):
        self.trips += 1
        return defer.maybeDeferred(f, *args)


class ReadThenTests(SynchronousTestCase):

    def setUp(self):
        self.pool = CountingPool()
        self.store = LocalBlockStore(os.path.abspath(self.mktemp()), self.pool)
        self.manager = BlockManager(self.store, MemoryStore(), self.pool, Clock())

    def put(self, data):
        hash_ = block_hash(data)
        self.successResultOf(self.store.write_block(hash_, compress(data, 1)))
        self.pool.trips = 0
        return hash_

    def test_large_block_read_and_then_in_one_trip(self):
        data = os.urandom(SMALL_BLOCK * 4)
        hash_ = self.put(data)
        seen = []

        def then(plain):
            seen.append(threading.current_thread())
            return plain[::-1]
        result = self.successResultOf(self.manager.get_block(hash_, len(data), then))
        self.assertEqual(result, data[::-1])
        self.assertEqual(self.pool.trips, 1)
        self.assertEqual(len(seen), 1)

    def test_small_block_then_applied(self):
        data = os.urandom(1000)
        hash_ = self.put(data)
        result = self.successResultOf(self.manager.get_block(hash_, len(data), bytes.upper))
        self.assertEqual(result, data.upper())

    def test_without_then_plain_bytes(self):
        data = os.urandom(SMALL_BLOCK * 2)
        hash_ = self.put(data)
        self.assertEqual(self.successResultOf(self.manager.get_block(hash_, len(data))), data)

    def test_then_never_sees_a_corrupt_copy(self):
        data = os.urandom(SMALL_BLOCK * 2)
        hash_ = self.put(data)
        path = self.store.block_path(hash_, False)
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
        seen = []
        self.failureResultOf(self.manager.get_block(hash_, len(data), seen.append),
                             CorruptBlock)
        self.assertEqual(seen, [])

    def test_then_error_reaches_the_caller(self):
        data = os.urandom(SMALL_BLOCK * 2)
        hash_ = self.put(data)

        def refuse(plain):
            raise PermissionError("wrong key")
        failure = self.failureResultOf(self.manager.get_block(hash_, len(data), refuse),
                                       PermissionError)
        self.assertEqual(str(failure.value), "wrong key")
