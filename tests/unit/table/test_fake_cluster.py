"""Three replicas of a table on the in-memory network, under faults.

Real table engine (quorum reads and writes, Merkle anti-entropy, tombstone
GC) on memory stores and :class:`~tests.support.fake_network.FakeHub`, all
driven by one ``Clock``: partitions, dropped calls, delays and hung nodes
are exact and fast.
"""

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.rpc.layout import LayoutManager, NodeRole
from garage_twisted.table.data import TableData
from garage_twisted.table.gc import TableGc
from garage_twisted.table.merkle import MerkleUpdater
from garage_twisted.table.replication import ShardedReplication
from garage_twisted.table.rpc import TableRpc, TableServer
from garage_twisted.table.schema import Entry, TableSchema
from garage_twisted.table.sync import TableSyncer
from garage_twisted.table.table import Table
from garage_twisted.util.crdt import LwwMap
from garage_twisted.util.worker import WorkerState
from tests.support.fake_network import FakeHub

GC_DELAY = 10.0
NODE_IDS = [bytes([i + 1]) * 32 for i in range(3)]


@dataclass(frozen=True)
class Record(Entry):
    """A row of named fields; deleting a field writes ``None`` to it."""

    MARKER = b"GT.test.record.v1"

    pk: bytes
    sk: bytes
    fields: LwwMap

    def partition_hash(self):
        return self.pk

    def sort_key(self):
        return self.sk

    def merge(self, other):
        return Record(self.pk, self.sk, self.fields.merge(other.fields))

    def is_tombstone(self):
        return len(self.fields) > 0 and all(v is None for _, v in self.fields.items())

    def to_cbor(self):
        return [self.pk, self.sk, self.fields.to_cbor()]

    @classmethod
    def from_cbor(cls, raw):
        return cls(bytes(raw[0]), bytes(raw[1]), LwwMap.from_cbor(raw[2]))


class RecordSchema(TableSchema):
    table_name = "record"
    entry_class = Record


def record(pk: bytes, sk: bytes, ts: int, **fields) -> Record:
    return Record(pk, sk, LwwMap({name: (ts, value) for name, value in fields.items()}))


class FakeNode:
    """One replica.

    :param rpc_clock: the clock the table's client reads with (hedged
        reads, local rows read after the requests left), as in a node; by
        default none: every read asks its quorum at once.
    """

    def __init__(self, hub, node_id, clock, rpc_clock=None):
        self.node_id = node_id
        self.store = MemoryStore()
        self.network = hub.network(node_id)
        self.layout = LayoutManager(self.store, 3, node_id, clock)
        self.replication = ShardedReplication(self.layout, node_id, 3)
        self.data = TableData(RecordSchema(), self.store, clock=clock)
        self.table = Table(self.data, self.replication, node_id,
                           remote=TableRpc(self.network, clock=rpc_clock))
        TableServer(self.network, [self.table])
        self.merkle = MerkleUpdater(self.data)
        self.syncer = TableSyncer(self.table, self.network, self.layout, False, clock=clock)
        self.gc = TableGc(self.table, self.network, self.replication.all_nodes, GC_DELAY,
                          clock)

    def rows(self) -> dict:
        return dict(self.data.rows.range())

    def update_merkle(self):
        while self.merkle.work() == WorkerState.BUSY:
            pass


