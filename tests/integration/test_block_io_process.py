"""The block I/O process for real: a child Python process over pipes."""

import os

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from garage_twisted.block import small_block_io
from garage_twisted.block.data import block_hash
from garage_twisted.block.errors import BlockError, CorruptBlock, MissingBlock
from garage_twisted.block.small_block_io import BlockIOProcess, ThreadSmallBlockIO
from garage_twisted.block.store import CORRUPT_SUFFIX, LocalBlockStore
from garage_twisted.util.threads import ThreadPoolService


class BlockIOProcessTests(TestCase):
    def setUp(self):
        self.data_dir = os.path.abspath(self.mktemp())
        threads = ThreadPoolService(reactor, name="test-io")
        threads.startService()
        self.addCleanup(threads.stopService)
        self.store = LocalBlockStore(self.data_dir, threads.run)
        self.fallback = ThreadSmallBlockIO(self.store, threads.run, 1)
        self.service = BlockIOProcess(reactor, self.data_dir, 1, False, self.fallback)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    async def start_child(self):
        """Start the child with a first request and wait until it serves."""
        data = b"start the child"
        self.assertTrue(await self.service.write(block_hash(data), data) is not None)
        child = self.service._child
        await child.became_ready
        return child

    async def test_started_by_the_first_request(self):
        """No process at start; the first request is served by the thread
        pool while the child starts, later ones by the child."""
        self.assertIsNone(self.service._child)
        data = os.urandom(4096)
        hash_ = block_hash(data)
        self.assertTrue(await self.service.write(hash_, data))
        child = self.service._child
        self.assertIsNotNone(child)
        self.assertEqual(child.uses, 0)
        await child.became_ready
        self.assertEqual(await self.service.read(hash_), data)
        self.assertEqual(child.uses, 1)

    async def test_round_trip_through_the_process(self):
        """Many concurrent writes and reads; files are those the store reads."""
        child = await self.start_child()
        blocks = [os.urandom(4096) for _ in range(50)] + [b"garage " * 1000]
        hashes = [block_hash(b) for b in blocks]
        written = await defer.gatherResults(
            [self.service.write(h, b) for h, b in zip(hashes, blocks)])
        self.assertEqual(written, [True] * len(blocks))
        self.assertFalse(await self.service.write(hashes[0], blocks[0]))
        read = await defer.gatherResults([self.service.read(h) for h in hashes])
        self.assertEqual(read, blocks)
        # The node's own store (threads) reads what the process wrote,
        # compressed where it paid.
        self.assertEqual(await self.store.read_and_verify(hashes[-1]), blocks[-1])
        self.assertTrue(os.path.exists(self.store.block_path(hashes[-1], True)))
        self.assertEqual(child.uses, 2 * len(blocks) + 1)

    async def test_errors_cross_as_block_errors(self):
        await self.start_child()
        with self.assertRaises(MissingBlock):
            await self.service.read(bytes(32))
        data = os.urandom(1000)
        hash_ = block_hash(data)
        await self.service.write(hash_, data)
        with open(self.store.block_path(hash_, False), "r+b") as f:
            f.write(b"X")
        with self.assertRaises(CorruptBlock):
            await self.service.read(hash_)
        # The child set the bad file aside: a write stores a good copy again.
        path = self.store.block_path(hash_, False)
        self.assertFalse(os.path.exists(path))
        self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
        self.assertTrue(await self.service.write(hash_, data))
        self.assertEqual(await self.service.read(hash_), data)

    async def test_dead_process_fails_pending_and_restarts(self):
        """A killed child fails its pending requests; the next request starts
        a new one."""
        child = await self.start_child()
        ended = child.ended
        data = os.urandom(100)
        hash_ = block_hash(data)
        child.transport.signalProcess("KILL")
        pending = self.service.write(hash_, data)
        with self.assertRaises(BlockError):
            await pending
        await ended
        self.assertTrue(await self.service.write(hash_, data))
        self.assertEqual(await self.service.read(hash_), data)

    async def test_stopped_service_uses_the_fallback(self):
        """After stop, requests go to the thread fallback, and the child is gone."""
        child = await self.start_child()
        await self.service.stopService()
        self.assertFalse(child.alive)
        data = os.urandom(100)
        hash_ = block_hash(data)
        self.assertTrue(await self.service.write(hash_, data))
        self.assertEqual(await self.service.read(hash_), data)
        self.service.startService()

    async def test_child_ignores_a_decoy_package_in_its_directory(self):
        """The child imports garage_twisted from where the node did, even when
        its working directory holds another (here broken) garage_twisted."""
        decoy = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(decoy, "garage_twisted"))
        with open(os.path.join(decoy, "garage_twisted", "__init__.py"), "w") as f:
            f.write("raise ImportError('decoy package imported')\n")
        await self.service.stopService()
        here = os.getcwd()
        os.chdir(decoy)
        try:
            self.service.startService()
            child = await self.start_child()
        finally:
            os.chdir(here)
        data = b"same code " * 100
        self.assertTrue(await self.service.write(block_hash(data), data))
        self.assertEqual(await self.service.read(block_hash(data)), data)
        self.assertEqual(child.uses, 2)


class _ProcessesOnAClock:
    """The real reactor's processes with a fake clock's time."""

    def __init__(self, clock):
        self.spawnProcess = reactor.spawnProcess
        self.callLater = clock.callLater
        self.seconds = clock.seconds


class IdleChildTests(TestCase):
    def setUp(self):
        self.data_dir = os.path.abspath(self.mktemp())
        threads = ThreadPoolService(reactor, name="test-io")
        threads.startService()
        self.addCleanup(threads.stopService)
        store = LocalBlockStore(self.data_dir, threads.run)
        self.clock = Clock()
        self.service = BlockIOProcess(_ProcessesOnAClock(self.clock), self.data_dir, 1,
                                      False, ThreadSmallBlockIO(store, threads.run, 1))
        self.service.startService()
        self.addCleanup(self.service.stopService)

    async def test_idle_child_exits_and_a_request_starts_another(self):
        data = os.urandom(2000)
        hash_ = block_hash(data)
        self.assertTrue(await self.service.write(hash_, data))
        child = self.service._child
        await child.became_ready
        # Used within the period: kept for another.
        self.assertEqual(await self.service.read(hash_), data)
        self.clock.advance(small_block_io.CHILD_IDLE_SECONDS)
        self.assertIs(self.service._child, child)
        # A whole period unused: asked to exit, and it does.
        self.clock.advance(small_block_io.CHILD_IDLE_SECONDS)
        self.assertIsNone(self.service._child)
        await child.ended
        self.assertFalse(child.alive)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # The next request is served (by the pool) and starts a new child.
        self.assertEqual(await self.service.read(hash_), data)
        second = self.service._child
        self.assertIsNot(second, child)
        await second.became_ready
        self.assertEqual(await self.service.read(hash_), data)
        self.assertEqual(second.uses, 1)
