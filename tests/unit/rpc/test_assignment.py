"""Partition assignment: constraints, optimal partition size, few moves."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.rpc.assignment import AssignmentError, compute_assignment
from garage_twisted.rpc.layout import NodeRole

GB = 10 ** 9


def _node(i: int) -> bytes:
    return bytes([i]) * 32


def _check(testcase, roles, rf, assignment, zr):
    """Every partition: rf distinct storage nodes over >= zr zones; no node
    holds more partitions than its capacity allows at the partition size."""
    size = assignment.partition_size
    testcase.assertGreater(size, 0)
    load = {}
    for nodes in assignment.partitions:
        testcase.assertEqual(len(nodes), rf)
        testcase.assertEqual(len(set(nodes)), rf)
        testcase.assertGreaterEqual(len({roles[n].zone for n in nodes}), zr)
        for n in nodes:
            testcase.assertIsNotNone(roles[n].capacity)
            load[n] = load.get(n, 0) + 1
    for n, count in load.items():
        testcase.assertLessEqual(count * size, roles[n].capacity)


def _brute_force_size(roles, rf, zr, partitions):
    """The best partition size over every possible assignment (tiny cases)."""
    storage = sorted(n for n, r in roles.items() if r.capacity is not None)
    combos = [c for c in itertools.combinations(storage, rf)
              if len({roles[n].zone for n in c}) >= zr]
    best = 0
    for choice in itertools.product(combos, repeat=partitions):
        load = {}
        for nodes in choice:
            for n in nodes:
                load[n] = load.get(n, 0) + 1
        best = max(best, min(roles[n].capacity // k for n, k in load.items()))
    return best


clusters = st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 20)), min_size=n, max_size=n),
    st.sampled_from([1, 2, 3, 5])))


class AssignmentPropertyTests(SynchronousTestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(clusters)
    def test_random_clusters(self, cluster):
        spec, rf = cluster
        roles = {_node(i): NodeRole(f"z{zone}", cap * GB) for i, (zone, cap) in enumerate(spec)}
        if len(roles) < rf:
            with self.assertRaises(AssignmentError):
                compute_assignment(roles, rf)
            return
        assignment = compute_assignment(roles, rf)
        zones = len({r.zone for r in roles.values()})
        _check(self, roles, rf, assignment, min(rf, zones))
        self.assertEqual(compute_assignment(roles, rf), assignment)  # deterministic

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 12)), min_size=1, max_size=5),
           st.integers(1, 3), st.integers(1, 3), st.integers(2, 4))
    def test_partition_size_is_optimal(self, spec, rf, zr, partitions):
        """Against an exhaustive search on tiny clusters."""
        roles = {_node(i): NodeRole(f"z{zone}", cap) for i, (zone, cap) in enumerate(spec)}
        zones = len({r.zone for r in roles.values()})
        zr = min(zr, rf)
        best = _brute_force_size(roles, rf, zr, partitions) if len(roles) >= rf else 0
        if best == 0 or zr > zones:
            with self.assertRaises(AssignmentError):
                compute_assignment(roles, rf, zr, partition_count=partitions)
            return
        assignment = compute_assignment(roles, rf, zr, partition_count=partitions)
        self.assertEqual(assignment.partition_size, best)
        _check(self, roles, rf, assignment, zr)


class MoveTests(SynchronousTestCase):
    def _balanced(self):
        return {_node(i): NodeRole(f"zone{i % 3}", 100 * GB) for i in range(6)}

    def test_adding_a_node_moves_only_what_it_takes(self):
        """RF 2 over 3 zones: a new node raises the partition size and takes
        partitions; nothing else moves."""
        roles = self._balanced()
        before = compute_assignment(roles, 2)
        roles[_node(6)] = NodeRole("zone0", 100 * GB)
        after = compute_assignment(roles, 2, previous=before)
        _check(self, roles, 2, after, 2)
        self.assertGreater(after.partition_size, before.partition_size)
        taken = after.stored_partitions(_node(6))
        self.assertGreater(taken, 0)
        self.assertEqual(after.moves_from(before), taken)

    def test_node_added_where_room_is_not_needed_takes_nothing(self):
        """RF 3 over 3 zones: the other zones bound the partition size, so the
        new node's zone already had room: no partition moves (Garage too)."""
        roles = self._balanced()
        before = compute_assignment(roles, 3)
        roles[_node(6)] = NodeRole("zone0", 100 * GB)
        after = compute_assignment(roles, 3, previous=before)
        self.assertEqual(after.partition_size, before.partition_size)
        self.assertEqual(after.moves_from(before), 0)

    def test_removing_a_node_moves_only_its_partitions(self):
        roles = self._balanced()
        roles[_node(6)] = NodeRole("zone0", 100 * GB)
        before = compute_assignment(roles, 3)
        held = before.stored_partitions(_node(6))
        del roles[_node(6)]
        after = compute_assignment(roles, 3, previous=before)
        _check(self, roles, 3, after, 3)
        self.assertEqual(after.moves_from(before), held)

    def test_capacity_change_in_one_zone_keeps_other_zones(self):
        roles = self._balanced()
        before = compute_assignment(roles, 3)
        roles[_node(0)] = NodeRole("zone0", 300 * GB)
        after = compute_assignment(roles, 3, previous=before)
        for old, new in zip(before.partitions, after.partitions):
            stay = {n for n in old if roles[n].zone != "zone0"}
            self.assertLessEqual(stay, set(new))

    def test_unchanged_roles_move_nothing(self):
        roles = {_node(i): NodeRole(f"z{i % 4}", (i + 1) * 10 * GB) for i in range(9)}
        before = compute_assignment(roles, 3)
        self.assertEqual(compute_assignment(roles, 3, previous=before).moves_from(before), 0)


class RefusalTests(SynchronousTestCase):
    def test_clear_errors(self):
        one_zone = {_node(i): NodeRole("z", GB) for i in range(3)}
        with self.assertRaises(AssignmentError) as caught:
            compute_assignment(one_zone, 3, 2)
        self.assertIn("at least 2 zones", str(caught.exception))
        with self.assertRaises(AssignmentError) as caught:
            compute_assignment({_node(1): NodeRole("z", GB)}, 3)
        self.assertIn("not enough storage nodes", str(caught.exception))
        gateways = {_node(i): NodeRole("z", None) for i in range(5)}
        with self.assertRaises(AssignmentError):
            compute_assignment(gateways, 1)
