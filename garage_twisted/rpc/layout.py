"""The cluster layout: node roles, staged changes, applied versions.

A layout version is an immutable value (:class:`LayoutVersion`): roles of
nodes (zone, capacity or gateway, tags) and the assignment of partitions to
nodes. Changes are *staged* (:meth:`LayoutManager.stage_role`), shown, then
applied as version N+1 or reverted. :class:`LayoutManager` keeps the current
version, the staged changes and the history, persisted in the node's store
(tree ``cluster_layout``), and notifies watchers on change.

Nodes exchange their :class:`LayoutState` (see
:mod:`~garage_twisted.rpc.layout_gossip`) and merge it with
:meth:`LayoutState.merge`: the highest version wins, stagings merge as a
CRDT, so a change staged on one node can be applied on another.
"""

import hashlib
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from twisted.logger import Logger

from garage_twisted.rpc.assignment import Assignment, AssignmentError, compute_assignment
from garage_twisted.rpc.ring import PARTITION_COUNT, partition_of
from garage_twisted.util import codec
from garage_twisted.util.crdt import Lww, LwwMap
from garage_twisted.util.errors import GarageError
from garage_twisted.util.time import now_msec

MARKER = b"GT.layout.v3"
V2_MARKER = b"GT.layout.v2"
OLD_MARKER = b"GT.layout.v1"
STATE_KEY = b"state"


class LayoutError(GarageError):
    code = "LayoutError"


@dataclass(frozen=True)
class NodeRole:
    zone: str
    capacity: int | None  # None: gateway
    tags: tuple = ()

    @property
    def is_gateway(self) -> bool:
        return self.capacity is None

    def to_cbor(self):
        return [self.zone, self.capacity, list(self.tags)]

    @classmethod
    def from_cbor(cls, raw) -> "NodeRole":
        return cls(raw[0], raw[1], tuple(raw[2]))


@dataclass(frozen=True)
class LayoutVersion:
    version: int
    replication_factor: int
    zone_redundancy: str | int  # "maximum" or a number
    roles: MappingProxyType  # node id -> NodeRole
    assignment: Assignment | None

    def nodes_of(self, position_hash: bytes) -> tuple:
        if self.assignment is None:
            return ()
        return self.assignment.partitions[partition_of(position_hash)]

    def storage_nodes(self) -> list:
        return sorted(n for n, r in self.roles.items() if not r.is_gateway)

    def gateway_nodes(self) -> list:
        return sorted(n for n, r in self.roles.items() if r.is_gateway)

    def to_cbor(self):
        return [
            self.version, self.replication_factor, self.zone_redundancy,
            [[n, r.to_cbor()] for n, r in sorted(self.roles.items())],
            None if self.assignment is None else [
                [list(p) for p in self.assignment.partitions], self.assignment.partition_size],
        ]

    @classmethod
    def from_cbor(cls, raw) -> "LayoutVersion":
        assignment = None
        if raw[4] is not None:
            assignment = Assignment(tuple(tuple(bytes(n) for n in p) for p in raw[4][0]),
                                    raw[4][1])
        return cls(raw[0], raw[1], raw[2],
                   MappingProxyType({bytes(n): NodeRole.from_cbor(r) for n, r in raw[3]}),
                   assignment)

    @classmethod
    def empty(cls, replication_factor: int) -> "LayoutVersion":
        return cls(0, replication_factor, "maximum", MappingProxyType({}), None)


def _role_from(raw):
    return None if raw is None else NodeRole.from_cbor(raw)


