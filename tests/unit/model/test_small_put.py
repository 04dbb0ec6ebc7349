"""When a small object may go to its replicas in one message."""

from types import SimpleNamespace

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.model.small_put import SmallObjectWriter

ME, B, C, D = (bytes([i]) * 32 for i in (1, 2, 3, 4))


class _Sets:
    """A replication (or replicator) answering fixed write sets by position."""

    def __init__(self, sets_of):
        self.sets_of = sets_of

    def write_sets(self, position):
        return self.sets_of(position)


def writer(object_sets, version_sets, ref_sets, block_sets, quorum=2):
    model = SimpleNamespace(
        block_manager=None,
        object_table=SimpleNamespace(replication=_Sets(lambda p: object_sets)),
        version_table=SimpleNamespace(replication=_Sets(lambda p: version_sets)),
        block_ref_table=SimpleNamespace(replication=_Sets(lambda p: ref_sets)),
    )
    network = SimpleNamespace(node_id=ME, register=lambda path, handler: None)
    return SmallObjectWriter(model, _Sets(lambda p: block_sets), network, quorum)


def node_set(w):
    """The one-message node set, as PutObject asks for it."""
    nodes = w.node_set(b"b", b"v")
    return nodes if nodes is not None and w.holds_block(nodes, b"h") else None


class NodeSetTests(SynchronousTestCase):
    def test_three_nodes_holding_everything(self):
        nodes = [[ME, B, C]]
        self.assertEqual(node_set(writer(nodes, nodes, nodes, nodes)), sorted([ME, B, C]))

    def test_single_node(self):
        self.assertEqual(node_set(writer([[ME]], [[ME]], [[ME]], [[ME]], quorum=1)), [ME])

    def test_pieces_on_different_nodes_take_two_round_trips(self):
        abc, abd = [[ME, B, C]], [[ME, B, D]]
        self.assertIsNone(node_set(writer(abc, abd, abc, abc)))  # the version elsewhere
        self.assertIsNone(node_set(writer(abc, abc, abd, abd)))  # the block elsewhere

    def test_this_node_not_among_them(self):
        nodes = [[B, C, D]]
        self.assertIsNone(node_set(writer(nodes, nodes, nodes, nodes)))

    def test_during_a_layout_change(self):
        nodes = [[ME, B, C], [ME, B, D]]
        self.assertIsNone(node_set(writer(nodes, nodes, nodes, nodes)))

    def test_a_write_quorum_above_two(self):
        # Two nodes holding the pieces (this one and the one answering
        # first) would be fewer than the quorum.
        nodes = [[ME, B, C, D, bytes(32)]]
        self.assertIsNone(node_set(writer(nodes, nodes, nodes, nodes, quorum=3)))


class ServeFuzzTests(SynchronousTestCase):
    """Whatever a peer sends to ``object/put_small``, the answer is an
    RpcError (or a stored object), never another exception, and nothing
    is stored from a malformed message."""

    def setUp(self):
        import os

        from twisted.internet.task import Clock

        from garage_twisted.block.manager import BlockManager
        from garage_twisted.block.store import LocalBlockStore
        from garage_twisted.db.memory import MemoryStore
        from garage_twisted.model.garage import GarageModel
        from garage_twisted.table.replication import LocalReplication
        from twisted.internet import defer

        def run_now(f, *args):
            return defer.maybeDeferred(f, *args)

        store = MemoryStore()
        manager = BlockManager(LocalBlockStore(os.path.abspath(self.mktemp()), run_now),
                               store, run_now, Clock())
        local = LocalReplication(ME)
        self.model = GarageModel(store, manager, ME, local, local, Clock())
        network = SimpleNamespace(node_id=ME, register=lambda path, handler: None)
        self.writer = SmallObjectWriter(self.model, _Sets(lambda p: [[ME]]), network, 1)

    def test_random_messages(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st
        from twisted.internet import defer

        from garage_twisted.net.errors import RpcError

        leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.binary(max_size=40),
                           st.text(max_size=10))
        messages = st.recursive(leaves, lambda kids: st.lists(kids, max_size=6), max_leaves=20)

        @settings(max_examples=300, deadline=None)
        @given(messages)
        def check(message):
            d = defer.ensureDeferred(self.writer._serve(SimpleNamespace(message=message)))
            self.failureResultOf(d, RpcError)
            self.assertEqual(list(self.model.object_table.data.rows.range()), [])

        check()
