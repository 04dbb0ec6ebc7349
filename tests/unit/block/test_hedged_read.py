"""Hedged block reads (``BlockReplicator.get``): a replica that does not
start answering within its hedge delay is not waited for; a failure asks
the next at once; the first good copy wins and the other reads are
cancelled; a ``then`` that refuses good bytes ends the read."""

import gc
import weakref
from types import SimpleNamespace

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.block.data import block_hash
from garage_twisted.block.errors import MissingBlock
from garage_twisted.block.replication import (
    HEDGE_DEFAULT, HEDGE_LOCAL, HEDGE_RTTS, BlockReplicator)

ME, A, B = b"\x00" * 32, b"\x0a" * 32, b"\x0b" * 32
DATA = b"block bytes " * 100
HASH = block_hash(DATA)


class Stream:
    def __init__(self, data):
        self.data = data

    def read_all(self, limit):
        return defer.succeed(self.data)


class FakeNetwork:
    """Calls to other nodes answer as each node's behaviour says."""

    def __init__(self, behaviour):
        self.node_id = ME
        self.behaviour = behaviour  # node -> "hang" | "missing" | bytes
        self.connections = {n: None for n in behaviour}
        self.calls, self.pending = [], {}

    def register(self, path, handler):
        pass

    def call(self, node, path, message, priority=None, timeout=None):
        self.calls.append(node)
        what = self.behaviour[node]
        if what == "hang":
            d = defer.Deferred(lambda d: self.pending.pop(node, None))
            self.pending[node] = d
            return d
        if what == "missing":
            return defer.fail(MissingBlock("not here"))
        return defer.succeed(SimpleNamespace(stream=Stream(what)))


class FakeLayout:
    def __init__(self, nodes):
        self.version = SimpleNamespace(nodes_of=lambda h: list(nodes), roles={})

    def read_version(self):
        return self.version

    def active_versions(self):
        return [self.version]


def replicator(nodes, behaviour, rtts=None, local=None):
    clock = Clock()

    def get_local(hash_, size, then=None):
        if local is None:
            return defer.fail(MissingBlock("no local copy"))
        data = local() if callable(local) else local
        return defer.succeed(data if then is None else then(data))
    manager = SimpleNamespace(clock=clock, get_local=get_local,
                              run_in_thread=lambda f, *a: defer.maybeDeferred(f, *a))
    network = FakeNetwork(behaviour)
    rtt_of = None if rtts is None else rtts.get
    return BlockReplicator(manager, FakeLayout(nodes), network, 2, rtt_of), clock, network


