"""The layout state as a CRDT: merge laws, staging generations."""

from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.rpc.layout import (
    LayoutError, LayoutManager, LayoutState, LayoutVersion, NodeRole, Staging,
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
states = st.builds(
    lambda version, zone, staging_ts, staging: LayoutState(
        LayoutVersion(version, 3, "maximum",
                      MappingProxyType({NODES[0]: NodeRole(zone, 10)}) if version else
                      MappingProxyType({}), None),
        Lww(staging_ts, staging)),
    st.integers(0, 2), st.sampled_from(["a", "b"]), st.integers(0, 3), stagings)


class MergeLawTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(states, states, states)
    def test_commutative_associative_idempotent(self, x, y, z):
        d = LayoutState.digest
        self.assertEqual(d(x.merge(y)), d(y.merge(x)))
        self.assertEqual(d(x.merge(y).merge(z)), d(x.merge(y.merge(z))))
        self.assertEqual(d(x.merge(x)), d(x))


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
