"""Full-mesh peering: which nodes this node knows, dials, pings and tells others about.

Sources of peers: ``bootstrap_peers``, the list persisted in
``metadata_dir/peer_list`` (CBOR ``[[node id, "host:port"], ...]``), peers
added at run time (``garage node connect``), nodes that dial in, and the
lists other nodes send.

- Every known peer with an address and no connection is dialled, again and
  again with exponential backoff (``RECONNECT_MIN`` doubling up to
  ``RECONNECT_MAX``) while it stays unreachable.
- Every ``PING_INTERVAL`` seconds each connected peer gets a high-priority
  ping carrying this node's address, hostname, version and the hash of its
  peer list; the answer carries the peer's. RTTs are kept (last
  ``RTT_SAMPLES``) for node preference. After ``MAX_FAILED_PINGS`` missed
  pings in a row the connection is dropped (aborted, not closed: a hung
  peer never reads what a graceful close waits to send) and dialled again.
- When the hashes of two nodes' peer lists differ, each pulls the other's
  list and dials the peers it did not know: a node that knows one member
  learns them all.

A node that only dials out (no address others can reach) still receives
RPCs over the connections it opened.
"""

import hashlib
import os
import socket
from collections import deque
from dataclasses import dataclass, field

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.net.keys import NodeKeyError, PeerAddress, parse_peer_address
from garage_twisted.net.mux import PRIO_HIGH, Reply
from garage_twisted.util import codec
from garage_twisted.util.errors import CorruptData

PING_PATH = "garage/peering/ping"
LIST_PATH = "garage/peering/list"
PING_INTERVAL = 15.0
PING_TIMEOUT = 10.0
MAX_FAILED_PINGS = 4
RECONNECT_MIN = 1.0
RECONNECT_MAX = 60.0
RTT_SAMPLES = 10
PEER_LIST_FILE = "peer_list"
PERSIST_DELAY = 1.0
MAX_PEERS = 4096


