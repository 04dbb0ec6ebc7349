"""Issue 22, defect 4: a corrupt local block copy is quarantined on read.

On a 3-node cluster in one reactor (real nodes, real block files, the real
block I/O process), one node's copy of a block is changed on disk (bytes
flipped, size kept). A GET through that node, a peer's fetch served by it:
the client gets the right bytes (or the peer an error, so it asks another
replica), the bad file is renamed ``.corrupted``, an error event names the
block's hash, and the resync queued for it brings a good copy back.
"""

import os

from twisted.internet import reactor, task
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import TestCase

from garage_twisted.block.data import DataBlock, block_hash
from garage_twisted.block.replication import GET_PATH
from garage_twisted.block.store import CORRUPT_SUFFIX
from garage_twisted.net.errors import RpcError
from tests.support.cluster import start_cluster
from tests.support.node import in_thread

# Polls for what has no event to wait on (a block file landing, a resync's
# fetch), bounded: the resync worker is woken at once, idle at worst
# DEFAULT_IDLE_DELAY (10 s).
POLL = 0.05
DEADLINE = 30.0


def block_file(node, hash_: bytes) -> str | None:
    """The path of ``node``'s copy of the block, in whichever form it is."""
    store = node.block_manager.store
    for compressed in (True, False):
        path = store.block_path(hash_, compressed)
        if os.path.exists(path):
            return path
    return None


def flip_bytes(path: str) -> None:
    """Change bytes in the middle of the file, keeping its size."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        chunk = f.read(16)
        f.seek(size // 2)
        f.write(bytes(b ^ 0xA5 for b in chunk))
    assert os.path.getsize(path) == size


async def wait_until(predicate, what: str) -> None:
    waited = 0.0
    while not predicate():
        if waited > DEADLINE:
            raise AssertionError(f"not within {DEADLINE} s: {what}")
        await task.deferLater(reactor, POLL, lambda: None)
        waited += POLL


def good_copy_back(node, hash_: bytes, path: str) -> bool:
    """The block is back at its path with the right bytes (the test reads
    the file itself: the node's reads would set it aside again if bad)."""
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        payload = f.read()
    try:
        return block_hash(DataBlock(path.endswith(".zst"), payload).plain()) == hash_
    except Exception:
        return False


class CorruptBlockTests(TestCase):
    timeout = 120

    async def setUp(self):
        # No scrub: only the reads under test may find the corruption.
        self.fixtures, self.nodes = await start_cluster(
            self, extras=("disable_scrub = true",) * 3)
        key = await self.fixtures[0].create_key()
        self.client = self.fixtures[0].boto3_client(key)
        self.addCleanup(self.client.close)
        await in_thread(self.client.create_bucket, Bucket="bkt")
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    async def put(self, name: str, body: bytes) -> list:
        """PUT through node 0; the object's block hashes, once every node
        holds them."""
        await in_thread(self.client.put_object, Bucket="bkt", Key=name, Body=body)
        size = self.fixtures[0].block_size
        hashes = [block_hash(body[i:i + size]) for i in range(0, len(body), size)]
        await wait_until(lambda: all(block_file(n, h) for n in self.nodes for h in hashes),
                         f"{name}'s blocks on every node")
        return hashes

    async def get(self, name: str) -> bytes:
        got = await in_thread(self.client.get_object, Bucket="bkt", Key=name)
        return await in_thread(got["Body"].read)

    def corruption_events(self, hash_: bytes) -> list:
        return [e for e in self.events
                if e.get("hash") == hash_.hex() and e["log_level"] == LogLevel.error]

    async def test_get_through_the_node_with_a_corrupt_copy(self):
        """A small (block I/O process, zstd) and a multi-block object (thread
        path): right bytes, the bad copies set aside, logged with their
        hashes, and fetched again by the resync."""
        node = self.nodes[0]
        small = b"a small block that compresses well. " * 600
        big = os.urandom(2 * self.fixtures[0].block_size + 300_000)
        (small_hash,) = await self.put("small", small)
        big_hashes = await self.put("big", big)
        self.assertEqual(len(big_hashes), 3)
        bad = {small_hash: block_file(node, small_hash),
               big_hashes[1]: block_file(node, big_hashes[1])}
        self.assertTrue(bad[small_hash].endswith(".zst"))  # stored compressed
        for path in bad.values():
            flip_bytes(path)
        fetched_before = node.workers.worker("block resync").fetched

        self.assertEqual(await self.get("small"), small)
        self.assertEqual(await self.get("big"), big)

        for hash_, path in bad.items():
            self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX), path)
            events = self.corruption_events(hash_)
            self.assertEqual(len(events), 1, events)
            self.assertIn("resync queued", events[0]["log_format"])
        for hash_, path in bad.items():
            await wait_until(lambda: good_copy_back(node, hash_, path),
                             f"a good copy of {hash_.hex()} back by resync")
        # The file lands (in a pool thread) a moment before the worker counts it.
        await wait_until(lambda: node.workers.worker("block resync").fetched
                         >= fetched_before + 2, "both fetches counted")
        self.assertEqual(node.block_manager.counts["corrupt"], 2)
        # Served from the node's own (good) copies again.
        self.assertEqual(await self.get("big"), big)
        self.assertEqual(len(self.corruption_events(big_hashes[1])), 1)

    async def test_a_peer_fetch_served_from_a_corrupt_copy_fails(self):
        """A node asked by a peer for a block whose copy is corrupt answers
        CorruptBlock (the peer then asks another replica), sets the copy
        aside, logs it and fetches a good one."""
        big = os.urandom(self.fixtures[0].block_size + 1000)
        hash_ = (await self.put("peer", big))[0]
        server = self.nodes[1]
        path = block_file(server, hash_)
        flip_bytes(path)
        with self.assertRaises(RpcError) as raised:
            await self.nodes[0].network.call(server.node_key.node_id, GET_PATH,
                                             [hash_, self.fixtures[0].block_size])
        self.assertEqual(raised.exception.code, "CorruptBlock")
        self.assertTrue(os.path.exists(path + CORRUPT_SUFFIX))
        self.assertEqual(len(self.corruption_events(hash_)), 1)
        await wait_until(lambda: good_copy_back(server, hash_, path),
                         "the server's good copy back by resync")
