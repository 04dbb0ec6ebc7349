"""Anti-entropy: replicas compare Merkle tries and push what the other lacks.

For each partition this node stores, and each other node that should store
it (in any active layout version), the syncer compares the two tries from the
root down, only into subtrees whose hashes differ, and sends the rows under
differing leaves to the other node (``table/T/update``, merged there as any
write). Both nodes run it, so each one's missing rows arrive from the other;
CRDT merging makes the order irrelevant. A first call fetches the 256
partition roots at once, so tables that agree cost one round trip per peer.

A partition this node holds rows of but no active version assigns it any
more is *offloaded*: its rows are sent to every node that should hold it,
then deleted here if unchanged meanwhile (``delete_if_equal``).

Layout changes: a pass that started once every node had seen the current
version (``all_acked``) and after this table's Merkle to-do list was empty
(drained by the syncer itself, so every row written before is in the
trie), and that reached every node of
every partition, means this node's rows are where the current version says.
:class:`SyncReporter` then raises the node's ``sync`` tracker once every
table got there; when every node has, reads move to the new version and the
old one is dropped. A pass cut short during a change is retried after
``RETRY_DELAY``.

Runs every ``interval`` seconds (10 min for sharded tables, 10 s for
full-copy ones, as Garage) and at once when the layout changes.

Catch-up: when a peer comes (back) up (:meth:`TableSyncer.peer_up`, called
on every new connection), the next step syncs the partitions this node
shares with that peer, with it alone, after draining the Merkle to-do list
(the rows it missed were mostly written moments ago), instead of leaving it
behind until the next full pass. Both ends of the new connection do it, so
each pushes what the other lacks. Such a step does not move the full pass:
that stays due ``interval`` seconds after the last one.
"""

from twisted.internet import defer, task
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.net.errors import RpcError
from garage_twisted.net.mux import PRIO_BACKGROUND, Reply
from garage_twisted.rpc.ring import PARTITION_COUNT, partition_hash_range
from garage_twisted.table.merkle import (
    CHILD_RECORD, EMPTY_HASH, NODE_LEAF, MerkleNodeKey, MerkleTrie, MerkleUpdater,
)
from garage_twisted.util import codec
from garage_twisted.util.worker import IWorker, WorkerState

SHARDED_INTERVAL = 600.0
FULL_COPY_INTERVAL = 10.0
RETRY_DELAY = 5.0
# Tries of a catch-up with a peer that fails while connected; the full
# passes take over after that.
CATCH_UP_ATTEMPTS = 3
PUSH_BATCH = 100
# Merkle nodes asked of a peer per merkle/nodes call (an inner node is at
# most 256 children of 33 bytes: a reply stays under 2.2 MB).
NODES_BATCH = 256
# Partition walks with one peer running at once (``_sync_partitions``).
CONCURRENT_WALKS = 4
TIMEOUT = 60.0
# At most this many Merkle to-do rows applied before a pass gives up on
# reporting the layout synced (it still syncs, and retries).
MERKLE_MAX_ROWS = 1_000_000


class SyncReporter:
    """Raises this node's ``sync`` layout tracker once every table synced.

    :param layout: the node's ``LayoutManager``.
    :param table_names: names of every table whose syncer reports here.
    """

    def __init__(self, layout, table_names):
        self.layout = layout
        self.synced = {name: 0 for name in table_names}

    def table_synced(self, name: str, version: int) -> None:
        self.synced[name] = max(self.synced[name], version)
        self.layout.mark_synced(min(self.synced.values()))


