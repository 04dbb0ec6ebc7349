"""``GarageNode``: the composition root of one node.

Builds every part of a node from its configuration, each given everything
it needs by its constructor (``GarageNode._build`` reads as the node's
wiring diagram; no part is finished by setting its attributes afterwards),
and starts the services in order (design section 2)::

    thread pool "io" -> storage (LevelDB, blocks) -> RPC listener -> peering
    -> workers -> admin HTTP -> S3 HTTP (last to start, first to stop)

The constructor only stores the configuration and the reactor; databases,
files and sockets open in ``startService`` (twistd calls it after
daemonizing). Once every listener is bound, ``<metadata_dir>/node.json`` is
written atomically with the node id and the bound ports, so scripts and
tests never guess ports. LevelDB closes after every child has stopped.

The RPC listener (``rpc_bind_addr``) accepts Noise-encrypted peer
connections; peering dials ``bootstrap_peers`` and the persisted peer list;
tables and blocks go to the nodes the layout assigns them.
"""

import json
import os
import sys

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.admin.api import AdminApi
from garage_twisted.api.admin.metrics import node_registry
from garage_twisted.api.s3.api import S3Api, S3Resource
from garage_twisted.api.s3.sse_s3 import Keyring
from garage_twisted.api.web.server import WebApi
from garage_twisted.api.limits import ADMIN_MAX_CONNECTIONS, ConnectionBudget, ConnectionCaps
from garage_twisted.api.streaming import ResponseStreamer, StreamingSite
from garage_twisted.block.manager import BlockManager
from garage_twisted.block.replication import BlockReplicator
from garage_twisted.block.scrub import BlockScrubber
from garage_twisted.block.small_block_io import BlockIOProcess, ThreadSmallBlockIO
from garage_twisted.block.store import LocalBlockStore
from garage_twisted.db.auto_snapshot import AutoSnapshotWorker
from garage_twisted.db.counts import StoreRecounter
from garage_twisted.db.leveldb import LevelDBStore
from garage_twisted.db.recovery import StoreRecovery
from garage_twisted.db.snapshot import MetadataSnapshots
from garage_twisted.model.count_reader import BucketCountReader
from garage_twisted.model.garage import GarageModel
from garage_twisted.model.helper import ModelHelper
from garage_twisted.model.small_put import SmallObjectWriter
from garage_twisted.model.lifecycle import LifecycleWorker
from garage_twisted.net.keys import load_or_create_node_key
from garage_twisted.net.network import Network
from garage_twisted.net.peering import Peering, parse_bootstrap
from garage_twisted.rpc.layout import LayoutManager
from garage_twisted.rpc.layout_gossip import LayoutGossip
from garage_twisted.rpc.system import System
from garage_twisted.service.dirs import prepare_directories
from garage_twisted.service.fdlimit import raise_open_files_limit
from garage_twisted.service.listener import ListenerService
from garage_twisted.table.gc import TableGc
from garage_twisted.table.replication import FullCopyReplication, ShardedReplication
from garage_twisted.table.rpc import TableRpc, TableServer
from garage_twisted.table.sync import SyncReporter, TableSyncer
from garage_twisted.util.byte_budget import ByteBudget
from garage_twisted.util.config import JOINED_SECRET_FILE
from garage_twisted.util.errors import GarageError
from garage_twisted.util.gcstats import GcStats
from garage_twisted.util.threads import ThreadPoolService
from garage_twisted.util.worker import WorkerRunner

GARAGE_VERSION = "garage-twisted 0.1.0"
BATCH_DELAY = 0.1
# Merkle tries wait longer: only anti-entropy reads them (every 10 minutes
# for sharded tables), and the to-do list is drained in key order, that is
# partition by partition, so rows that waited together share their
# partition's upper nodes, rewritten once per step instead of once per row.
# A partition root holds up to 256 child hashes (8 KiB): with a 0.1 s wait
# under small PUTs, nearly every row rewrote one.
MERKLE_BATCH_DELAY = 2.0
# Longest wait for one service to stop (listeners give in-flight requests
# 10 s before aborting them).
STOP_STEP_TIMEOUT = 15.0