@dataclass(frozen=True)
class Staging:
    """Changes staged on top of the current version (a CRDT).

    ``roles``: node id -> role, or ``None`` to remove the node; ``zone
    redundancy``: the staged value, or ``None`` for unchanged. Concurrent
    stagings on different nodes merge key by key.
    """

    roles: LwwMap = field(default_factory=LwwMap)
    zone_redundancy: Lww = field(default_factory=lambda: Lww(0, None))

    def merge(self, other: "Staging") -> "Staging":
        return Staging(self.roles.merge(other.roles),
                       self.zone_redundancy.merge(other.zone_redundancy))

    def is_empty(self) -> bool:
        return len(self.roles) == 0 and self.zone_redundancy.value is None

    def to_cbor(self):
        return [self.roles.to_cbor(), self.zone_redundancy.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "Staging":
        return cls(LwwMap.from_cbor(raw[0], value_from=_role_from, key_from=bytes),
                   Lww.from_cbor(raw[1]))


TRACKERS = ("ack", "sync", "sync_ack")


@dataclass(frozen=True)
class UpdateTrackers:
    """Per node, the highest layout version it has acknowledged (uses for
    writes), synced (its tables and blocks hold what that version assigns
    it), and seen synced by every node (``sync_ack``). Merged by maximum."""

    ack: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    sync: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    sync_ack: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def merge(self, other: "UpdateTrackers") -> "UpdateTrackers":
        out = []
        for name in TRACKERS:
            merged = dict(getattr(self, name))
            for node, version in getattr(other, name).items():
                merged[node] = max(merged.get(node, 0), version)
            out.append(MappingProxyType(merged))
        return UpdateTrackers(*out)

    def raised(self, name: str, node: bytes, version: int) -> "UpdateTrackers":
        """These trackers with ``name[node]`` at least ``version``."""
        current = getattr(self, name)
        if current.get(node, 0) >= version:
            return self
        return replace(self, **{name: MappingProxyType({**current, node: version})})

    def min_among(self, name: str, nodes, default: int) -> int:
        values = getattr(self, name)
        return min((values.get(n, 0) for n in nodes), default=default)

    def to_cbor(self):
        return [[[n, v] for n, v in sorted(getattr(self, name).items())]
                for name in TRACKERS]

    @classmethod
    def from_cbor(cls, raw) -> "UpdateTrackers":
        return cls(*(MappingProxyType({bytes(n): int(v) for n, v in entries})
                     for entries in raw))


@dataclass(frozen=True)
class LayoutState:
    """Everything a node knows of the layout; what nodes gossip and merge.

    ``versions`` are the versions still active, oldest first; the last is the
    current one. An older version stays while data moves: it is dropped
    once every storage node of the active versions reports (``sync_ack``)
    that all of them synced to a newer one.

    ``staging`` is a register over a :class:`Staging`: applying or reverting
    replaces the whole staging by an empty one with a newer timestamp, so a
    revert is not undone by a peer that still holds the old changes, while
    stagings of the same generation merge change by change.
    """

    versions: tuple  # of LayoutVersion, oldest first
    staging: Lww = field(default_factory=lambda: Lww(0, Staging()))
    history: tuple = ()  # dropped versions: (version, storage count, gateway count)
    trackers: UpdateTrackers = field(default_factory=UpdateTrackers)

    @property
    def current(self) -> LayoutVersion:
        return self.versions[-1]

    @property
    def staged_roles(self) -> MappingProxyType:
        return MappingProxyType(dict(self.staging.value.roles.items()))

    @property
    def staged_zone_redundancy(self):
        return self.staging.value.zone_redundancy.value

    def storage_nodes(self) -> set:
        """Storage nodes of every active version."""
        return {n for v in self.versions for n in v.storage_nodes()}

    def to_cbor(self):
        return [[v.to_cbor() for v in self.versions], self.staging.to_cbor(),
                [list(h) for h in self.history], self.trackers.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "LayoutState":
        return cls(tuple(LayoutVersion.from_cbor(v) for v in raw[0]),
                   Lww.from_cbor(raw[1], value_from=Staging.from_cbor),
                   tuple(tuple(h) for h in raw[2]),
                   UpdateTrackers.from_cbor(raw[3]))

    @classmethod
    def from_cbor_v2(cls, raw) -> "LayoutState":
        """Layouts stored before version history and trackers."""
        return cls((LayoutVersion.from_cbor(raw[0]),),
                   Lww.from_cbor(raw[1], value_from=Staging.from_cbor),
                   tuple(tuple(h) for h in raw[2]))

    @classmethod
    def from_cbor_v1(cls, raw) -> "LayoutState":
        """Layouts stored before staging became a CRDT."""
        roles = LwwMap()
        for node_id, role in raw[1]:
            roles = roles.put(1, bytes(node_id), _role_from(role))
        staging = Staging(roles, Lww(1 if raw[2] is not None else 0, raw[2]))
        return cls((LayoutVersion.from_cbor(raw[0]),), Lww(1, staging),
                   tuple(tuple(h) for h in raw[3]))

    def digest(self) -> bytes:
        """The state's hash, which pings carry and compare: computed once
        per state (the state is immutable; at 1,000 nodes recomputing it
        several times per ping exchange was most of a core)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            cached = hashlib.blake2b(codec.dumps(self.to_cbor()), digest_size=32).digest()
            # A frozen dataclass: the cache goes past __setattr__; it is not
            # a field, so equality and replace() ignore it.
            object.__setattr__(self, "_digest", cached)
        return cached

    def merge(self, other: "LayoutState") -> "LayoutState":
        """The state both replicas converge to (commutative, associative,
        idempotent).

        Versions are united by number, except those already dropped (listed
        in ``history``, which only grows); two different layouts with the
        same number (applied at once on two nodes) are settled by their
        encoding, the same way everywhere. Trackers merge by maximum. The
        staging of the newest version is kept (one made on an older version
        is moot). Then versions every node has moved past are dropped.
        """
        history = tuple(sorted(set(self.history) | set(other.history)))
        dropped = {h[0] for h in history}
        by_number = {}
        for version in self.versions + other.versions:
            if version.version in dropped:
                continue
            known = by_number.get(version.version)
            if known is None or codec.dumps(version.to_cbor()) > codec.dumps(known.to_cbor()):
                by_number[version.version] = version
        if len(by_number) > 1:
            by_number.pop(0, None)  # the empty layout ends with the first real one
        versions = tuple(by_number[n] for n in sorted(by_number))
        newest = versions[-1]
        stagings = [s.staging for s in (self, other) if s.current == newest]
        if not stagings:
            staging = Lww(0, Staging())
        else:
            staging = stagings[0] if len(stagings) == 1 else stagings[0].merge(stagings[1])
        merged = LayoutState(versions, staging, history, self.trackers.merge(other.trackers))
        return merged.without_finished_versions()

    def without_finished_versions(self) -> "LayoutState":
        """Drop the oldest version while every storage node of it and of the
        next version reports (``sync_ack``) that all synced to the next one.

        The condition looks at those two versions only, so what it decided
        stays true as nodes learn of later versions (merging stays
        associative); dropped versions go to ``history`` for good.
        """
        versions, history = list(self.versions), set(self.history)
        while len(versions) > 1:
            old, new = versions[0], versions[1]
            nodes = set(old.storage_nodes()) | set(new.storage_nodes())
            if self.trackers.min_among("sync_ack", nodes, default=new.version) < new.version:
                break
            versions.pop(0)
            if old.version:
                history.add((old.version, len(old.storage_nodes()), len(old.gateway_nodes())))
        if len(versions) == len(self.versions):
            return self
        return LayoutState(tuple(versions), self.staging, tuple(sorted(history)),
                           self.trackers)


class LayoutManager:
    """The node's layout, persisted in its store, merged with its peers'.

    :param kv_store: the node's ``IKeyValueStore``.
    :param replication_factor: the configured factor; a layout with another
        one (stored, or from a peer) is refused.
    :param local_node_id: this node's id.
    :param clock: ``IReactorTime`` for the staging's timestamps.
    :param sync_on_receipt: report every version synced as soon as it is
        received (a layout without data movement: unit tests of the layout
        alone). A node whose tables sync (a node of a cluster) passes
        ``False``: its sync workers call :meth:`mark_synced` once its data is
        where a new version says.
    """

    log = Logger()

    def __init__(self, kv_store, replication_factor: int, local_node_id: bytes, clock,
                 sync_on_receipt: bool = True):
        self.tree = kv_store.open_tree("cluster_layout")
        self.replication_factor = replication_factor
        self.local_node_id = local_node_id
        self.clock = clock
        self.on_change = []
        # Called (no argument) when this node's state holds news of its own
        # that its peers must hear: a local stage, apply or revert, or this
        # node's own trackers raised. Not for what a merge taught it: that
        # came from a peer, which tells the others itself (layout_gossip).
        self.on_news = []
        self.sync_on_receipt = sync_on_receipt
        raw = self.tree.get(STATE_KEY)
        if raw is None:
            self.state = LayoutState((LayoutVersion.empty(replication_factor),))
        elif raw.startswith(OLD_MARKER):
            self.state = LayoutState.from_cbor_v1(codec.decode_versioned(OLD_MARKER, raw))
        elif raw.startswith(V2_MARKER):
            self.state = LayoutState.from_cbor_v2(codec.decode_versioned(V2_MARKER, raw))
        else:
            self.state = LayoutState.from_cbor(codec.decode_versioned(MARKER, raw))
        if self.state.current.replication_factor != replication_factor:
            raise LayoutError(
                f"the stored layout has replication factor "
                f"{self.state.current.replication_factor}, the configuration says "
                f"{replication_factor}: changing it is not supported")

    def current(self) -> LayoutVersion:
        return self.state.current

    def staged_roles(self) -> dict:
        return dict(self.state.staged_roles)

    def digest(self) -> bytes:
        return self.state.digest()

    def history(self) -> list:
        """``[(version, storage nodes, gateway nodes)]``, oldest first, current last:
        dropped versions, then the active ones."""
        return list(self.state.history) + [
            (v.version, len(v.storage_nodes()), len(v.gateway_nodes()))
            for v in self.state.versions if v.version]

    def _save(self, state: LayoutState, local: bool = True) -> None:
        """Store ``state`` (with this node's own trackers raised) as ours.

        :param local: a change made here (else: a peer's state merged), so
            news for the peers (:attr:`on_news`); a merge is news only if it
            raised this node's own trackers.
        """
        mine_before = self._own_entries(self.state)
        state = self._own_trackers(state)
        self.tree.insert(STATE_KEY, codec.encode_versioned(MARKER, state.to_cbor()))
        self.state = state
        for callback in self.on_change:
            callback(state.current)
        if local or self._own_entries(state) != mine_before:
            for callback in self.on_news:
                callback()

    def _own_entries(self, state: LayoutState) -> tuple:
        me = self.local_node_id
        return tuple(getattr(state.trackers, name).get(me) for name in TRACKERS)

    def _own_trackers(self, state: LayoutState) -> LayoutState:
        """Raise this node's own trackers to what it has done."""
        me, current = self.local_node_id, state.current.version
        trackers = state.trackers.raised("ack", me, current)
        if self.sync_on_receipt:
            trackers = trackers.raised("sync", me, current)
        synced = trackers.min_among("sync", state.storage_nodes(), default=current)
        trackers = trackers.raised("sync_ack", me, synced)
        if trackers is state.trackers:
            return state
        return replace(state, trackers=trackers).without_finished_versions()

    def mark_synced(self, version: int) -> None:
        """This node holds everything ``version`` assigns it (sync worker)."""
        trackers = self.state.trackers.raised("sync", self.local_node_id, version)
        if trackers is not self.state.trackers:
            self._save(replace(self.state, trackers=trackers))

    def skip_dead_nodes(self, version: int, dead_nodes, allow_missing_data: bool = False):
        """Let the layout move on without nodes that will not come back.

        An old version stays active until every node acknowledged and synced
        the new one; a dead node never will. For each of ``dead_nodes`` (the
        caller checked they are down) this raises its ``ack`` tracker to
        ``version``, and its ``sync`` and ``sync_ack`` trackers too if it has
        no role in the current version (it holds nothing the new version
        needs) or with ``allow_missing_data`` (data only it held is given
        up). Garage's ``layout skip-dead-nodes``.

        :returns: ``(ack updated, sync updated)`` lists of node ids.
        """
        current = self.state.current
        if not 0 < version <= current.version:
            raise LayoutError(f"version {version} is not an applied layout version "
                              f"(current: {current.version})")
        trackers = self.state.trackers
        ack_updated, sync_updated = [], []
        kept = set(current.storage_nodes())
        for node in sorted(set(dead_nodes) & self.state.storage_nodes()):
            if node == self.local_node_id:
                continue
            raised = trackers.raised("ack", node, version)
            if raised is not trackers:
                ack_updated.append(node)
                trackers = raised
            if allow_missing_data or node not in kept:
                raised = trackers.raised("sync", node, version).raised("sync_ack", node, version)
                if raised is not trackers:
                    sync_updated.append(node)
                    trackers = raised
        if trackers is not self.state.trackers:
            self._save(replace(self.state, trackers=trackers).without_finished_versions())
        return ack_updated, sync_updated

    def active_versions(self) -> tuple:
        """Versions still in use (oldest first): writes go to all of them."""
        return self.state.versions

    def alone_in_layout(self) -> bool:
        """Whether this node is the only node with a role (storage or
        gateway) in every active version: a cluster of one node, where no
        other node holds any of its rows. Gateways count: they hold the
        full-copy tables."""
        me = [self.local_node_id]
        return all(list(version.roles) == me for version in self.state.versions)

    def read_version(self) -> LayoutVersion:
        """The version reads use: the newest one every storage node of the
        active versions reports synced (its data is where that version says),
        else the oldest active one. Writes go to every active version, so a
        read from this version sees every acknowledged write."""
        versions = self.state.versions
        if len(versions) == 1:
            return versions[0]
        synced = self.state.trackers.min_among("sync", self.state.storage_nodes(),
                                               default=versions[-1].version)
        chosen = versions[0]
        for version in versions:
            if version.version <= synced:
                chosen = version
        return chosen

    def all_acked(self, version: int) -> bool:
        """Whether every storage node of the active versions has seen
        ``version`` (writes from then on reach its node sets)."""
        return self.state.trackers.min_among(
            "ack", self.state.storage_nodes(), default=version) >= version

    def synced_locally(self) -> bool:
        """Whether this node reports itself synced to the current version."""
        return self.state.trackers.sync.get(self.local_node_id, 0) >= \
            self.state.current.version

    def trackers(self) -> UpdateTrackers:
        return self.state.trackers

    def _now(self) -> int:
        return now_msec(self.clock)

    def _stage(self, change) -> None:
        staging = self.state.staging
        # Same generation: the change goes into the register's value, whose
        # own timestamps order it against concurrent changes elsewhere.
        self._save(replace(self.state, staging=Lww(staging.timestamp, change(staging.value))))

    def stage_role(self, node_id: bytes, role: NodeRole | None) -> None:
        """Stage a role for ``node_id`` (``None``: remove it from the layout)."""
        if role is not None and role.capacity is not None and role.capacity <= 0:
            raise LayoutError("capacity must be positive (or use a gateway role)")
        now = self._now()
        self._stage(lambda s: Staging(s.roles.put(now, node_id, role), s.zone_redundancy))

    def stage_zone_redundancy(self, value) -> None:
        if value != "maximum" and (not isinstance(value, int) or value < 1
                                   or value > self.replication_factor):
            raise LayoutError("zone redundancy must be 'maximum' or 1..replication_factor")
        now = self._now()
        self._stage(lambda s: Staging(s.roles, s.zone_redundancy.update(now, value)))

    def preview(self) -> LayoutVersion:
        """The version that applying the staged changes would produce."""
        current = self.state.current
        roles = dict(current.roles)
        for node_id, role in self.state.staged_roles.items():
            if role is None:
                roles.pop(node_id, None)
            else:
                roles[node_id] = role
        redundancy = self.state.staged_zone_redundancy or current.zone_redundancy
        try:
            assignment = compute_assignment(roles, self.replication_factor, redundancy,
                                            previous=current.assignment)
        except AssignmentError as e:
            raise LayoutError(str(e)) from None
        return LayoutVersion(current.version + 1, self.replication_factor, redundancy,
                             MappingProxyType(roles), assignment)

    def apply(self, version: int) -> LayoutVersion:
        """Apply the staged changes as ``version`` (must be current + 1)."""
        current = self.state.current
        if version != current.version + 1:
            raise LayoutError(
                f"wrong version: the layout is at version {current.version}, "
                f"so the next one is {current.version + 1} (not {version})")
        if self.state.staging.value.is_empty():
            raise LayoutError("there are no staged changes to apply")
        new = self.preview()
        versions = self.state.versions if current.version else ()
        self._save(LayoutState(versions + (new,),
                               self.state.staging.update(self._now(), Staging()),
                               self.state.history, self.state.trackers))
        self.log.info("layout version {version} applied", version=new.version)
        return new

    def revert(self) -> None:
        """Drop the staged changes (everywhere: the empty staging is newer)."""
        self._save(replace(self.state,
                           staging=self.state.staging.update(self._now(), Staging())))

    def merge_remote(self, state: LayoutState) -> bool:
        """Merge a peer's layout state. True if ours changed.

        :raises LayoutError: for a layout with another replication factor.
        """
        if state.current.replication_factor != self.replication_factor:
            raise LayoutError(
                f"a peer's layout has replication factor {state.current.replication_factor}; "
                f"this node's is {self.replication_factor}")
        merged = self.state.merge(state)
        if merged.digest() == self.state.digest():
            return False
        before = self.state.current.version
        self._save(merged, local=False)
        if merged.current.version != before:
            self.log.info("layout version {version} received from a peer",
                          version=merged.current.version)
        return True

    def partition_nodes(self, partition: int) -> tuple:
        assignment = self.state.current.assignment
        if assignment is None or not 0 <= partition < PARTITION_COUNT:
            return ()
        return assignment.partitions[partition]
