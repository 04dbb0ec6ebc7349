"""Quorum calls with a scripted network."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.rpc.layout import NodeRole
from garage_twisted.rpc.preference import PreferredOrders, preferred_order
from garage_twisted.rpc.quorum import HEDGE_AFTER, try_call_many, try_write_many_sets
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
        net.pending[A].callback("a")
        net.pending[B].callback("b")
        self.assertNoResult(d)  # the second set has only B
        net.pending[D].callback("d")
        # The replies received by then (a write that reads back uses them).
        self.assertEqual(sorted(self.successResultOf(d)), [(A, "a"), (B, "b"), (D, "d")])

    def test_all_done_once_the_background_calls_end(self):
        """``on_all_done`` runs once, after the calls that went on past the
        quorum, whether they answered or failed."""
        net, done = Scripted(), []
        d = try_write_many_sets(net.call, [[A, B, C]], "p", None, 2,
                                on_all_done=lambda: done.append(True))
        net.pending[A].callback("a")
        net.pending[B].callback("b")
        self.successResultOf(d)
        self.assertEqual(done, [])
        net.pending[C].errback(RuntimeError("late"))
        self.assertEqual(done, [True])

    def test_all_done_after_a_failed_write_and_an_impossible_one(self):
        net, done = Scripted(), []
        d = try_write_many_sets(net.call, [[A, B, C]], "p", None, 2,
                                on_all_done=lambda: done.append("failed"))
        net.pending[A].errback(RuntimeError("x"))
        net.pending[B].errback(RuntimeError("y"))
        self.failureResultOf(d, QuorumError)
        self.assertEqual(done, [])
        net.pending[C].callback("c")
        self.assertEqual(done, ["failed"])
        d = try_write_many_sets(net.call, [[A]], "p", None, 2,
                                on_all_done=lambda: done.append("impossible"))
        self.failureResultOf(d, QuorumError)
        self.assertEqual(done, ["failed", "impossible"])

    def test_a_set_out_of_reach_fails_the_write(self):
        net = Scripted()
        d = try_write_many_sets(net.call, [[A, B, C], [B, C, D]], "p", None, 2)
        net.pending[C].errback(RuntimeError("x"))
        net.pending[D].errback(RuntimeError("y"))
        self.failureResultOf(d, QuorumError)


class PreferredReadTests(SynchronousTestCase):
    """Reads ask the preferred quorum first, more on failure or delay."""

    def test_only_the_quorum_is_asked_then_one_more_per_failure(self):
        asked, pending = [], {}

        def call(node, path, message):
            asked.append(node)
            pending[node] = defer.Deferred()
            return pending[node]

        d = try_call_many(call, [A, B, C], "p", None, 2, all_at_once=False)
        self.assertEqual(asked, [A, B])
        pending[B].errback(RuntimeError("down"))
        self.assertEqual(asked, [A, B, C])
        pending[A].callback("a")
        pending[C].callback("c")
        self.assertEqual([n for n, _ in self.successResultOf(d)], [A, C])

    def test_a_hanging_node_costs_the_hedge_delay_only(self):
        clock, asked, pending = Clock(), [], {}

        def call(node, path, message):
            asked.append(node)
            pending[node] = defer.Deferred()
            if node != B:  # B hangs
                clock.callLater(0.01, pending[node].callback, node)
            return pending[node]

        d = try_call_many(call, [A, B, C], "p", None, 2, all_at_once=False, clock=clock)
        clock.advance(0.01)
        self.assertNoResult(d)
        clock.advance(HEDGE_AFTER)
        self.assertEqual(asked, [A, B, C])
        clock.advance(0.01)
        self.assertEqual([n for n, _ in self.successResultOf(d)], [A, C])
        self.assertEqual(clock.getDelayedCalls(), [])


class PreferenceTests(SynchronousTestCase):
    def test_self_then_zone_then_rtt(self):
        roles = {A: NodeRole("paris", 1), B: NodeRole("lyon", 1), C: NodeRole("paris", 1),
                 D: NodeRole("nantes", 1)}
        rtts = {B: 0.030, C: 0.050, D: 0.010}
        self.assertEqual(preferred_order([B, C, D, A], A, roles, rtts.get), [A, C, D, B])
        self.assertEqual(preferred_order([B, D], A, roles, None), [B, D])

    def test_remembered_orders_follow_new_round_trips_and_roles(self):
        """PreferredOrders answers as preferred_order, computes a node set's
        order once per round-trip generation, forgets on a new one, and
        hands out lists its callers may change."""
        roles = {A: NodeRole("paris", 1), B: NodeRole("lyon", 1), C: NodeRole("lyon", 1)}
        rtts = {B: 0.030, C: 0.050}
        asked = []

        def rtt_of(node):
            asked.append(node)
            return rtts.get(node)

        generation = [0]
        orders = PreferredOrders(A, rtt_of, lambda: generation[0])
        first = orders([C, B, A], roles)
        self.assertEqual(first, [A, B, C])
        first.append(D)  # the caller's own list
        count = len(asked)
        self.assertEqual(orders([C, B, A], roles), [A, B, C])
        self.assertEqual(len(asked), count)  # remembered: no RTT read
        rtts[C] = 0.001
        self.assertEqual(orders([C, B, A], roles), [A, B, C])  # same generation
        generation[0] += 1
        self.assertEqual(orders([C, B, A], roles), [A, C, B])
        # Other roles (a new layout version), same node set: computed anew.
        moved = {A: NodeRole("lyon", 1), B: NodeRole("paris", 1), C: NodeRole("lyon", 1)}
        self.assertEqual(orders([C, B, A], moved), [A, C, B])


class ImmediateFailureTests(SynchronousTestCase):
    def test_calls_failing_at_once_give_a_quorum_error(self):
        """Calls to disconnected nodes fail synchronously: the quorum error
        comes at once, every node asked once, no exception."""
        asked = []

        def call(node, path, message):
            asked.append(node)
            return defer.fail(RuntimeError("not connected"))

        for all_at_once in (True, False):
            del asked[:]
            d = try_call_many(call, [A, B, C], "p", None, 2, all_at_once=all_at_once)
            self.failureResultOf(d, QuorumError)
            self.assertEqual(sorted(asked), sorted([A, B]) if not all_at_once
                             else sorted([A, B, C]))
