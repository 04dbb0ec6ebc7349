"""Hedged block reads (``BlockReplicator.get``): a replica that does not
start answering within its hedge delay is not waited for; a failure asks
the next at once; the first good copy wins and the other reads are
cancelled; a ``then`` that refuses good bytes ends the read."""

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
        return defer.succeed(local if then is None else then(local))
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