@implementer(IWorker)
class TableSyncer:
    """Anti-entropy worker of one table.

    :param table: the ``Table``.
    :param network: the node's ``Network``.
    :param layout: the node's ``LayoutManager``.
    :param full_copy: whether every layout node holds every partition.
    :param clock: ``IReactorTime`` (to yield while draining the Merkle to-do).
    :param reporter: a :class:`SyncReporter`, or ``None``.
    """

    log = Logger()

    def __init__(self, table, network, layout, full_copy: bool, clock=None, reporter=None):
        self.table = table
        self.network = network
        self.layout = layout
        self.full_copy = full_copy
        self.clock = clock
        self.reporter = reporter
        self.name = f"{table.name} sync"
        self.idle_delay = FULL_COPY_INTERVAL if full_copy else SHARDED_INTERVAL
        self.next_idle_delay = None
        self.trie = MerkleTrie(table.data)
        # Tries are stateless views of the store: this one drains the to-do
        # list before a pass that reports a layout synced.
        self._updater = MerkleUpdater(table.data)
        self.pushed = 0
        self.offloaded = 0
        self.passes = 0
        self.synced_version = 0
        self.last_error = None
        self.catch_ups = 0
        # Peers without merkle/nodes (an older version): asked node by node.
        self._single_node_peers = set()
        # Peers that came up since the last step -> failed tries so far.
        self._peers_up: dict[bytes, int] = {}
        # Clock time the next full pass is due; a layout change (or no
        # clock) asks for one at the next step.
        self._full_due = 0.0
        self._full_asked = True
        layout.on_change.append(self._layout_changed)
        network.register(self._path("roots"), self._serve_roots)
        network.register(self._path("node"), self._serve_node)
        network.register(self._path("nodes"), self._serve_nodes)

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

    def _serve_nodes(self, call) -> Reply:
        keys = call.message
        if not isinstance(keys, list) or not 0 < len(keys) <= NODES_BATCH or not all(
                isinstance(key, bytes) and len(key) >= 2 for key in keys):
            raise RpcError("BadRequest",
                           f"merkle/nodes takes a list of 1 to {NODES_BATCH} node keys")
        tree = self.trie.tree
        return Reply([tree.get(key) for key in keys])

    # -- syncing -------------------------------------------------------------

    def _holders(self, partition: int) -> list:
        """Nodes that should hold ``partition``: every active version's."""
        if self.full_copy:
            return sorted(self.layout.current().roles)
        nodes = []
        for version in self.layout.active_versions():
            if version.assignment is not None:
                nodes.extend(version.assignment.partitions[partition])
        return list(dict.fromkeys(nodes))

    def _holds_rows(self, partition: int) -> bool:
        """Whether this node stores rows of ``partition``: read from the rows
        themselves, not the trie, which may lag behind the last writes."""
        start, end = partition_hash_range(partition)
        return any(True for _ in self.table.data.rows.range(start, end, limit=1))

    def _call(self, node, what, message):
        return self.network.call(node, self._path(what), message,
                                 priority=PRIO_BACKGROUND, timeout=TIMEOUT)

    async def _merkle_caught_up(self) -> bool:
        """Bring the trie up to date with every row written so far (the
        Merkle worker may lag behind a burst of writes by design)."""
        rows = 0
        while rows < MERKLE_MAX_ROWS:
            if self._updater.work() != WorkerState.BUSY:
                return True
            rows += max(1, self._updater.last_step_items)
            if self.clock is not None:  # yield the reactor between steps
                await task.deferLater(self.clock, 0, lambda: None)
        return False

    async def sync_all(self) -> int:
        """One full pass; returns how many rows were pushed or offloaded."""
        version = self.layout.current().version
        me = self.network.node_id
        # Whether this pass can tell the layout this table is synced to
        # ``version``: every node writes to its node sets by now, and every
        # row written earlier is in the trie compared below.
        reportable = self.synced_version < version and self.layout.all_acked(version)
        if reportable:
            reportable = await self._merkle_caught_up()
        complete = True
        pushed = 0
        local_roots = self._roots()
        peers, offload = {}, []
        for partition in range(PARTITION_COUNT):
            holders = self._holders(partition)
            if me in holders:
                for peer in holders:
                    if peer != me:
                        peers.setdefault(peer, []).append(partition)
            elif holders and self._holds_rows(partition):
                offload.append((partition, holders))
        trackers = self.layout.trackers()
        for peer, partitions in peers.items():
            if peer not in self.network.connections:
                # A node declared synced without us (skipped as dead) does
                # not hold the layout back; any other unreachable one does.
                if trackers.sync.get(peer, 0) < version:
                    complete = False
                continue
            try:
                pushed += await self._sync_partitions(peer, partitions, local_roots)
            except Exception as e:  # one peer's failure does not stop the pass
                complete = False
                self._failed(f"sync with {peer.hex()[:16]}: {e}")
        offloaded = 0
        for partition, holders in offload:
            try:
                offloaded += await self._offload_partition(partition, holders)
            except Exception as e:
                complete = False
                self._failed(f"offload of partition {partition}: {e}")
        pushed += offloaded
        self.pushed += pushed
        self.passes += 1
        if complete and reportable:
            self.synced_version = version
            if self.reporter is not None:
                self.reporter.table_synced(self.table.name, version)
        # During a layout change, a pass that could not report comes back
        # soon instead of after the (long) interval.
        changing = len(self.layout.active_versions()) > 1 or self.synced_version < version
        # After an offload too: nodes that learn late that the old version
        # is gone may still write a few rows here meanwhile.
        self.next_idle_delay = RETRY_DELAY if offloaded or (changing and not (
            complete and self.synced_version >= version)) else None
        return pushed

    async def _sync_partitions(self, peer: bytes, partitions: list, local_roots: list) -> int:
        """Push to ``peer`` the rows it lacks in ``partitions``; returns how
        many were pushed. Raises if the peer fails."""
        remote_roots = (await self._call(peer, "roots", None)).message
        differing = [p for p in partitions if local_roots[p] != EMPTY_HASH
                     and remote_roots[p] != local_roots[p]]
        # A few partitions are walked at once: each walk waits on round
        # trips, one level at a time, and a node back from a long outage
        # differs in most of its partitions.
        walks = defer.DeferredSemaphore(CONCURRENT_WALKS)
        results = await defer.gatherResults(
            [walks.run(lambda p=p: defer.ensureDeferred(self._sync_partition(p, peer)))
             for p in differing], consumeErrors=True)
        return sum(results)

    # -- catch-up ------------------------------------------------------------

    def _shared_partitions(self, peer: bytes) -> list:
        """Partitions both this node and ``peer`` should hold."""
        me = self.network.node_id
        if self.full_copy:
            roles = self.layout.current().roles
            return list(range(PARTITION_COUNT)) if me in roles and peer in roles else []
        return [p for p in range(PARTITION_COUNT)
                if me in (holders := self._holders(p)) and peer in holders]

    def peer_up(self, node_id: bytes) -> bool:
        """``node_id`` came (back) up: the next step syncs the partitions it
        shares with this node.

        :returns: whether it shares any (the caller then wakes this worker).
        """
        if node_id == self.network.node_id or not self._shared_partitions(node_id):
            return False
        self._peers_up.setdefault(node_id, 0)
        return True

    def _layout_changed(self, _version) -> None:
        self._full_asked = True

    def _now(self) -> float | None:
        return None if self.clock is None else self.clock.seconds()

    async def _catch_up(self) -> None:
        """Sync the shared partitions with every peer that came up."""
        peers, self._peers_up = self._peers_up, {}
        # The rows such a peer missed were written while it was away, many
        # of them moments ago: bring the trie up to date first.
        await self._merkle_caught_up()
        local_roots = self._roots()
        for peer, failures in sorted(peers.items()):
            if peer not in self.network.connections:
                continue  # gone again: its next connection brings it back
            try:
                pushed = await self._sync_partitions(
                    peer, self._shared_partitions(peer), local_roots)
            except Exception as e:
                self._failed(f"catch-up with {peer.hex()[:16]}: {e}")
                if failures + 1 < CATCH_UP_ATTEMPTS:
                    self._peers_up.setdefault(peer, failures + 1)
                continue
            self.catch_ups += 1
            self.pushed += pushed
            if pushed:
                self.log.info("{table}: caught up node {node}: pushed {count} rows",
                              table=self.table.name, node=peer.hex()[:16], count=pushed)

    def _failed(self, message: str) -> None:
        self.last_error = message
        self.log.info("{table}: {error}", table=self.table.name, error=message)

    async def _sync_partition(self, partition: int, peer: bytes) -> int:
        """Push to ``peer`` the rows of ``partition`` whose leaves differ.

        The two tries are compared one level at a time: the nodes of a
        level that differ send their differing children to the next, and a
        level's nodes are asked of the peer :data:`NODES_BATCH` per call.
        So a pass costs about one round trip per level, not one per node
        compared (26,000 in a row, 38 minutes, for a partition of 1.3
        million rows of which 1% differ: docs/scale.rst)."""
        pending, pushed = [], 0
        level = [MerkleNodeKey(partition, b"").encode()]
        while level:
            below = []
            for start in range(0, len(level), NODES_BATCH):
                mine = [(key, self.trie.tree.get(key)) for key in level[start:start + NODES_BATCH]]
                mine = [(key, raw) for key, raw in mine if raw is not None]
                if not mine:
                    continue
                theirs = await self._remote_nodes(peer, [key for key, _ in mine])
                for (key, local_raw), remote_raw in zip(mine, theirs):
                    if remote_raw != local_raw:
                        self._differing(key, local_raw, remote_raw, pending, below)
                if len(pending) >= PUSH_BATCH:
                    pushed += await self._push(peer, pending)
                    pending = []
            level = below
        if pending:
            pushed += await self._push(peer, pending)
        return pushed

    @staticmethod
    def _differing(key: bytes, local_raw: bytes, remote_raw, pending: list, below: list):
        """A node that differs from the peer's: its row if a leaf, else the
        keys of its children that differ."""
        local = codec.loads(local_raw)
        if local[0] == NODE_LEAF:
            pending.append(bytes(local[1]))
            return
        remote = codec.loads(remote_raw) if remote_raw else None
        theirs = {}
        if remote is not None and remote[0] != NODE_LEAF:
            blob = remote[1]
            theirs = {blob[i]: blob[i + 1:i + CHILD_RECORD]
                      for i in range(0, len(blob), CHILD_RECORD)}
        blob = local[1]
        for i in range(0, len(blob), CHILD_RECORD):
            if theirs.get(blob[i]) != blob[i + 1:i + CHILD_RECORD]:
                below.append(key + bytes([blob[i]]))  # the child's key

    async def _remote_nodes(self, peer: bytes, keys: list) -> list:
        """The peer's raw nodes at ``keys`` (``None`` where it has none)."""
        if peer not in self._single_node_peers:
            try:
                nodes = (await self._call(peer, "nodes", keys)).message
            except RpcError as e:
                if e.code != "NoSuchEndpoint":
                    raise
                # A node of an older version: one key per call.
                self._single_node_peers.add(peer)
            else:
                # A short list would leave keys uncompared (their rows never
                # pushed) without a word: refuse any answer but one node or
                # None per key.
                if not isinstance(nodes, list) or len(nodes) != len(keys) or not all(
                        node is None or isinstance(node, bytes) for node in nodes):
                    raise RpcError("BadReply", f"merkle/nodes of {peer.hex()[:16]} did not "
                                   f"answer one node or None for each of {len(keys)} keys")
                return nodes
        return [(await self._call(peer, "node", key)).message for key in keys]

    async def _push(self, peer: bytes, rows: list) -> int:
        raws = [raw for raw in (self.table.data.rows.get(r) for r in rows) if raw is not None]
        if raws:
            await self._update(peer, raws)
        return len(raws)

    def _update(self, peer: bytes, raws: list):
        return self.network.call(peer, f"table/{self.table.name}/update", raws,
                                 priority=PRIO_BACKGROUND, timeout=TIMEOUT)

    async def _offload_partition(self, partition: int, holders: list) -> int:
        """Send every local row of ``partition`` to all ``holders``, then drop
        the rows that did not change meanwhile. Raises if a holder fails."""
        data = self.table.data
        start, end = partition_hash_range(partition)
        moved = 0
        while True:
            batch = list(data.rows.range(start, end, limit=PUSH_BATCH))
            if not batch:
                return moved
            raws = [raw for _, raw in batch]
            await defer.gatherResults([self._update(node, raws) for node in holders],
                                      consumeErrors=True)
            if self._holders(partition) != holders:
                # The layout changed during the transfer (this node may hold
                # the partition again): keep the rows; the next pass decides.
                return moved
            for key, raw in batch:
                data.delete_if_equal(key, raw)
            moved += len(batch)
            self.offloaded += len(batch)
            # Rows re-written meanwhile stay; the next pass offloads them.
            start = batch[-1][0] + b"\x00"

    # -- worker --------------------------------------------------------------

    async def _work(self):
        if self._peers_up:
            await self._catch_up()
        now = self._now()
        if now is None or self._full_asked or now >= self._full_due:
            # A layout change during the pass asks for another one.
            self._full_asked = now is None
            await self.sync_all()
            delay = self.idle_delay if self.next_idle_delay is None else self.next_idle_delay
            if now is not None:  # the pass may have taken a while
                self._full_due = self._now() + delay
        else:
            # A catch-up step leaves the full pass where it was.
            delay = self.next_idle_delay = max(0.0, self._full_due - now)
        if self._peers_up:  # a catch-up to try again
            self.next_idle_delay = min(delay, RETRY_DELAY)
        return WorkerState.IDLE

    def work(self):
        return defer.ensureDeferred(self._work())

    def status(self) -> dict:
        return {"passes": self.passes, "rows_pushed": self.pushed,
                "rows_offloaded": self.offloaded, "synced_version": self.synced_version,
                "catch_ups": self.catch_ups, "last_error": self.last_error}