class FakeCluster:
    """:param rpc_clock: give the tables' clients the cluster's clock."""

    def __init__(self, delay=0.001, seed=0, rpc_clock=False):
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.hub = FakeHub(self.clock, delay=delay, seed=seed)
        self.nodes = [FakeNode(self.hub, n, self.clock,
                               rpc_clock=self.clock if rpc_clock else None)
                      for n in NODE_IDS]
        first = self.nodes[0].layout
        for i, node_id in enumerate(NODE_IDS):
            first.stage_role(node_id, NodeRole(f"z{i}", 10 ** 9))
        first.apply(1)
        for node in self.nodes[1:]:
            node.layout.merge_remote(first.state)

    def run(self, d, limit=600.0):
        """Advance the clock until ``d`` fires; its result (or raises)."""
        waited = 0.0
        while not d.called and waited < limit:
            self.clock.advance(0.001)
            waited += 0.001
        if not d.called:
            raise AssertionError(f"still waiting after {limit} s of clock")
        box = []
        d.addBoth(box.append)
        result = box[0]
        if hasattr(result, "raiseException"):
            result.raiseException()
        return result

    def anti_entropy(self):
        for node in self.nodes:
            node.update_merkle()
        for node in self.nodes:
            self.run(defer.ensureDeferred(node.syncer.sync_all()))
        for node in self.nodes:
            node.update_merkle()

    def roots(self):
        return [n.syncer._roots() for n in self.nodes]


PK = bytes(range(32))


