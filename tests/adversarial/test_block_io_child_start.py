"""A block I/O process that cannot start must not be started per request.

The node starts its block I/O child on demand. If the child dies before it
is ready (a broken installation, no memory for a new process), every small
request would otherwise spawn another Python process: under load, hundreds a
second, each failing. Requests must be served by the thread pool meanwhile,
and a new start tried only after ``RESTART_DELAY``.
"""

import os

from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from garage_twisted.block import small_block_io
from garage_twisted.block.data import block_hash
from garage_twisted.block.small_block_io import BlockIOProcess, ThreadSmallBlockIO
from garage_twisted.block.store import LocalBlockStore
from garage_twisted.util.threads import ThreadPoolService


class _CountingSpawner:
    """The real reactor's processes, killed at birth, on a fake clock."""

    def __init__(self, clock):
        self.callLater = clock.callLater
        self.seconds = clock.seconds
        self.children = []

    def spawnProcess(self, protocol, *args, **kwargs):
        transport = reactor.spawnProcess(protocol, *args, **kwargs)
        # Dead before its first frame: the child never becomes ready.
        transport.signalProcess("KILL")
        self.children.append(protocol)
        return transport


class ChildThatCannotStartTests(TestCase):
    async def test_failed_start_is_not_retried_per_request(self):
        data_dir = os.path.abspath(self.mktemp())
        threads = ThreadPoolService(reactor, name="test-io")
        threads.startService()
        self.addCleanup(threads.stopService)
        store = LocalBlockStore(data_dir, threads.run)
        clock = Clock()
        spawner = _CountingSpawner(clock)
        service = BlockIOProcess(spawner, data_dir, 1, False,
                                 ThreadSmallBlockIO(store, threads.run, 1))
        service.startService()
        self.addCleanup(service.stopService)

        data = os.urandom(3000)
        hash_ = block_hash(data)
        self.assertTrue(await service.write(hash_, data))
        self.assertEqual(len(spawner.children), 1)
        await spawner.children[0].ended
        # Fifty more requests, all answered by the pool, no new process.
        for _ in range(50):
            self.assertEqual(await service.read(hash_), data)
        self.assertEqual(len(spawner.children), 1)
        self.assertIsNone(service._child)
        # After the delay, one new attempt.
        clock.advance(small_block_io.RESTART_DELAY)
        self.assertEqual(await service.read(hash_), data)
        self.assertEqual(len(spawner.children), 2)
        await spawner.children[1].ended
