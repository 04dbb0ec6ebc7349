"""Anti-entropy of one partition between two replicas: the real tries and the real syncer.

Two replicas A and B of one partition of a sharded table, each a
``MemoryStore`` with its real Merkle trie (``table/merkle.py``), each with a
real ``TableSyncer`` (``table/sync.py``) on the in-memory mesh. A's trie is
built with ``MerkleTrie.update_items`` as the node's updater does; B's
starts as a key-by-key copy of it (the trie of a set of rows does not
depend on how it was built), then B's differing rows go through
``update_items`` too. A then runs the
syncer's own comparison, ``_sync_partitions(B, [partition])``: one
``roots`` call, then, if the partition's roots differ, the walk that fetches
each differing node of B's trie (one call per node, one after another) and
pushes the rows under differing leaves (``table/T/update``, batches of 100).
B applies what it receives as a write would (row stored, trie updated), so a
second pass finds nothing: checked.

Rows: ``rows`` rows in the partition, as many as a node holds per
partition with ``objects_per_node`` rows of the table spread over its
partitions (``objects_per_node * n / (256 * 3)``). The rows A pushes are
real object-table entries (``model/object.py``, one 1 MiB version: 207
bytes); the others exist only as their value hash in the tries (the walk
never reads them). "1% differs": B holds an older value of 1% of the rows.

Above ``max_rows`` rows the partition is sampled: only the rows whose trie
path starts with one of the first ``k`` bytes (of 256) are built, the walk's
counts below the root are scaled by ``256 / k`` (the subtries under the
other bytes are alike), and the output says so.
"""

import random
import time
from types import SimpleNamespace

from twisted.internet import defer