@dataclass
class PeerInfo:
    """What this node knows of one peer."""

    node_id: bytes
    address: str | None = None  # "host:port" to dial, if known
    last_seen: float | None = None  # clock time of the last sign of life
    rtts: deque = field(default_factory=lambda: deque(maxlen=RTT_SAMPLES))
    failed_pings: int = 0
    attempts: int = 0  # failed dials in a row
    hostname: str | None = None
    version: str | None = None
    last_error: str | None = None

    def average_rtt(self) -> float | None:
        return sum(self.rtts) / len(self.rtts) if self.rtts else None


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Peering(Service):
    """Keeps this node connected to every peer it knows.

    :param network: the node's :class:`~garage_twisted.net.network.Network`.
    :param clock: ``IReactorTime``.
    :param metadata_dir: where the peer list is persisted (``None``: not).
    :param bootstrap: ``PeerAddress`` list from the configuration.
    :param public_address: ``host:port`` others can dial this node at, or
        ``None`` (behind NAT: this node only dials out), or a callable
        returning either (the bound port is known only once listening).
    :param version: software version, told to peers.
    """

    log = Logger()

    def __init__(self, network, clock, metadata_dir: str | None, bootstrap=(),
                 public_address: str | None = None, version: str = "",
                 ping_interval: float = PING_INTERVAL, ping_timeout: float = PING_TIMEOUT):
        self.network = network
        self.clock = clock
        self.metadata_dir = metadata_dir
        self.bootstrap = list(bootstrap)
        self._public_address = public_address
        # (public address, hash of peer_list()), or None: see peer_list_hash.
        self._peer_list_hash = None
        self.version = version
        self.hostname = socket.gethostname()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_min = RECONNECT_MIN
        # Observers of failed dials: callback(node_id, error message).
        self.on_dial_failed = []
        # Other layers add to the status a ping carries (callables returning
        # a dict) and observe the statuses peers send: callback(node_id, dict).
        self.status_extras = []
        self.on_peer_status = []
        self.peers: dict[bytes, PeerInfo] = {}
        # Moves with every round trip measured: what rtt_of answers may
        # have changed (read orders are remembered until then).
        self.rtt_generation = 0
        self._dial_timers = {}
        self._dialling: dict[bytes, defer.Deferred] = {}
        self._ping_timer = None
        self._persist_timer = None
        network.register(PING_PATH, self._answer_ping)
        network.register(LIST_PATH, self._answer_list)
        network.on_connected.append(self._connected)
        network.on_disconnected.append(self._disconnected)

    @property
    def public_address(self) -> str | None:
        value = self._public_address
        return value() if callable(value) else value

    # -- service -----------------------------------------------------------

    def startService(self):
        super().startService()
        for node_id, address in self._load():
            self._learn(node_id, address, persist=False)
        for peer in self.bootstrap:
            self._learn(peer.node_id, self._format(peer), persist=False)
        for info in self.peers.values():
            self._schedule_dial(info, 0)
        self._ping_timer = self.clock.callLater(self.ping_interval, self._ping_all)

    def stopService(self):
        super().stopService()
        for timer in list(self._dial_timers.values()) + [self._ping_timer, self._persist_timer]:
            if timer is not None and timer.active():
                timer.cancel()
        self._dial_timers.clear()
        self._ping_timer = self._persist_timer = None
        for d in list(self._dialling.values()):
            d.cancel()
        self._dialling.clear()
        self._save()
        return self.network.close_all()

    # -- knowledge ---------------------------------------------------------

    @staticmethod
    def _format(peer: PeerAddress) -> str:
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        return f"{host}:{peer.port}"

    def _learn(self, node_id: bytes, address: str | None, persist: bool = True) -> PeerInfo | None:
        if node_id == self.network.node_id:
            return None
        info = self.peers.get(node_id)
        if info is None:
            if len(self.peers) >= MAX_PEERS:
                return None
            info = self.peers[node_id] = PeerInfo(node_id)
        if address and address != info.address:
            info.address = address
            self._peer_list_hash = None
            if persist:
                self._persist_soon()
        return info

    def peer_list(self) -> list:
        """``[[node id, address], ...]`` of every node with a known address."""
        entries = [[i.node_id, i.address] for i in self.peers.values() if i.address]
        public = self.public_address
        if public:
            entries.append([self.network.node_id, public])
        return sorted(entries)

    def peer_list_hash(self) -> bytes:
        """The hash of :meth:`peer_list`, which every ping exchange sends and
        compares (several times per exchange): kept until a peer or an
        address is learnt, or the public address changes. At 1,000 nodes,
        recomputing it each time was most of a core (docs/scale.rst)."""
        public = self.public_address
        cached = self._peer_list_hash
        if cached is None or cached[0] != public:
            digest = hashlib.blake2b(codec.dumps(self.peer_list()), digest_size=32).digest()
            cached = self._peer_list_hash = (public, digest)
        return cached[1]

    # -- dialling ------------------------------------------------------------

    def add_peer(self, peer: PeerAddress) -> defer.Deferred:
        """Dial ``peer`` now (``garage node connect``); remember it on success."""
        d = self.network.connect(peer.node_id, peer.host, peer.port)

        def connected(connection):
            self._learn(peer.node_id, self._format(peer))
            return connection

        return d.addCallback(connected)

    def _schedule_dial(self, info: PeerInfo, delay: float) -> None:
        if not self.running or info.address is None:
            return
        if info.node_id in self.network.connections or info.node_id in self._dialling:
            return
        timer = self._dial_timers.get(info.node_id)
        if timer is not None and timer.active():
            return
        self._dial_timers[info.node_id] = self.clock.callLater(delay, self._dial, info)

    def _dial(self, info: PeerInfo) -> None:
        self._dial_timers.pop(info.node_id, None)
        if not self.running or info.node_id in self.network.connections:
            return
        try:
            host, port = _split_address(info.address)
        except ValueError:
            info.last_error = f"bad address {info.address!r}"
            return
        d = self.network.connect(info.node_id, host, port)
        self._dialling[info.node_id] = d

        def failed(failure):
            if failure.check(defer.CancelledError):
                return None
            info.attempts += 1
            info.last_error = failure.getErrorMessage()
            delay = min(RECONNECT_MAX, self.reconnect_min * 2 ** min(info.attempts - 1, 16))
            self.log.debug("cannot reach {node} at {address}: {error}; retry in {delay:g} s",
                           node=info.node_id.hex()[:16], address=info.address,
                           error=info.last_error, delay=delay)
            self._schedule_dial(info, delay)
            for callback in list(self.on_dial_failed):
                callback(info.node_id, info.last_error)

        def done(result):
            if self._dialling.get(info.node_id) is d:
                del self._dialling[info.node_id]
            return result

        d.addBoth(done)
        d.addErrback(failed)

    def _connected(self, node_id: bytes) -> None:
        info = self._learn(node_id, None)
        if info is None:
            return
        info.attempts = 0
        info.failed_pings = 0
        info.last_seen = self.clock.seconds()
        info.last_error = None
        self._persist_soon()
        timer = self._dial_timers.pop(node_id, None)
        if timer is not None and timer.active():
            timer.cancel()
        # Learn its address and list at once rather than 15 s later.
        self.ping(node_id)

    def _disconnected(self, node_id: bytes) -> None:
        info = self.peers.get(node_id)
        if info is not None:
            self._schedule_dial(info, self.reconnect_min)

    # -- pings and lists -----------------------------------------------------

    def _status(self) -> dict:
        status = {}
        for extra in self.status_extras:
            status.update(extra())
        status.update({"addr": self.public_address, "hash": self.peer_list_hash(),
                       "hostname": self.hostname, "version": self.version})
        return status

    def _answer_ping(self, call) -> Reply:
        self._note_status(call.peer, call.message)
        return Reply(self._status())

    def _answer_list(self, call) -> Reply:
        return Reply(self.peer_list())

    def _note_status(self, node_id: bytes, status) -> PeerInfo | None:
        if not isinstance(status, dict):
            return None
        address = status.get("addr")
        info = self._learn(node_id, address if isinstance(address, str) else None)
        if info is None:
            return None
        info.last_seen = self.clock.seconds()
        if isinstance(status.get("hostname"), str):
            info.hostname = status["hostname"][:255]
        if isinstance(status.get("version"), str):
            info.version = status["version"][:64]
        for callback in list(self.on_peer_status):
            try:
                callback(node_id, status)
            except Exception:
                self.log.failure("peer status observer failed")
        return info

    def _ping_all(self) -> None:
        self._ping_timer = self.clock.callLater(self.ping_interval, self._ping_all)
        for node_id in list(self.network.connections):
            self.ping(node_id)

    def ping(self, node_id: bytes) -> defer.Deferred:
        """Ping a connected peer now; fires once its answer is taken in."""
        started = self.clock.seconds()
        d = self.network.call(node_id, PING_PATH, self._status(), priority=PRIO_HIGH,
                              timeout=self.ping_timeout)

        def answered(reply):
            info = self._note_status(node_id, reply.message)
            if info is None:
                return
            info.rtts.append(self.clock.seconds() - started)
            self.rtt_generation += 1
            info.failed_pings = 0
            if reply.message.get("hash") != self.peer_list_hash():
                return self._pull_list(node_id)

        def failed(failure):
            info = self.peers.get(node_id)
            if info is None:
                return
            info.failed_pings += 1
            info.last_error = failure.getErrorMessage()
            if info.failed_pings >= MAX_FAILED_PINGS:
                connection = self.network.connections.get(node_id)
                if connection is not None:
                    self.log.warn("node {node} missed {n} pings: dropping its connection",
                                  node=node_id.hex()[:16], n=info.failed_pings)
                    # Not a graceful close: that waits for the peer to read
                    # what is queued for it, which a hung peer never does
                    # (its calls, and the blocks they hold, would stay).
                    connection.abort()

        return d.addCallbacks(answered, failed)

    def _pull_list(self, node_id: bytes) -> defer.Deferred:
        d = self.network.call(node_id, LIST_PATH, None, priority=PRIO_HIGH,
                              timeout=self.ping_timeout)

        def merge(reply):
            entries = reply.message if isinstance(reply.message, list) else []
            for entry in entries[:MAX_PEERS]:
                if not (isinstance(entry, list) and len(entry) == 2):
                    continue
                peer_id, address = entry
                if not (isinstance(peer_id, bytes) and len(peer_id) == 32
                        and isinstance(address, str)):
                    continue
                try:
                    _split_address(address)
                except ValueError:
                    continue
                known = peer_id in self.peers
                info = self._learn(peer_id, address)
                if info is not None and not known:
                    self._schedule_dial(info, 0)

        return d.addCallbacks(merge, lambda failure: None)

    # -- persistence -----------------------------------------------------------

    def _persist_soon(self) -> None:
        if self.metadata_dir is None or not self.running:
            return
        if self._persist_timer is None or not self._persist_timer.active():
            self._persist_timer = self.clock.callLater(PERSIST_DELAY, self._persisted)

    def _persisted(self) -> None:
        self._persist_timer = None
        self._save()

    def _save(self) -> None:
        if self.metadata_dir is None:
            return
        path = os.path.join(self.metadata_dir, PEER_LIST_FILE)
        entries = [[i.node_id, i.address] for i in self.peers.values() if i.address]
        # A few hundred bytes, written at most once a second: small enough
        # for the reactor thread.
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(codec.dumps(sorted(entries)))
            os.replace(tmp, path)
        except OSError as e:
            self.log.error("cannot save the peer list to {path}: {error}", path=path, error=e)

    def _load(self) -> list:
        if self.metadata_dir is None:
            return []
        path = os.path.join(self.metadata_dir, PEER_LIST_FILE)
        try:
            with open(path, "rb") as f:
                entries = codec.loads(f.read())
        except FileNotFoundError:
            return []
        except (OSError, ValueError, CorruptData) as e:
            self.log.error("ignoring unreadable peer list {path}: {error}", path=path, error=e)
            return []
        out = []
        for entry in entries if isinstance(entries, list) else []:
            if (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes)
                    and len(entry[0]) == 32 and isinstance(entry[1], str)):
                out.append((entry[0], entry[1]))
        return out

    # -- views -------------------------------------------------------------------

    def rtt_of(self, node_id: bytes) -> float | None:
        """The average ping round trip to a peer in seconds, or ``None``
        (unknown, or no ping answered yet)."""
        info = self.peers.get(node_id)
        return None if info is None else info.average_rtt()

    def is_connected(self, node_id: bytes) -> bool:
        return node_id == self.network.node_id or node_id in self.network.connections


def parse_bootstrap(values) -> list:
    """``PeerAddress`` list from ``bootstrap_peers`` strings (bad ones raise)."""
    out = []
    for value in values:
        try:
            out.append(parse_peer_address(value))
        except NodeKeyError as e:
            raise NodeKeyError(f"bootstrap_peers: {e}") from None
    return out
