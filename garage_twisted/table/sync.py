"""Anti-entropy: replicas compare Merkle tries and push what the other lacks.

For each partition this node stores, and each other node storing it, the
syncer compares the two tries from the root down, only into subtrees whose
hashes differ, and sends the rows under differing leaves to the other node
(``table/T/update``, merged there as any write). Both nodes run it, so each
one's missing rows arrive from the other; CRDT merging makes the order
irrelevant. A first call fetches the 256 partition roots at once, so tables
that agree cost one round trip per peer.

Runs every ``interval`` seconds (10 min for sharded tables, 10 s for
full-copy ones, as Garage) and at once when the layout changes.
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.net.mux import PRIO_BACKGROUND, Reply, RpcError
from garage_twisted.rpc.ring import PARTITION_COUNT
from garage_twisted.table.merkle import (
    CHILD_RECORD, EMPTY_HASH, NODE_LEAF, MerkleNodeKey, MerkleTrie,
)
from garage_twisted.util import codec
from garage_twisted.util.worker import WorkerState

SHARDED_INTERVAL = 600.0
FULL_COPY_INTERVAL = 10.0
PUSH_BATCH = 100
TIMEOUT = 60.0


class TableSyncer:
    """Anti-entropy worker of one table.

    :param table: the ``Table``.
    :param network: the node's ``Network``.
    :param layout: the node's ``LayoutManager``.
    :param full_copy: whether every layout node holds every partition.
    """

    log = Logger()

    def __init__(self, table, network, layout, full_copy: bool):
        self.table = table
        self.network = network
        self.layout = layout
        self.full_copy = full_copy
        self.name = f"{table.name} sync"
        self.idle_delay = FULL_COPY_INTERVAL if full_copy else SHARDED_INTERVAL
        self.trie = MerkleTrie(table.data)
        self.pushed = 0
        self.passes = 0
        network.register(self._path("roots"), self._serve_roots)
        network.register(self._path("node"), self._serve_node)

    def _path(self, what: str) -> str:
        return f"table/{self.table.name}/merkle/{what}"

    # -- serving -------------------------------------------------------------

    def _roots(self) -> list:
        return [self.trie.root_hash(p) for p in range(PARTITION_COUNT)]

    def _serve_roots(self, call) -> Reply:
        return Reply(self._roots())

    def _serve_node(self, call) -> Reply:
        if not isinstance(call.message, bytes) or len(call.message) < 2:
            raise RpcError("BadRequest", "merkle/node takes a node key")
        return Reply(self.trie.tree.get(call.message))

    # -- syncing -------------------------------------------------------------

    def _peers_of(self, partition: int) -> list:
        me = self.network.node_id
        current = self.layout.current()
        if self.full_copy:
            nodes = list(current.roles)
        elif current.assignment is None:
            return []
        else:
            nodes = list(current.assignment.partitions[partition])
        if me not in nodes:
            return []
        return [n for n in nodes if n != me]

    def _call(self, node, what, message):
        return self.network.call(node, self._path(what), message,
                                 priority=PRIO_BACKGROUND, timeout=TIMEOUT)

    async def sync_all(self) -> int:
        """One full pass; returns how many rows were pushed."""
        pushed = 0
        local_roots = self._roots()
        peers = {}
        for partition in range(PARTITION_COUNT):
            for peer in self._peers_of(partition):
                peers.setdefault(peer, []).append(partition)
        for peer, partitions in peers.items():
            if peer not in self.network.connections:
                continue
            try:
                remote_roots = (await self._call(peer, "roots", None)).message
                for partition in partitions:
                    if local_roots[partition] != EMPTY_HASH and \
                            remote_roots[partition] != local_roots[partition]:
                        pushed += await self._sync_partition(partition, peer)
            except Exception as e:  # one peer's failure does not stop the pass
                self.log.info("sync of {table} with {node} interrupted: {error}",
                              table=self.table.name, node=peer.hex()[:16], error=str(e))
        self.pushed += pushed
        self.passes += 1
        return pushed

    async def _sync_partition(self, partition: int, peer: bytes) -> int:
        pending, pushed = [], 0
        stack = [b""]
        while stack:
            key = MerkleNodeKey(partition, stack.pop()).encode()
            local_raw = self.trie.tree.get(key)
            if local_raw is None:
                continue
            remote_raw = (await self._call(peer, "node", key)).message
            if remote_raw == local_raw:
                continue
            local = codec.loads(local_raw)
            if local[0] == NODE_LEAF:
                pending.append(bytes(local[1]))
            else:
                remote = codec.loads(remote_raw) if remote_raw else None
                theirs = {}
                if remote is not None and remote[0] != NODE_LEAF:
                    blob = remote[1]
                    theirs = {blob[i]: blob[i + 1:i + CHILD_RECORD]
                              for i in range(0, len(blob), CHILD_RECORD)}
                blob = local[1]
                prefix = key[2:]
                for i in range(0, len(blob), CHILD_RECORD):
                    if theirs.get(blob[i]) != blob[i + 1:i + CHILD_RECORD]:
                        stack.append(prefix + bytes([blob[i]]))
            if len(pending) >= PUSH_BATCH:
                pushed += await self._push(peer, pending)
                pending = []
        if pending:
            pushed += await self._push(peer, pending)
        return pushed

    async def _push(self, peer: bytes, rows: list) -> int:
        raws = [raw for raw in (self.table.data.rows.get(r) for r in rows) if raw is not None]
        if raws:
            await self.network.call(peer, f"table/{self.table.name}/update", raws,
                                    priority=PRIO_BACKGROUND, timeout=TIMEOUT)
        return len(raws)

    # -- worker --------------------------------------------------------------

    async def _work(self):
        await self.sync_all()
        return WorkerState.IDLE

    def work(self):
        return defer.ensureDeferred(self._work())

    def status(self) -> dict:
        return {"passes": self.passes, "rows_pushed": self.pushed}