from garage_twisted.db.memory import MemoryStore
from garage_twisted.model.object import (
    DATA_FIRST_BLOCK, STATE_COMPLETE, Object, ObjectTableSchema, ObjectVersion,
    ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.net.mux import Reply
from garage_twisted.rpc.ring import PARTITION_COUNT
from garage_twisted.table.data import TableData, blake2sum
from garage_twisted.table.merkle import MerkleTrie
from garage_twisted.table.sync import CONCURRENT_WALKS, SHARDED_INTERVAL, TableSyncer

from scale_model.fakenet import EventClock, Mesh
from scale_model.layout_cost import EPOCH, RF

PARTITION = 0x2A
BATCH = 1000
TABLE = "object"
NODE_PATH = f"table/{TABLE}/merkle/node"
NODES_PATH = f"table/{TABLE}/merkle/nodes"
ROOTS_PATH = f"table/{TABLE}/merkle/roots"
UPDATE_PATH = f"table/{TABLE}/update"


def rows_per_partition(objects_per_node: int, nodes: int) -> int:
    return round(objects_per_node * nodes / (PARTITION_COUNT * RF))


def _object_row(row_key: bytes, stamp: int) -> bytes:
    """The object-table entry whose row key is ``row_key``."""
    position, name = row_key[:32], row_key[32:].decode()
    version = ObjectVersion(
        blake2sum(row_key)[:16], stamp, STATE_COMPLETE,
        data=ObjectVersionData(DATA_FIRST_BLOCK,
                               meta=ObjectVersionMeta((("content-type", "image/jpeg"),),
                                                      1 << 20, blake2sum(name.encode()).hex()),
                               first_block=blake2sum(row_key + b"block")))
    return Object(position, name, (version,)).encode()


def _row_key(position: bytes, index: int) -> bytes:
    return position + f"photos/{index:010d}.jpg".encode()


class _Replica:
    def __init__(self, mesh: Mesh, node_id: bytes, clock):
        self.node_id = node_id
        self.store = MemoryStore()
        self.data = TableData(ObjectTableSchema(), self.store)
        self.trie = MerkleTrie(self.data)
        self.endpoint = mesh.endpoint(node_id)
        layout = SimpleNamespace(on_change=[])
        self.syncer = TableSyncer(SimpleNamespace(name=TABLE, data=self.data), self.endpoint,
                                  layout, False, clock=clock)
        self.endpoint.register(UPDATE_PATH, self._update)
        self.received = 0

    def write(self, items) -> None:
        """``(row key, value hash)`` into the trie, in batches (as the
        Merkle updater applies its to-do list)."""
        for i in range(0, len(items), BATCH):
            tx = self.store.transaction()
            self.trie.update_items(tx, items[i:i + BATCH])
            tx.commit()

    def _update(self, call) -> Reply:
        items = []
        for raw in call.message:
            entry = Object.decode(raw)
            key = entry.partition_hash() + entry.sort_key()
            self.data.rows.insert(key, raw)
            items.append((key, blake2sum(raw)))
        self.write(items)
        self.received += len(items)
        return Reply(None)


def _run(clock, coroutine):
    d = defer.ensureDeferred(coroutine)
    box = []
    d.addBoth(box.append)
    clock.run()
    if not box:
        raise AssertionError("the sync did not finish")
    if hasattr(box[0], "raiseException"):
        box[0].raiseException()
    return box[0]


def measure(rows: int, rtt: float, max_rows: int, diff_share: float = 0.01,
            seed: int = 0) -> dict:
    """One partition's anti-entropy between two replicas (module docstring)."""
    rng = random.Random(seed)
    first_bytes = PARTITION_COUNT
    if rows > max_rows:
        first_bytes = max(1, PARTITION_COUNT * max_rows // rows)
    scale = PARTITION_COUNT / first_bytes
    clock = EventClock(EPOCH)
    mesh = Mesh(clock, lambda i, j: rtt / 2)
    a = _Replica(mesh, b"A" * 32, clock)
    b = _Replica(mesh, b"B" * 32, clock)
    for ep in mesh.endpoints.values():
        ep.connections.update({n: True for n in mesh.endpoints if n != ep.node_id})

    # The rows (of the sample), in the order of their trie paths: the
    # memory store then appends its keys instead of inserting in the middle.
    build = time.process_time()
    wanted = round(rows / scale)
    keys = []
    index = 0
    while len(keys) < wanted:
        position = bytes([PARTITION]) + rng.randbytes(31)
        key = _row_key(position, index)
        index += 1
        if blake2sum(key)[0] < first_bytes:
            keys.append(key)
    keys.sort(key=blake2sum)
    differing = set(rng.sample(range(len(keys)), round(len(keys) * diff_share)))
    items_a = []
    for i, key in enumerate(keys):
        if i in differing:
            raw = _object_row(key, 1_700_000_000_000)
            a.data.rows.insert(key, raw)
            items_a.append((key, blake2sum(raw)))
        else:
            items_a.append((key, blake2sum(key + b"value")))
    a.write(items_a)
    for key, value in a.trie.tree.range():  # B: a copy of A's trie, key by key
        b.trie.tree.insert(key, value)
    build = time.process_time() - build
    trie_nodes = sum(1 for _ in a.trie.tree.range())

    # Merkle nodes asked of the peer: one per merkle/node call, a list per
    # merkle/nodes call (TableSyncer._remote_nodes).
    compared = [0]
    remote_nodes = a.syncer._remote_nodes

    async def counted_remote_nodes(peer, keys):
        compared[0] += len(keys)
        return await remote_nodes(peer, keys)
    a.syncer._remote_nodes = counted_remote_nodes

    def sync() -> dict:
        mesh.reset_counters()
        compared[0] = 0
        start, cpu = clock.seconds(), time.process_time()
        roots = a.syncer._roots()
        pushed = _run(clock, a.syncer._sync_partitions(b.node_id, [PARTITION], roots))
        return {
            "seconds": clock.seconds() - start,
            "cpu_seconds": time.process_time() - cpu,
            "roots_calls": mesh.calls[ROOTS_PATH],
            "roots_bytes": mesh.bytes[ROOTS_PATH],
            "merkle_nodes_compared": compared[0],
            "merkle_calls": mesh.calls[NODE_PATH] + mesh.calls[NODES_PATH],
            "merkle_bytes": mesh.bytes[NODE_PATH] + mesh.bytes[NODES_PATH],
            "push_calls": mesh.calls[UPDATE_PATH],
            "push_bytes": mesh.bytes[UPDATE_PATH],
            "rows_pushed": pushed,
            "bytes": sum(mesh.bytes.values()),
        }

    same = sync()
    # B holds an older value of the differing rows (written as any update).
    b.write([(keys[i], blake2sum(keys[i] + b"older")) for i in sorted(differing)])
    diff = sync()
    if diff["rows_pushed"] != len(differing) or \
            a.trie.root_hash(PARTITION) != b.trie.root_hash(PARTITION):
        raise AssertionError("the sync did not bring B level with A")
    after = sync()
    if after["merkle_nodes_compared"] or after["rows_pushed"]:
        raise AssertionError("a second pass still found differences")

    def scaled(figures: dict) -> dict:
        if scale == 1:
            return figures
        out = dict(figures)
        for name in ("merkle_nodes_compared", "merkle_calls", "merkle_bytes", "push_calls",
                     "push_bytes", "rows_pushed", "cpu_seconds"):
            out[name] = figures[name] * scale
        out["bytes"] = figures["roots_bytes"] + out["merkle_bytes"] + out["push_bytes"]
        calls = out["roots_calls"] + out["merkle_calls"] + out["push_calls"]
        out["seconds"] = calls * rtt  # one call at a time (an upper bound: the
        # levels of the whole trie are fewer than the sample's times scale)
        return out

    return {
        "rows": rows,
        "sampled_rows": len(keys),
        "sample_scale": scale,
        "trie_nodes_sampled": trie_nodes,
        "rtt_seconds": rtt,
        "build_cpu_seconds": build,
        "no_diff": same,
        "diff": scaled(diff),
        "diff_share": diff_share,
    }


def per_node(partition: dict, nodes: int, sync_interval: float = SHARDED_INTERVAL) -> dict:
    """One full pass of one node: each of its partitions with each other
    holder (RF - 1), one ``roots`` call per peer it shares partitions with."""
    partitions = PARTITION_COUNT * RF / nodes
    walks = partitions * (RF - 1)
    peers = min(nodes - 1, walks)
    same, diff = partition["no_diff"], partition["diff"]
    roots_bytes = same["roots_bytes"]
    rtt = partition["rtt_seconds"]
    out = {"partitions_per_node": partitions, "peers": peers, "walks": walks,
           "sync_interval": sync_interval}
    out["no_diff"] = {"calls": peers, "bytes": peers * roots_bytes, "seconds": peers * rtt,
                      "merkle_nodes_compared": 0}
    walk_calls = diff["merkle_calls"] + diff["push_calls"]
    out["diff"] = {
        "calls": peers + walks * walk_calls,
        "merkle_nodes_compared": walks * diff["merkle_nodes_compared"],
        "merkle_calls": walks * diff["merkle_calls"],
        "bytes": peers * roots_bytes + walks * (diff["merkle_bytes"] + diff["push_bytes"]),
        "rows_pushed": walks * diff["rows_pushed"],
        # A peer's partitions are walked CONCURRENT_WALKS at a time.
        "seconds": peers * rtt + walks * walk_calls * rtt / CONCURRENT_WALKS,
        "cpu_seconds": walks * diff["cpu_seconds"],
    }
    return out