def _should_stream(method: bytes, uri: bytes, headers) -> bool:
    # Uploads are read as they arrive; every other body is small.
    return method in (b"PUT", b"POST")


class GarageNode(MultiService):
    """One node of a cluster.

    :param config: the node's :class:`~garage_twisted.util.config.Config`.
    :param reactor: the reactor (also used as the clock).
    """

    log = Logger()

    def __init__(self, config, reactor, remember_secret: bool = False):
        super().__init__()
        # Joined with an invitation: keep its secret for the next starts.
        self.remember_secret = remember_secret
        self.setName("node")
        self.config = config
        self.reactor = reactor
        self.kv_store = None
        self.node_key = None
        self.s3_listener = None
        self.admin_listener = None
        self.model = None
        self.helper = None
        self.workers = None
        self.admin_api = None
        self.gc_stats = GcStats()

    # -- start -----------------------------------------------------------

    def startService(self):
        self.gc_stats.install()
        try:
            self._build()
            super().startService()
            self._write_node_json()
        except GarageError as e:
            # A person reading the terminal needs the reason, not a traceback.
            # twistd has made sys.stderr a writer into the log by now (the
            # line above is the log's): the terminal is the process's own.
            self.log.error("node failed to start: {error}", error=str(e))
            stderr = sys.__stderr__ or sys.stderr
            stderr.write(f"garage: {e}\n")
            stderr.flush()
            for child in reversed(list(self)):
                if child.running:
                    child.stopService()
            self._close_store()
            self.gc_stats.uninstall()
            raise SystemExit(1)

    def _build(self):
        """The node's wiring diagram: every part built, in order, from the
        parts it needs, each given all of them by its constructor (none is
        finished afterwards). Services start in the order they are added
        here and stop in reverse."""
        config = self.config
        reactor = self.reactor
        # Private, created and writable before anything opens in them.
        prepare_directories(config)
        if self.remember_secret:
            self._store_joined_secret()
        self.node_key = load_or_create_node_key(config.metadata_dir)
        node_id = self.node_key.node_id

        # -- storage: metadata store, I/O threads, block files -----------------
        self.kv_store = LevelDBStore.open(
            os.path.join(config.metadata_dir, "db.leveldb"), sync=config.metadata_fsync)
        threads = ThreadPoolService(reactor, name="io")
        threads.setServiceParent(self)
        self.threads = threads
        # After a failed metadata write the store refuses writes; this
        # reopens it once the disk takes a probe file again.
        StoreRecovery(self.kv_store, threads.run, reactor).setServiceParent(self)
        # The queues' running key counts (db/counts.py), counted in the pool
        # at start and after a reopen; every tree is opened by then.
        StoreRecounter(self.kv_store, threads.run).setServiceParent(self)
        data_dir = config.data_dirs[0].path
        self._block_store = LocalBlockStore(data_dir, threads.run, fsync=config.data_fsync)
        small_io = BlockIOProcess(
            reactor, data_dir, config.compression_level, config.data_fsync,
            fallback=ThreadSmallBlockIO(self._block_store, threads.run,
                                        config.compression_level))
        small_io.setServiceParent(self)

        # -- the layout --------------------------------------------------------
        # This node reports a new layout version synced only once its sync
        # workers moved its rows where that version says (SyncReporter).
        self.layout = LayoutManager(self.kv_store, config.replication_factor, node_id,
                                    reactor, sync_on_receipt=False)

        # -- the peer network --------------------------------------------------
        # RPC listener first, so the bound port is known when peering starts
        # telling others where to dial.
        self.network = Network(self.node_key, config.rpc_secret, reactor)
        self.rpc_listener = ListenerService(
            reactor, config.rpc_bind_addr.endpoint_description(),
            self.network.server_factory(), "RPC")
        self.rpc_listener.setServiceParent(self)
        self.peering = Peering(
            self.network, reactor, config.metadata_dir,
            bootstrap=parse_bootstrap(config.bootstrap_peers),
            public_address=self._rpc_public_address, version=GARAGE_VERSION)
        self.peering.setServiceParent(self)
        self.layout_gossip = LayoutGossip(self.layout, self.network, self.peering)

        # -- placement: which nodes a read or a write goes to ------------------
        # Reads prefer this node, then its zone, then the lowest ping RTT
        # (peering measures it).
        rtt_of = self.peering.rtt_of

        def rtt_generation():
            return self.peering.rtt_generation

        sharded = ShardedReplication(self.layout, node_id, config.replication_factor,
                                     config.consistency_mode, rtt_of=rtt_of,
                                     rtt_generation=rtt_generation)
        full_copy = FullCopyReplication(self.layout, node_id, rtt_of=rtt_of,
                                        rtt_generation=rtt_generation)
        write_quorum = sharded.write_quorum()

        # -- blocks ------------------------------------------------------------
        # The manager and its replicator need each other (the replicator
        # serves peers from the manager's store; the manager sends blocks
        # through the replicator): the manager builds the replicator around
        # itself with this factory.
        self.block_manager = BlockManager(
            self._block_store, self.kv_store, threads.run, reactor,
            compression_level=config.compression_level, small_io=small_io,
            replicator_factory=lambda manager: BlockReplicator(
                manager, self.layout, self.network, write_quorum, rtt_of=rtt_of,
                rtt_generation=rtt_generation,
                ram_buffer=ByteBudget(config.block_ram_buffer_max)))

        # -- tables and the model ----------------------------------------------
        # Tables reach the nodes the layout assigns them through the table
        # client (calls to this node itself stay local); the table server,
        # built once the tables exist, answers other nodes' calls.
        self.table_rpc = TableRpc(self.network, clock=reactor)
        self.model = GarageModel(self.kv_store, self.block_manager, node_id,
                                 sharded=sharded, full_copy=full_copy, clock=reactor,
                                 remote=self.table_rpc)
        self.table_server = TableServer(self.network, self.model.tables)
        # Over the model and the network: small objects in one round trip
        # (S3 PUT), and exact counts of a bucket whose objects this node does
        # not hold (quotas on a gateway).
        small_writer = SmallObjectWriter(
            self.model, self.block_manager.replicator, self.network, write_quorum)
        count_reader = BucketCountReader(self.model.local_counts, self.network, reactor)
        self.helper = ModelHelper(self.model, count_reader=count_reader)
        self.system = System(
            node_key=self.node_key, config=config, layout=self.layout,
            clock=reactor, version=GARAGE_VERSION, peering=self.peering)

        # -- background workers ------------------------------------------------
        self.workers = WorkerRunner(reactor)
        for worker in self.model.workers(merkle_paused=self.layout.alone_in_layout):
            self.workers.add(worker)
        full_copy_tables = {self.model.bucket_table, self.model.bucket_alias_table,
                            self.model.key_table, self.model.admin_token_table}
        reporter = SyncReporter(self.layout, [t.name for t in self.model.tables])
        self.syncers = [TableSyncer(t, self.network, self.layout, t in full_copy_tables,
                                    clock=reactor, reporter=reporter)
                        for t in self.model.tables]
        for syncer in self.syncers:
            self.workers.add(syncer, idle_delay=syncer.idle_delay)
        self.workers.add(LifecycleWorker(self.model, self.kv_store, self._leads_partition,
                                         reactor))
        if not config.disable_scrub:
            self.workers.add(BlockScrubber(self.block_manager, self.kv_store))
        # CreateMetadataSnapshot's copies, and the same on a timer if asked.
        self.snapshots = MetadataSnapshots(self.kv_store, config.snapshots_dir, threads.run,
                                           reactor)
        if config.metadata_auto_snapshot_interval is not None:
            self.workers.add(AutoSnapshotWorker(
                self.snapshots, config.metadata_auto_snapshot_interval, reactor))
        for table in self.model.tables:
            self.workers.add(TableGc(table, self.network, table.replication.all_nodes,
                                     config.tombstone_gc_delay_secs, reactor))
        # A new layout moves partitions: sync at once, not at the next
        # interval (after the syncers' own layout observers).
        self.layout.on_change.append(
            lambda _version: [self.workers.wake(s.name) for s in self.syncers])
        # A peer coming (back) up gets the writes it missed now: the syncers
        # of the partitions it shares with this node sync them with it.
        self.network.on_connected.append(
            lambda node: [self.workers.wake(s.name) for s in self.syncers if s.peer_up(node)])
        self._wire_wakeups()
        self.workers.setServiceParent(self)

        # -- client APIs -------------------------------------------------------
        s3 = S3Api(
            self.helper, self.block_manager, config.s3_api.s3_region,
            config.s3_api.root_domain, config.block_size, threads.run,
            ResponseStreamer, reactor, layout_problem=self._layout_problem,
            small_writer=small_writer, allow_sigv2=config.s3_api.allow_sigv2,
            sse_s3=Keyring.from_secrets(config.s3_api.sse_s3_secret,
                                        config.s3_api.sse_s3_old_secrets))
        self.s3_api = s3
        web = None if config.s3_web is None else WebApi(s3, config.s3_web.root_domain)
        # Every node has the admin core, listener or not: it answers the
        # node-scoped operations other nodes' admin APIs ask of it.
        client_metrics = [s3.metrics] + ([] if web is None else [web.metrics])
        # The console's object transfers reach S3 through the admin endpoint.
        self.admin_api = self._admin_api(client_metrics, S3Resource(s3))

        # -- listeners: admin, then S3 and websites (last to start) ------------
        self.admin_listener = self._admin_listener(self.admin_api)
        if self.admin_listener is not None:
            self.admin_listener.setServiceParent(self)
        # S3 and website clients draw on one budget of descriptors, sized
        # from the limit once raised (service/fdlimit.py).
        before, limit = raise_open_files_limit()
        budget = ConnectionBudget(ConnectionCaps.for_fd_limit(limit))
        self.log.info("open file descriptors: limit {limit} (soft limit was {before}); "
                      "client connections capped at {total}, {per_address} per address",
                      limit=limit, before=before, total=budget.caps.total,
                      per_address=budget.caps.per_address)
        site = StreamingSite(s3.resource(), should_stream=_should_stream, clock=reactor,
                             budget=budget)
        self.s3_listener = ListenerService(
            reactor, config.s3_api.api_bind_addr.endpoint_description(), site, "S3 API")
        self.s3_listener.setServiceParent(self)
        self.web_listener = None
        if web is not None:
            self.web_listener = ListenerService(
                reactor, config.s3_web.bind_addr.endpoint_description(),
                StreamingSite(S3Resource(web), should_stream=lambda *a: False,
                              clock=reactor, budget=budget), "website")
            self.web_listener.setServiceParent(self)

    def _store_joined_secret(self) -> None:
        path = os.path.join(self.config.metadata_dir, JOINED_SECRET_FILE)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.config.rpc_secret.hex() + "\n")
        os.replace(path + ".tmp", path)

    def _leads_partition(self, position_hash: bytes) -> bool:
        """Whether this node is the first of a partition's nodes (it alone
        runs the partition's lifecycle actions)."""
        nodes = self.layout.current().nodes_of(position_hash)
        return not nodes or sorted(nodes)[0] == self.node_key.node_id

    def _rpc_public_address(self) -> str | None:
        """Where peers dial this node: ``rpc_public_addr``, else the bound
        address if it names one interface; ``None`` for a wildcard bind
        (this node then only dials out, as behind NAT)."""
        if self.config.rpc_public_addr:
            return self.config.rpc_public_addr
        bind = self.config.rpc_bind_addr
        if bind.unix_path is not None or bind.host in (None, "", "0.0.0.0", "::"):
            return None
        host = f"[{bind.host}]" if ":" in bind.host else bind.host
        return f"{host}:{self.rpc_listener.port}"

    def _layout_problem(self) -> str | None:
        """Why this node cannot serve S3 now, or ``None``.

        Until an applied layout gives this node a role, S3 answers 503, as
        Garage does: data written before would not be where the layout
        says. A gateway role (no capacity) serves S3 and websites: object
        rows and blocks live on the storage nodes, which it calls; it keeps
        only the full-copy tables (buckets, keys, aliases), as in Garage.
        """
        current = self.layout.current()
        if current.roles.get(self.node_key.node_id) is None:
            return ("Layout not ready: this node has no role in an applied cluster "
                    "layout (run `garage layout assign` and `garage layout apply`)")
        return None

    def _wire_wakeups(self):
        # Merkle trees and insert queues are brought up to date in batches a
        # moment after the writes that need them, not after every write.
        for table in self.model.tables:
            data = table.data
            data.on_merkle_todo.append(
                lambda name=f"{data.name} Merkle": self.workers.wake(name, MERKLE_BATCH_DELAY))
            data.on_insert_queued.append(
                lambda name=f"{data.name} queue": self.workers.wake(name, BATCH_DELAY))
        self.block_manager.on_gc_todo.append(lambda: self.workers.wake("block deleter"))
        # Workers that failed on a refused metadata write back off up to
        # minutes: once the store takes writes again, they resume now.
        self.kv_store.on_recovered.append(
            lambda: [self.workers.wake(name) for name in self.workers.names()])
        # A corrupt copy found by a read is fetched again at once.
        self.block_manager.on_resync_due.append(lambda: self.workers.wake("block resync"))

    def _admin_api(self, client_metrics, s3_resource) -> AdminApi:
        """The admin core, ``/metrics`` showing this node's RPC, tables,
        blocks and memory, then ``client_metrics`` (S3, websites)."""
        admin = self.config.admin
        return AdminApi(
            helper=self.helper, system=self.system, layout=self.layout,
            admin_token=None if admin is None else admin.admin_token,
            metrics_token=None if admin is None else admin.metrics_token,
            metrics_require_token=admin is not None and admin.metrics_require_token,
            run_in_thread=self.threads.run, s3_resource=s3_resource,
            clock=self.reactor, workers=self.workers, network=self.network,
            snapshots=self.snapshots,
            metric_sources=[node_registry(
                self.system, self.layout, self.workers, self.network.metrics,
                self.model.tables, self.block_manager, self.gc_stats, client_metrics)])

    def _admin_listener(self, api: AdminApi):
        """The admin API's HTTP listener, or ``None`` if none is configured."""
        admin = self.config.admin
        if admin is None or admin.api_bind_addr is None:
            return None
        site = StreamingSite(api.resource(), should_stream=lambda *a: False,
                             clock=self.reactor, budget=ConnectionBudget(ConnectionCaps(
                                 ADMIN_MAX_CONNECTIONS, ADMIN_MAX_CONNECTIONS)))
        return ListenerService(
            self.reactor, admin.api_bind_addr.endpoint_description(), site, "admin API")

    def _write_node_json(self):
        info = {
            "node_id": self.node_key.node_id.hex(),
            "rpc_port": self.rpc_listener.port,
            "s3_port": self.s3_listener.port,
            "admin_port": None if self.admin_listener is None else self.admin_listener.port,
            "web_port": None if self.web_listener is None else self.web_listener.port,
        }
        path = os.path.join(self.config.metadata_dir, "node.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.log.info("node {node_id} ready: {info}", node_id=info["node_id"][:16], info=info)

    # -- stop ------------------------------------------------------------

    @defer.inlineCallbacks
    def stopService(self):
        self.gc_stats.uninstall()
        # One service after the other, in reverse order of start: the
        # listeners let in-flight requests finish while workers, peers, the
        # block I/O process and the thread pool still serve them; workers
        # finish their step before the pool they may use stops. Each step is
        # bounded, so a stuck one is logged and cannot keep the node alive.
        Service.stopService(self)
        try:
            for child in reversed(list(self)):
                if not child.running:
                    continue
                name = child.name or type(child).__name__
                try:
                    yield defer.maybeDeferred(child.stopService).addTimeout(
                        STOP_STEP_TIMEOUT, self.reactor)
                except defer.TimeoutError:
                    self.log.error("{service} did not stop within {seconds} s; going on",
                                   service=name, seconds=STOP_STEP_TIMEOUT)
                except Exception as e:
                    self.log.error("{service} failed to stop: {error}", service=name,
                                   error=str(e))
        finally:
            self._close_store()

    def _close_store(self):
        if self.kv_store is not None:
            self.kv_store.close()
            self.kv_store = None
