"""The layout state as a CRDT: merge laws, staging generations."""

from dataclasses import replace
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.rpc.layout import (
    LayoutError, LayoutManager, LayoutState, LayoutVersion, NodeRole, Staging,
    UpdateTrackers,
)
from garage_twisted.util.crdt import Lww, LwwMap

NODES = [bytes([i]) * 32 for i in range(4)]

roles = st.one_of(st.none(), st.builds(NodeRole, st.sampled_from(["a", "b"]),
                                      st.sampled_from([None, 10, 20])))
stagings = st.builds(
    lambda entries, zr: Staging(LwwMap(MappingProxyType(
        {n: (ts, r) for n, ts, r in entries})), zr),
    st.lists(st.tuples(st.sampled_from(NODES), st.integers(1, 5), roles), max_size=4),
    st.builds(Lww, st.integers(0, 3), st.sampled_from([None, "maximum", 1, 2])))
def _version(number, zone):
    roles = {NODES[0]: NodeRole(zone, 10), NODES[number]: NodeRole("z", 10)} if number else {}
    return LayoutVersion(number, 3, "maximum", MappingProxyType(roles), None)


trackers = st.builds(
    lambda a, b, c: UpdateTrackers(*(MappingProxyType(dict(m)) for m in (a, b, c))),
    *[st.lists(st.tuples(st.sampled_from(NODES), st.integers(0, 3)), max_size=3)
      for _ in range(3)])
def _state(bounds, zone, staging_ts, staging, tracked):
    """A state as nodes can hold one: active versions are a contiguous range,
    and the versions before it are in the history (dropped)."""
    low, high = sorted(bounds)
    if low == 0 and high > 0:
        low = 1  # the empty version 0 never stays beside a real one
    versions = tuple(_version(n, zone) for n in range(low, high + 1))
    history = tuple((n, 2, 0) for n in range(1, low))
    return LayoutState(versions, Lww(staging_ts, staging), history,
                       tracked).without_finished_versions()


states = st.builds(_state, st.tuples(st.integers(0, 3), st.integers(0, 3)),
                   st.sampled_from(["a", "b"]), st.integers(0, 3), stagings, trackers)


class MergeLawTests(SynchronousTestCase):
    @settings(max_examples=500, deadline=None)
    @given(states, states, states)
    def test_commutative_associative_idempotent(self, x, y, z):
        d = LayoutState.digest
        self.assertEqual(d(x.merge(y)), d(y.merge(x)))
        self.assertEqual(d(x.merge(y).merge(z)), d(x.merge(y.merge(z))))
        self.assertEqual(d(x.merge(x)), d(x))


class DigestCacheTests(SynchronousTestCase):
    @settings(max_examples=100, deadline=None)
    @given(states, states)
    def test_cached_digest_is_the_digest_of_the_state(self, x, y):
        """The digest is computed once per (immutable) state and stays the
        hash of its encoding; a changed copy has its own."""
        import hashlib

        from garage_twisted.util import codec
        for state in (x, y, x.merge(y)):
            fresh = hashlib.blake2b(codec.dumps(state.to_cbor()), digest_size=32).digest()
            self.assertEqual(state.digest(), fresh)
            self.assertIs(state.digest(), state.digest())
            self.assertEqual(replace(state, history=state.history + ((99, 1, 0),)).digest() ==
                             fresh, False)


class StagingTests(SynchronousTestCase):
    def _manager(self, clock):
        return LayoutManager(MemoryStore(), 3, NODES[0], clock)

    def test_concurrent_stagings_merge_and_revert_wins(self):
        clock = Clock()
        clock.advance(1000)
        a, b = self._manager(clock), self._manager(clock)
        a.stage_role(NODES[1], NodeRole("z1", 10))
        b.stage_role(NODES[2], NodeRole("z2", 10))
        self.assertTrue(a.merge_remote(b.state))
        self.assertEqual(set(a.staged_roles()), {NODES[1], NODES[2]})
        clock.advance(1)
        b.revert()
        a.merge_remote(b.state)
        self.assertEqual(a.staged_roles(), {})
        self.assertFalse(a.merge_remote(b.state))

    def test_higher_version_wins_and_other_factor_refused(self):
        clock = Clock()
        clock.advance(1000)
        a, b = self._manager(clock), self._manager(clock)
        for i, node in enumerate(NODES[:3]):
            b.stage_role(node, NodeRole(f"z{i}", 10 ** 9))
        a.stage_role(NODES[3], NodeRole("z9", 5))
        b.apply(1)
        self.assertTrue(a.merge_remote(b.state))
        self.assertEqual(a.current().version, 1)
        self.assertEqual(a.staged_roles(), {})
        other = LayoutManager(MemoryStore(), 2, NODES[0], clock)
        with self.assertRaises(LayoutError):
            other.merge_remote(b.state)
        self.assertEqual(other.current().version, 0)


