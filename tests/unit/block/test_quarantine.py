"""Quarantine on read: a block copy whose bytes do not match its hash, met by
any read, is renamed aside, logged with its hash and queued for resync."""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import block_hash, compress
from garage_twisted.block.errors import CorruptBlock, MissingBlock
from garage_twisted.block.manager import SMALL_BLOCK, BlockManager
from garage_twisted.block.store import CORRUPT_SUFFIX, LocalBlockStore
from garage_twisted.db.memory import MemoryStore


def run_now(f, *args):
    return defer.maybeDeferred(f, *args)


def flip_bytes(path: str) -> None:
    """Change bytes in the middle of the file, keeping its size."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        chunk = f.read(8)
        f.seek(size // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))
    assert os.path.getsize(path) == size


class StoreQuarantineTests(SynchronousTestCase):
    """The store's verified read renames the file it found corrupt."""

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.store = LocalBlockStore(self.root, run_now)

    def put(self, data, level=1):
        hash_ = block_hash(data)
        self.successResultOf(self.store.write_block(hash_, compress(data, level)))
        return hash_

    def test_corrupt_plain_and_compressed_copies_are_set_aside(self):
        """Plain, zstd and large (O_DIRECT where possible) block files whose
        bytes changed are renamed ``.corrupted``; the block then counts as
        missing and a write stores a good copy again."""
        for data, compressed in ((os.urandom(5000), False), (b"garage " * 3000, True),
                                 (os.urandom(1 << 20), False)):
            hash_ = self.put(data)
            path = self.store.block_path(hash_, compressed)
            flip_bytes(path)
            failure = self.failureResultOf(self.store.read_and_verify(hash_), CorruptBlock)
            self.assertIn(hash_.hex(), str(failure.value))
            self.assertFalse(os.path.exists(path))
            self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
            self.assertFalse(self.successResultOf(self.store.has_block(hash_)))
            self.failureResultOf(self.store.read_and_verify(hash_), MissingBlock)
            self.assertTrue(self.successResultOf(
                self.store.write_block(hash_, compress(data, 1))))
            self.assertEqual(self.successResultOf(self.store.read_and_verify(hash_)), data)
        # Set-aside files are not blocks to the listing (scrub, repair).
        self.assertEqual(len(list(self.store.iter_block_hashes())), 3)

    def test_a_good_copy_written_since_the_read_stays(self):
        """A read that found the old file corrupt does not rename the good
        copy another read's resync wrote meanwhile."""
        data = os.urandom(3000)
        hash_ = self.put(data)
        path = self.store.block_path(hash_, False)
        flip_bytes(path)
        _, read_path, identity = self.store._read_located(hash_)
        # Meanwhile: another read set it aside, a resync wrote a good copy.
        os.replace(path, path + CORRUPT_SUFFIX)
        self.successResultOf(self.store.write_block(hash_, compress(data, None)))
        self.assertFalse(self.store._quarantine(read_path, identity))
        self.assertEqual(self.successResultOf(self.store.read_and_verify(hash_)), data)


class ManagerQuarantineTests(SynchronousTestCase):
    """``BlockManager.get_local`` logs a corrupt copy and queues its resync."""

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.store = LocalBlockStore(os.path.abspath(self.mktemp()), run_now)
        self.kv = MemoryStore()
        self.manager = BlockManager(self.store, self.kv, run_now, self.clock)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.woken = []
        self.manager.on_resync_due.append(lambda: self.woken.append(True))

    def test_small_and_large_reads(self):
        """Through the small-block reader and the thread path alike: the read
        fails ``CorruptBlock``, the file is renamed, an error event names the
        hash, and a resync due now is queued (the resync worker woken)."""
        blocks = [os.urandom(SMALL_BLOCK // 2), os.urandom(SMALL_BLOCK * 3)]
        for number, data in enumerate(blocks, 1):
            hash_ = block_hash(data)
            self.successResultOf(self.manager.put_local(hash_, data))
            path = self.store.block_path(hash_, False)
            flip_bytes(path)
            self.failureResultOf(self.manager.get_local(hash_, len(data)), CorruptBlock)
            self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
            logged = [e for e in self.events if e.get("hash") == hash_.hex()
                      and e["log_level"] == LogLevel.error]
            self.assertEqual(len(logged), 1)
            self.assertEqual(logged[0]["found_by"], "read")
            now = int(self.clock.seconds() * 1000)
            queued = [(int.from_bytes(key[:8], "big"), key[8:])
                      for key, _ in self.manager.resync.range()]
            self.assertIn((now, hash_), queued)
            self.assertEqual(len(self.woken), number)
            self.assertEqual(self.manager.counts["corrupt"], number)

    def test_a_missing_block_is_not_corrupt(self):
        """An absent block fails ``MissingBlock`` and queues nothing."""
        self.failureResultOf(self.manager.get_local(bytes(32), 100), MissingBlock)
        self.assertEqual(list(self.manager.resync.range()), [])
        self.assertEqual(self.woken, [])
