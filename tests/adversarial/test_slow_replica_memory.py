"""A replica much slower than the others must not fill the gateway's memory.

A block write returns once two of its three nodes have it; the third copy
goes on in the background, holding the block's bytes until it is written.
With a node behind a thin home link, an upload at LAN speed used to keep
piling those copies up, a block per write, until the calls' timeout (60 s
of uploads, gigabytes, on a board of 1 GB). ``block_ram_buffer_max``
(Garage's key) bounds them: with the budget spent, the next block waits
before a single copy of it is sent, and goes when the slow node answers or
its call fails.
"""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import block_hash
from garage_twisted.block.replication import BlockReplicator
from garage_twisted.util.byte_budget import ByteBudget

ME, NEAR, FAR = b"\x00" * 32, b"\x0a" * 32, b"\x0b" * 32
BLOCK = 1 << 20


class Network:
    """NEAR answers at once; FAR's calls stay open until answered here."""

    def __init__(self):
        self.node_id = ME
        self.connections = {NEAR: None, FAR: None}
        self.far_pending = []
        self.sent = []

    def register(self, path, handler):
        pass

    def call(self, node, path, message, priority=None, stream=None, timeout=None):
        self.sent.append((node, message[0]))
        if node == NEAR:
            return defer.succeed(SimpleNamespace(message=None))
        d = defer.Deferred()
        self.far_pending.append(d)
        return d


class Layout:
    def __init__(self):
        self.version = SimpleNamespace(nodes_of=lambda h: [ME, NEAR, FAR], roles={})

    def read_version(self):
        return self.version

    def active_versions(self):
        return [self.version]


def replicator(budget):
    manager = SimpleNamespace(put_local=lambda hash_, data: defer.succeed(None))
    network = Network()
    return BlockReplicator(manager, Layout(), network, 2, ram_buffer=budget), network


def blocks(n):
    out = []
    for i in range(n):
        data = bytes([i]) * BLOCK
        out.append((block_hash(data), data))
    return out


class SlowReplicaTests(SynchronousTestCase):
    def test_copies_for_a_slow_node_stop_at_the_budget(self):
        budget = ByteBudget(4 * BLOCK)
        rep, net = replicator(budget)
        writes = [rep.put(h, data) for h, data in blocks(10)]
        # Four writes reached their quorum; their copies to FAR are open.
        for d in writes[:4]:
            self.successResultOf(d)
        self.assertEqual(len(net.far_pending), 4)
        self.assertEqual(budget.free, 0)
        # The others wait: not a byte of them was sent anywhere.
        for d in writes[4:]:
            self.assertNoResult(d)
        self.assertEqual(len(net.sent), 8)
        # FAR answers one (or its call fails): one more write goes.
        net.far_pending.pop(0).callback(SimpleNamespace(message=None))
        self.successResultOf(writes[4])
        self.assertNoResult(writes[5])
        net.far_pending.pop(0).errback(RuntimeError("timeout"))
        self.successResultOf(writes[5])
        self.assertEqual(len(net.far_pending), 4)
        # Everything ends once FAR catches up.
        while net.far_pending:
            net.far_pending.pop(0).callback(SimpleNamespace(message=None))
        for d in writes:
            self.successResultOf(d)
        self.assertEqual(budget.held, 0)

    def test_packed_blocks_count_their_stored_size(self):
        budget = ByteBudget(3 * BLOCK)
        rep, net = replicator(budget)
        rep.manager.write_packed = lambda hash_, block: defer.succeed(None)
        packed = SimpleNamespace(payload=b"x" * (BLOCK // 2), compressed=True)
        writes = [rep.put_packed(bytes([i]) * 32, packed) for i in range(8)]
        for d in writes[:6]:
            self.successResultOf(d)
        self.assertNoResult(writes[6])
        self.assertEqual(budget.held, 3 * BLOCK)