class HistoryTests(SynchronousTestCase):
    def test_old_version_stays_until_every_node_synced(self):
        """Versions stay active while data moves, and go once all storage
        nodes of the active versions report they are past them."""
        clock = Clock()
        clock.advance(1000)
        a = LayoutManager(MemoryStore(), 3, NODES[0], clock, sync_on_receipt=False)
        for i, node in enumerate(NODES[:3]):
            a.stage_role(node, NodeRole(f"z{i}", 10 ** 9))
        a.apply(1)
        a.stage_role(NODES[3], NodeRole("z0", 10 ** 9))
        a.apply(2)
        self.assertEqual([v.version for v in a.active_versions()], [1, 2])
        self.assertEqual(a.trackers().ack[NODES[0]], 2)
        # Peers report their syncs; this node too; then everyone's sync_ack.
        state = a.state
        for node in NODES:
            state = state.merge(type(state)(state.versions, state.staging, state.history,
                                            state.trackers.raised("sync", node, 2)))
        a.merge_remote(state)
        self.assertEqual([v.version for v in a.active_versions()], [1, 2])
        self.assertEqual(a.trackers().sync_ack[NODES[0]], 2)
        for node in NODES[1:]:
            state = a.state
            a.merge_remote(type(state)(state.versions, state.staging, state.history,
                                       state.trackers.raised("sync_ack", node, 2)))
        self.assertEqual([v.version for v in a.active_versions()], [2])
        self.assertEqual([h[0] for h in a.history()], [1, 2])


class SkipDeadNodesTests(SynchronousTestCase):
    """A removed dead node no longer keeps an old version active."""

    def test_removed_dead_node_is_skipped(self):
        a, b, dead, new = (bytes([i]) * 32 for i in range(1, 5))
        clock = Clock()
        clock.advance(1000)
        manager = LayoutManager(MemoryStore(), 3, a, clock, sync_on_receipt=False)
        for i, node in enumerate((a, b, dead)):
            manager.stage_role(node, NodeRole(f"z{i}", 10 ** 9))
        manager.apply(1)
        for node in (a, b, dead):  # everyone synced version 1
            state = manager.state
            manager.merge_remote(replace(state, trackers=state.trackers.raised(
                "ack", node, 1).raised("sync", node, 1).raised("sync_ack", node, 1)))
        manager.stage_role(dead, None)
        manager.stage_role(new, NodeRole("z2", 10 ** 9))
        manager.apply(2)
        for node in (a, b, new):
            state = manager.state
            manager.merge_remote(replace(state, trackers=state.trackers.raised(
                "ack", node, 2).raised("sync", node, 2).raised("sync_ack", node, 2)))
        self.assertEqual(len(manager.active_versions()), 2)
        self.assertFalse(manager.all_acked(2))
        acked, synced = manager.skip_dead_nodes(2, {dead})
        self.assertEqual((acked, synced), ([dead], [dead]))
        self.assertEqual([v.version for v in manager.active_versions()], [2])
        self.assertEqual(manager.read_version().version, 2)

    def test_dead_node_with_a_role_needs_allow_missing_data_for_sync(self):
        a, b, c = (bytes([i]) * 32 for i in range(1, 4))
        manager = LayoutManager(MemoryStore(), 3, a, Clock())
        for i, node in enumerate((a, b, c)):
            manager.stage_role(node, NodeRole(f"z{i}", 10 ** 9))
        manager.apply(1)
        self.assertEqual(manager.skip_dead_nodes(1, {c}), ([c], []))
        self.assertEqual(manager.skip_dead_nodes(1, {c}, allow_missing_data=True), ([], [c]))
        self.assertEqual(manager.trackers().sync[c], 1)


class AloneInLayoutTests(SynchronousTestCase):
    """Whether any other node holds rows of this one (the Merkle workers
    of a node alone idle)."""

    def _manager(self):
        clock = Clock()
        clock.advance(1000)
        return LayoutManager(MemoryStore(), 1, NODES[0], clock)

    def test_single_storage_node_is_alone(self):
        """A cluster of one node is alone."""
        manager = self._manager()
        manager.stage_role(NODES[0], NodeRole("dc1", 10 ** 9))
        manager.apply(1)
        self.assertTrue(manager.alone_in_layout())

    def test_a_gateway_is_company(self):
        """A gateway holds the full-copy tables: the storage node is not alone."""
        manager = self._manager()
        manager.stage_role(NODES[0], NodeRole("dc1", 10 ** 9))
        manager.stage_role(NODES[1], NodeRole("dc1", None))
        manager.apply(1)
        self.assertTrue(manager.current().roles[NODES[1]].is_gateway)
        self.assertFalse(manager.alone_in_layout())

    def test_an_old_version_with_other_nodes_counts(self):
        """While a version that had other nodes is active, the node is not alone."""
        manager = self._manager()
        manager.stage_role(NODES[0], NodeRole("dc1", 10 ** 9))
        manager.stage_role(NODES[1], NodeRole("dc2", 10 ** 9))
        manager.apply(1)
        manager.stage_role(NODES[1], None)
        manager.apply(2)
        self.assertEqual(len(manager.active_versions()), 2)
        self.assertFalse(manager.alone_in_layout())