class FakeClusterTests(SynchronousTestCase):

    def test_concurrent_writes_converge(self):
        """Two nodes write the same row at once, with random delays and drops
        of calls: every node ends with the same merged row."""
        cluster = FakeCluster(delay=0.003)
        a, b, c = cluster.nodes
        cluster.hub.drop_rate = 0.3
        ts = int(cluster.clock.seconds() * 1000)
        writes = [a.table.insert(record(PK, b"row", ts, x=b"from a", same=b"a")),
                  b.table.insert(record(PK, b"row", ts, y=b"from b", same=b"b"))]
        for d in writes:
            d.addErrback(lambda f: None)  # a dropped write may miss its quorum
        cluster.run(defer.DeferredList(writes))
        cluster.hub.drop_rate = 0.0
        cluster.anti_entropy()
        rows = [n.rows() for n in cluster.nodes]
        self.assertEqual(rows[0], rows[1])
        self.assertEqual(rows[1], rows[2])
        merged = Record.decode(next(iter(rows[0].values())))
        self.assertEqual(merged.fields.get("x"), b"from a")
        self.assertEqual(merged.fields.get("y"), b"from b")
        self.assertEqual(merged.fields.get("same"), b"b")  # same timestamp: fixed tie-break
        got = cluster.run(c.table.get(PK, b"row"))
        self.assertEqual(got, merged)

    def test_partitioned_replica_catches_up_by_anti_entropy_alone(self):
        cluster = FakeCluster()
        a, b, c = cluster.nodes
        cluster.hub.isolate(c.node_id)
        entries = [record(bytes([i]) + PK[1:], b"k%d" % i, 1, v=i) for i in range(200)]
        cluster.run(a.table.insert_many(entries[:100]))
        cluster.run(b.table.insert_many(entries[100:]))
        self.assertEqual(c.rows(), {})
        cluster.hub.heal()
        cluster.anti_entropy()
        self.assertEqual(len(c.rows()), 200)
        self.assertEqual(c.rows(), a.rows())
        roots = cluster.roots()
        self.assertEqual(roots[0], roots[2])

    def test_anti_entropy_compares_tries_a_level_per_call(self):
        """A replica that missed rows is caught up in a few merkle/nodes
        calls (a level of the trie per call); a peer without that endpoint
        (an older version) is still caught up, node by node."""
        for older_peer in (False, True):
            cluster = FakeCluster()
            a, b, c = cluster.nodes
            cluster.hub.isolate(c.node_id)
            # One partition key: the 200 rows are in one partition's trie.
            entries = [record(PK, b"k%d" % i, 1, v=i) for i in range(200)]
            cluster.run(a.table.insert_many(entries))
            cluster.hub.heal()
            if older_peer:
                for node in cluster.nodes:
                    del node.network.endpoints["table/record/merkle/nodes"]
            calls = []
            for node in cluster.nodes:
                original = node.network.call

                def counting(node_id, path, *args, original=original, **kwargs):
                    calls.append(path.rsplit("/", 1)[-1])
                    return original(node_id, path, *args, **kwargs)
                node.network.call = counting
            cluster.anti_entropy()
            self.assertEqual(c.rows(), a.rows())
            if older_peer:
                self.assertGreater(calls.count("node"), 200)
            else:
                self.assertEqual(calls.count("node"), 0)
                # Two replicas each compare with the one that missed the
                # rows: a few levels each, not a call per node.
                self.assertLess(calls.count("nodes"), 20)

    def test_a_hung_node_does_not_delay_quorum_writes_and_reads(self):
        cluster = FakeCluster(delay=0.001)
        a, b, c = cluster.nodes
        cluster.hub.hung.add(c.node_id)
        started = cluster.clock.seconds()
        cluster.run(a.table.insert(record(PK, b"h", 5, v=1)))
        got = cluster.run(b.table.get(PK, b"h"))
        self.assertEqual(got.fields.get("v"), 1)
        # One round trip each, not the 30 s timeout of the hung node.
        self.assertLess(cluster.clock.seconds() - started, 0.1)

    def test_range_read_asks_the_other_replica_before_reading_its_own(self):
        """With a clock (as in a node), a range read's local rows are read
        only after the request to the other replica went out, so both read
        at once; the merged answer is the same."""
        cluster = FakeCluster(delay=0.001, rpc_clock=True)
        a, b, c = cluster.nodes
        entries = [record(PK, b"k%03d" % i, 1, v=i) for i in range(20)]
        cluster.run(a.table.insert_many(entries))
        calls_when_read = []
        read_rows = a.data.read_range_rows

        def recording(*args):
            calls_when_read.append(cluster.hub.calls)
            return read_rows(*args)

        a.data.read_range_rows = recording
        before = cluster.hub.calls
        got = cluster.run(a.table.get_range(PK, limit=100))
        self.assertEqual([e.sort_key() for e in got], [e.sort_key() for e in entries])
        self.assertEqual(calls_when_read, [before + 1])

    def test_insert_and_read_sees_every_write_acknowledged_before(self):
        """A write that also reads, in one round trip, learns of an earlier
        acknowledged write its own node missed (what a PUT's timestamp
        relies on), and takes one round trip."""
        cluster = FakeCluster(delay=0.01)
        a, b, c = cluster.nodes
        cluster.hub.partition(a.node_id, c.node_id)
        cluster.run(a.table.insert(record(PK, b"r", 5, first=b"a")))  # on a and b
        self.assertEqual(c.rows(), {})
        cluster.hub.heal()
        started = cluster.clock.seconds()
        seen = cluster.run(c.table.insert_and_read(record(PK, b"r", 6, second=b"c")))
        self.assertLess(cluster.clock.seconds() - started, 0.025)
        self.assertEqual(seen.fields.get("first"), b"a")
        self.assertEqual(seen.fields.get("second"), b"c")

    def test_two_nodes_away_fails_with_quorum_error(self):
        from garage_twisted.util.errors import QuorumError
        cluster = FakeCluster()
        a = cluster.nodes[0]
        cluster.hub.isolate(a.node_id)
        with self.assertRaises(QuorumError):
            cluster.run(a.table.insert(record(PK, b"q", 5, v=1)))

    def test_gc_removes_a_tombstone_everywhere_only_when_all_nodes_hold_it(self):
        cluster = FakeCluster()
        a, b, c = cluster.nodes
        cluster.run(a.table.insert(record(PK, b"gone", 10, v=1)))
        cluster.run(a.table.insert(record(PK, b"gone", 20, v=None)))
        cluster.clock.advance(GC_DELAY + 1)
        cluster.hub.partition(a.node_id, c.node_id)
        cluster.run(a.gc.work())
        self.assertEqual(len(a.rows()), 1, "collected while a node was unreachable")
        cluster.hub.heal()
        cluster.clock.advance(61)
        while cluster.run(a.gc.work()) == WorkerState.BUSY:
            pass
        for node in cluster.nodes:
            self.assertEqual(node.rows(), {}, node.node_id.hex()[:4])
            self.assertIsNone(cluster.run(node.table.get(PK, b"gone")))

    def test_gc_does_not_let_a_node_that_missed_the_deletion_resurrect_it(self):
        """C was away during the deletion and still holds the live value: GC
        first gives C the tombstone, so anti-entropy cannot bring it back."""
        cluster = FakeCluster()
        a, b, c = cluster.nodes
        cluster.run(a.table.insert(record(PK, b"old", 10, v=1)))
        cluster.clock.advance(0.01)  # the third replica gets the write too
        self.assertEqual(len(c.rows()), 1)
        cluster.hub.isolate(c.node_id)
        cluster.run(a.table.insert(record(PK, b"old", 20, v=None)))
        cluster.clock.advance(GC_DELAY + 1)
        cluster.hub.heal()
        while cluster.run(a.gc.work()) == WorkerState.BUSY:
            pass
        cluster.anti_entropy()
        for node in cluster.nodes:
            self.assertIsNone(cluster.run(node.table.get(PK, b"old")))
            self.assertEqual(node.rows(), {})

    def test_gc_never_removes_an_entry_a_live_write_recreated(self):
        """The live write reaches one node between the two GC steps: that
        node keeps it, and anti-entropy brings it back to the others."""
        cluster = FakeCluster()
        a, b, c = cluster.nodes
        cluster.run(a.table.insert(record(PK, b"back", 10, v=1)))
        cluster.run(a.table.insert(record(PK, b"back", 20, v=None)))
        cluster.clock.advance(GC_DELAY + 1)
        original = c.network.endpoints["table/record/gc_delete"]

        def recreate_first(call):
            c.data.update_entries([record(PK, b"back", 30, v=2)])
            return original(call)

        c.network.endpoints["table/record/gc_delete"] = recreate_first
        cluster.run(a.gc.work())
        self.assertEqual(a.rows(), {})
        self.assertEqual(len(c.rows()), 1)
        cluster.anti_entropy()
        for node in cluster.nodes:
            got = cluster.run(node.table.get(PK, b"back"))
            self.assertEqual(got.fields.get("v"), 2)

    @settings(max_examples=60)
    @given(st.lists(st.tuples(
        st.sampled_from(["write", "delete", "gc", "sync", "cut", "heal", "wait"]),
        st.integers(0, 2), st.integers(0, 2), st.integers(0, 3)), max_size=25))
    def test_random_histories_keep_every_acknowledged_write(self, steps):
        """Whatever the interleaving of writes, deletions, partitions, GC and
        anti-entropy, after healing each key reads as its newest
        acknowledged write (or a newer one), never resurrected, never lost."""
        cluster = FakeCluster()
        acked = {}  # key -> (timestamp, value)
        for op, i, j, k in steps:
            cluster.clock.advance(0.002)
            node = cluster.nodes[i]
            key = b"key%d" % k
            if op in ("write", "delete"):
                ts = int(cluster.clock.seconds() * 1000)
                value = None if op == "delete" else ts
                d = node.table.insert(record(PK, key, ts, v=value))
                try:
                    cluster.run(d, limit=100)
                    acked[key] = (ts, value)
                except Exception:
                    pass  # not acknowledged: may or may not survive
            elif op == "gc":
                try:
                    cluster.run(node.gc.work(), limit=100)
                except Exception:
                    pass
            elif op == "sync":
                node.update_merkle()
                cluster.run(defer.ensureDeferred(node.syncer.sync_all()), limit=200)
            elif op == "cut" and i != j:
                cluster.hub.partition(cluster.nodes[i].node_id, cluster.nodes[j].node_id)
            elif op == "heal":
                cluster.hub.heal()
            elif op == "wait":
                cluster.clock.advance(GC_DELAY * k)
        cluster.hub.heal()
        cluster.anti_entropy()
        for node in cluster.nodes:
            for key, (ts, value) in acked.items():
                got = cluster.run(node.table.get(PK, key))
                if got is None:
                    self.assertIsNone(value, f"{key!r} acknowledged at {ts} is lost")
                    continue
                got_ts = got.fields.timestamp_of("v")
                self.assertGreaterEqual(got_ts, ts, f"{key!r} went back in time")
                if got_ts == ts:
                    self.assertEqual(got.fields.get("v"), value)
