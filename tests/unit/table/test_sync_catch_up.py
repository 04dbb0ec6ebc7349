"""Catch-up of a peer that comes (back) up: TableSyncer.peer_up, on one Clock.

Four replicas (replication factor 3) of a table on the in-memory network:
each pair of nodes shares some partitions, not all. A peer that comes up is
synced at the next step, for the partitions it shares with this node alone,
and only with it; the full pass stays where its timer put it.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.rpc.layout import NodeRole
from garage_twisted.rpc.ring import PARTITION_COUNT, partition_of
from garage_twisted.table.sync import SHARDED_INTERVAL
from garage_twisted.util.worker import WorkerRunner
from tests.support.fake_network import FakeHub
from tests.unit.table.test_fake_cluster import FakeNode, record

NODE_IDS = [bytes([i + 1]) * 32 for i in range(4)]
STEP = 0.5  # clock advance per turn: every fake call takes one


class FourNodes:
    def __init__(self):
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.hub = FakeHub(self.clock, delay=0.001)
        self.nodes = [FakeNode(self.hub, n, self.clock) for n in NODE_IDS]
        first = self.nodes[0].layout
        for i, node_id in enumerate(NODE_IDS):
            first.stage_role(node_id, NodeRole(f"z{i}", 10 ** 9))
        first.apply(1)
        for node in self.nodes[1:]:
            node.layout.merge_remote(first.state)
        # Every node learns that every other one saw version 1: a settled
        # layout, whose full passes come at their interval (not retried).
        for node in self.nodes:
            for other in self.nodes:
                node.layout.merge_remote(other.layout.state)

    def run(self, d, limit=600.0):
        """Advance the clock until ``d`` fires; its result (or raises)."""
        waited = 0.0
        while not d.called and waited < limit:
            self.clock.advance(0.001)
            waited += 0.001
        box = []
        d.addBoth(box.append)
        if not box:
            raise AssertionError(f"still waiting after {limit} s of clock")
        if hasattr(box[0], "raiseException"):
            box[0].raiseException()
        return box[0]

    def holders(self, partition: int) -> set:
        return set(self.nodes[0].layout.current().assignment.partitions[partition])


class CatchUpTests(SynchronousTestCase):

    def setUp(self):
        self.cluster = FourNodes()
        self.a, self.b, self.c, self.d = self.cluster.nodes

    def _rows_everywhere(self, count=256):
        """``count`` rows spread over the partitions, written by A while C
        was away (every write reaches its quorum among the others)."""
        cluster = self.cluster
        cluster.hub.isolate(self.c.node_id)
        entries = [record(bytes([i]) * 32, b"k", 1, v=i) for i in range(count)]
        cluster.run(self.a.table.insert_many(entries))
        cluster.hub.heal()
        return entries

    def test_peer_up_only_for_a_peer_that_shares_partitions(self):
        """A node with no role (new, or another cluster's) wakes nothing;
        a storage node of the layout does, and a node never catches up with
        itself."""
        a = self.a
        self.assertTrue(a.syncer.peer_up(self.c.node_id))
        self.assertFalse(a.syncer.peer_up(bytes([9]) * 32))
        self.assertFalse(a.syncer.peer_up(a.node_id))

    def test_catch_up_pushes_the_shared_partitions_to_that_peer_alone(self):
        """One step after peer_up: C holds every row of the partitions it
        shares with A, A called no other node, and no full pass ran."""
        cluster, a, c = self.cluster, self.a, self.c
        entries = self._rows_everywhere()
        self.assertEqual(c.rows(), {})
        shared = {p for p in range(PARTITION_COUNT)
                  if {a.node_id, c.node_id} <= cluster.holders(p)}
        self.assertTrue(0 < len(shared) < PARTITION_COUNT)
        called = []
        real_call = a.network.call

        def recording(node_id, path, *args, **kwargs):
            called.append(node_id)
            return real_call(node_id, path, *args, **kwargs)

        a.network.call = recording
        a.syncer._full_asked = False  # the first full pass is behind it
        a.syncer._full_due = cluster.clock.seconds() + SHARDED_INTERVAL
        self.assertTrue(a.syncer.peer_up(c.node_id))
        cluster.run(a.syncer.work())
        # The Merkle to-do list was drained first: nothing written is missed.
        expected = [e for e in entries if partition_of(e.partition_hash()) in shared]
        for entry in expected:
            self.assertEqual(c.data.read_entry(entry.pk, entry.sk), entry)
        self.assertEqual(len(c.rows()), len(expected))
        self.assertEqual(set(called), {c.node_id})
        self.assertEqual((a.syncer.passes, a.syncer.catch_ups), (0, 1))
        self.assertEqual(a.syncer.status()["catch_ups"], 1)

    def test_catch_up_step_leaves_the_full_pass_on_its_timer(self):
        """Run by the worker runner: a catch-up 300 s after a full pass
        happens at once, and the next full pass still comes 600 s after the
        last one, not 600 s after the catch-up."""
        cluster, a, c = self.cluster, self.a, self.c
        runner = WorkerRunner(cluster.clock)
        runner.add(a.syncer, idle_delay=a.syncer.idle_delay)
        runner.startService()
        self.addCleanup(runner.stopService)
        started = cluster.clock.seconds()
        while a.syncer.passes < 1:
            cluster.clock.advance(STEP)
        self._rows_everywhere(16)
        cluster.clock.advance(300)
        a.syncer.peer_up(c.node_id)
        runner.wake(a.syncer.name)
        woken = cluster.clock.seconds()
        while a.syncer.catch_ups < 1:
            cluster.clock.advance(0.01)  # a round trip or so per turn
        self.assertLess(cluster.clock.seconds() - woken, 2.0)
        self.assertGreater(len(c.rows()), 0)
        self.assertEqual(a.syncer.passes, 1)
        (info,) = runner.list_workers()
        next_pass = cluster.clock.seconds() + info.next_step_in
        self.assertLess(abs(next_pass - (started + SHARDED_INTERVAL)), 10.0)
        for node in cluster.nodes:  # (no Merkle workers here) the next pass finds
            node.update_merkle()    # every trie equal: a few round trips
        while a.syncer.passes < 2:
            cluster.clock.advance(STEP)
        self.assertLess(cluster.clock.seconds(), started + SHARDED_INTERVAL + 10.0)

    def test_a_layout_change_still_asks_for_a_full_pass(self):
        """A step woken by a layout change runs a full pass even while a
        catch-up is pending and the timer is far off."""
        cluster, a, c = self.cluster, self.a, self.c
        a.syncer._full_asked = False
        a.syncer._full_due = cluster.clock.seconds() + SHARDED_INTERVAL
        a.syncer.peer_up(c.node_id)
        a.layout.stage_role(bytes([9]) * 32, NodeRole("z9", 10 ** 9))  # saved: on_change
        cluster.run(a.syncer.work())
        self.assertEqual((a.syncer.passes, a.syncer.catch_ups), (1, 1))

    def test_a_failed_catch_up_is_tried_again_soon(self):
        """A peer that fails the catch-up (here: it hangs) is retried after
        RETRY_DELAY, not left to the full pass; a peer gone again is not."""
        from garage_twisted.table.sync import RETRY_DELAY

        cluster, a, c = self.cluster, self.a, self.c
        a.syncer._full_asked = False
        a.syncer._full_due = cluster.clock.seconds() + SHARDED_INTERVAL
        cluster.hub.hung.add(c.node_id)
        a.syncer.peer_up(c.node_id)
        cluster.run(a.syncer.work(), limit=120)
        self.assertIn("catch-up with", a.syncer.last_error)
        self.assertEqual(a.syncer.next_idle_delay, RETRY_DELAY)
        cluster.hub.heal()
        cluster.hub.isolate(c.node_id)  # gone again: its reconnection will wake us
        cluster.run(a.syncer.work())
        self.assertGreater(a.syncer.next_idle_delay, RETRY_DELAY)
        self.assertEqual(a.syncer.catch_ups, 0)