class HedgedReadTests(SynchronousTestCase):

    def test_hung_replica_costs_its_hedge_delay(self):
        rep, clock, net = replicator([A, B], {A: "hang", B: DATA}, rtts={A: 0.01, B: 0.02})
        d = rep.get(HASH, len(DATA))
        self.assertNoResult(d)
        self.assertEqual(net.calls, [A])
        delay = rep.hedge_delay(A)
        self.assertAlmostEqual(delay, HEDGE_LOCAL + HEDGE_RTTS * 0.01)
        clock.advance(delay * 0.9)
        self.assertNoResult(d)
        clock.advance(delay * 0.2)
        self.assertEqual(self.successResultOf(d), DATA)
        self.assertEqual(net.calls, [A, B])
        self.assertEqual(rep.hedged, 1)
        self.assertEqual(net.pending, {}, "the hung call was cancelled")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unknown_rtt_uses_the_default_delay(self):
        rep, clock, net = replicator([A, B], {A: "hang", B: DATA})
        d = rep.get(HASH, len(DATA))
        clock.advance(HEDGE_DEFAULT - 0.01)
        self.assertNoResult(d)
        clock.advance(0.02)
        self.assertEqual(self.successResultOf(d), DATA)

    def test_failure_asks_the_next_at_once(self):
        rep, clock, net = replicator([A, B], {A: "missing", B: DATA})
        self.assertEqual(self.successResultOf(rep.get(HASH, len(DATA))), DATA)
        self.assertEqual(net.calls, [A, B])
        self.assertEqual(rep.hedged, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_corrupt_copy_counts_as_missing(self):
        rep, clock, net = replicator([A, B], {A: b"other bytes", B: DATA})
        self.assertEqual(self.successResultOf(rep.get(HASH, len(DATA))), DATA)

    def test_local_copy_first_no_network(self):
        rep, clock, net = replicator([ME, A], {A: DATA}, local=DATA)
        self.assertEqual(self.successResultOf(rep.get(HASH, len(DATA))), DATA)
        self.assertEqual(net.calls, [])

    def test_nobody_has_it(self):
        rep, clock, net = replicator([A, B], {A: "missing", B: "missing"})
        failure = self.failureResultOf(rep.get(HASH, len(DATA)), MissingBlock)
        self.assertIn("none of its nodes", str(failure.value))

    def test_every_replica_hangs_then_fails_when_the_last_fails(self):
        rep, clock, net = replicator([A, B], {A: "hang", B: "hang"}, rtts={A: 0.01, B: 0.01})
        d = rep.get(HASH, len(DATA))
        clock.advance(1)
        self.assertEqual(net.calls, [A, B])
        self.assertNoResult(d)
        net.pending[A].errback(MissingBlock("timed out"))
        self.assertNoResult(d)
        net.pending[B].errback(MissingBlock("timed out"))
        self.failureResultOf(d, MissingBlock)

    def test_then_refusing_good_bytes_ends_the_read(self):
        rep, clock, net = replicator([A, B], {A: DATA, B: DATA})

        def refuse(data):
            raise PermissionError("wrong key")
        self.failureResultOf(rep.get(HASH, len(DATA), refuse), PermissionError)
        self.assertEqual(net.calls, [A])

    def test_a_node_usually_slow_is_given_longer(self):
        """The delay grows with the node's usual time to start answering:
        a machine that is slow because it is busy is not raced."""
        rep, clock, net = replicator([A, B], {A: DATA, B: DATA}, rtts={A: 0.01, B: 0.01})
        base = rep.hedge_delay(A)
        for _ in range(30):
            rep._observe_start(A, 1.0)
        self.assertAlmostEqual(rep.hedge_delay(A), 4 * rep.start_latency[A])
        self.assertGreater(rep.hedge_delay(A), 10 * base)

    def test_hedges_at_once_are_bounded(self):
        """Past MAX_HEDGES hedged reads running, a late read waits for one
        to end before it asks another node."""
        from garage_twisted.block.replication import MAX_HEDGES
        rep, clock, net = replicator([A, B], {A: "hang", B: "hang"},
                                     rtts={A: 0.01, B: 0.01})
        reads = [rep.get(HASH, len(DATA)) for _ in range(MAX_HEDGES + 2)]
        net.pending.clear()
        clock.advance(rep.hedge_delay(A) + 0.001)
        self.assertEqual(rep.hedges_running, MAX_HEDGES)
        self.assertEqual(net.calls.count(B), MAX_HEDGES)
        for d in reads:
            d.cancel()
            self.failureResultOf(d)
        self.assertEqual(rep.hedges_running, 0)

    def test_cancelling_the_read_stops_everything(self):
        rep, clock, net = replicator([A, B], {A: "hang", B: "hang"}, rtts={A: 0.01, B: 0.01})
        d = rep.get(HASH, len(DATA))
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(net.pending, {})
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(net.calls, [A])

    def test_a_read_block_is_freed_without_the_cyclic_collector(self):
        """Once the reader drops the block, it is freed at once: the read's
        own references (timers, callbacks, canceller) form no cycle with it.
        A cycle kept 1 MiB blocks until a collection: 300 MB on a node
        serving 64 MiB GETs."""
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)

        class Block:
            pass
        made, reads = [], []

        def make():
            block = Block()
            made.append(weakref.ref(block))
            d = defer.Deferred()
            reads.append((d, block))
            return d
        rep, clock, net = replicator([ME, A, B], {A: DATA, B: DATA})
        rep.manager.get_local = lambda hash_, size, then=None: make()
        kept = []

        async def reader():
            kept.append(await rep.get(HASH, len(DATA)))
        done = defer.ensureDeferred(reader())
        (d, block), = reads
        reads.clear()
        del block
        d.callback(made[0]())
        self.successResultOf(done)
        self.assertEqual(len(kept), 1)
        kept.clear()
        self.assertIsNone(made[0](), "the block outlived its last reference")
