"""Quorum calls with a scripted network."""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.rpc.quorum import try_call_many, try_write_many_sets
from garage_twisted.util.errors import QuorumError

A, B, C, D = (bytes([i]) * 32 for i in range(4))


class Scripted:
    def __init__(self):
        self.pending = {}
        self.calls = []

    def call(self, node, path, message):
        self.calls.append(node)
        d = self.pending[node] = defer.Deferred()
        return d


class TryCallManyTests(SynchronousTestCase):
    def test_fires_at_quorum_and_lets_the_rest_finish(self):
        net = Scripted()
        d = try_call_many(net.call, [A, B, C], "p", None, 2)
        net.pending[B].callback("b")
        self.assertNoResult(d)
        net.pending[A].callback("a")
        self.assertEqual(self.successResultOf(d), [(B, "b"), (A, "a")])
        net.pending[C].errback(RuntimeError("late"))  # ignored, no unhandled error

    def test_fails_once_the_quorum_is_out_of_reach(self):
        net = Scripted()
        d = try_call_many(net.call, [A, B, C], "p", None, 2)
        net.pending[A].errback(RuntimeError("down"))
        self.assertNoResult(d)
        net.pending[B].errback(RuntimeError("gone"))
        error = self.failureResultOf(d, QuorumError).value
        self.assertIn("down", str(error))
        self.assertIn("gone", str(error))

    def test_impossible_quorum(self):
        self.failureResultOf(try_call_many(Scripted().call, [A], "p", None, 2), QuorumError)


class TryWriteManySetsTests(SynchronousTestCase):
    def test_every_set_needs_its_quorum_each_node_called_once(self):
        net = Scripted()
        d = try_write_many_sets(net.call, [[A, B, C], [B, C, D]], "p", None, 2)
        self.assertEqual(sorted(net.calls), sorted([A, B, C, D]))
        net.pending[A].callback(None)
        net.pending[B].callback(None)
        self.assertNoResult(d)  # the second set has only B
        net.pending[D].callback(None)
        self.assertIsNone(self.successResultOf(d))

    def test_a_set_out_of_reach_fails_the_write(self):
        net = Scripted()
        d = try_write_many_sets(net.call, [[A, B, C], [B, C, D]], "p", None, 2)
        net.pending[C].errback(RuntimeError("x"))
        net.pending[D].errback(RuntimeError("y"))
        self.failureResultOf(d, QuorumError)
