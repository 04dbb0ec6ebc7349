"""The cluster layout: node roles, staged changes, applied versions.

A layout version is an immutable value (:class:`LayoutVersion`): roles of
nodes (zone, capacity or gateway, tags) and the assignment of partitions to
nodes. Changes are *staged* (:meth:`LayoutManager.stage_role`), shown, then
applied as version N+1 or reverted. :class:`LayoutManager` keeps the current
version, the staged changes and the history, persisted in the node's store
(tree ``cluster_layout``), and notifies watchers on change.

Scope today: one node's view. Gossip of the layout between nodes, CRDT
merging of concurrent stagings and multi-version trackers come with the
peer network (design section 5); they extend this manager without changing
its values.
"""

from dataclasses import dataclass, field, replace
from types import MappingProxyType

from twisted.logger import Logger

from garage_twisted.rpc.assignment import Assignment, AssignmentError, compute_assignment
from garage_twisted.rpc.ring import PARTITION_COUNT, partition_of
from garage_twisted.util import codec
from garage_twisted.util.errors import GarageError

MARKER = b"GT.layout.v1"
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


@dataclass(frozen=True)
class LayoutState:
    current: LayoutVersion
    staged_roles: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    staged_zone_redundancy: str | int | None = None
    history: tuple = ()  # earlier (version, storage count, gateway count)

    def to_cbor(self):
        return [
            self.current.to_cbor(),
            [[n, None if r is None else r.to_cbor()] for n, r in sorted(self.staged_roles.items())],
            self.staged_zone_redundancy,
            [list(h) for h in self.history],
        ]

    @classmethod
    def from_cbor(cls, raw) -> "LayoutState":
        return cls(
            LayoutVersion.from_cbor(raw[0]),
            MappingProxyType({bytes(n): None if r is None else NodeRole.from_cbor(r)
                              for n, r in raw[1]}),
            raw[2],
            tuple(tuple(h) for h in raw[3]),
        )


class LayoutManager:
    """The node's layout, persisted in its store.

    :param kv_store: the node's ``IKeyValueStore``.
    :param replication_factor: the configured factor; a stored layout with
        another one is refused.
    :param local_node_id: this node's id.
    """

    log = Logger()

    def __init__(self, kv_store, replication_factor: int, local_node_id: bytes):
        self.tree = kv_store.open_tree("cluster_layout")
        self.replication_factor = replication_factor
        self.local_node_id = local_node_id
        self.on_change = []
        raw = self.tree.get(STATE_KEY)
        self.state = (LayoutState(LayoutVersion.empty(replication_factor)) if raw is None
                      else LayoutState.from_cbor(codec.decode_versioned(MARKER, raw)))
        if self.state.current.replication_factor != replication_factor:
            raise LayoutError(
                f"the stored layout has replication factor "
                f"{self.state.current.replication_factor}, the configuration says "
                f"{replication_factor}: changing it is not supported")

    def current(self) -> LayoutVersion:
        return self.state.current

    def staged_roles(self) -> dict:
        return dict(self.state.staged_roles)

    def history(self) -> list:
        """``[(version, storage nodes, gateway nodes)]``, oldest first, current last."""
        current = self.state.current
        return list(self.state.history) + [
            (current.version, len(current.storage_nodes()), len(current.gateway_nodes()))]

    def _save(self, state: LayoutState) -> None:
        self.tree.insert(STATE_KEY, codec.encode_versioned(MARKER, state.to_cbor()))
        self.state = state
        for callback in self.on_change:
            callback(state.current)

    def stage_role(self, node_id: bytes, role: NodeRole | None) -> None:
        """Stage a role for ``node_id`` (``None``: remove it from the layout)."""
        if role is not None and role.capacity is not None and role.capacity <= 0:
            raise LayoutError("capacity must be positive (or use a gateway role)")
        staged = dict(self.state.staged_roles)
        staged[node_id] = role
        self._save(replace(self.state, staged_roles=MappingProxyType(staged)))

    def stage_zone_redundancy(self, value) -> None:
        if value != "maximum" and (not isinstance(value, int) or value < 1
                                   or value > self.replication_factor):
            raise LayoutError("zone redundancy must be 'maximum' or 1..replication_factor")
        self._save(replace(self.state, staged_zone_redundancy=value))

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
        if not self.state.staged_roles and self.state.staged_zone_redundancy is None:
            raise LayoutError("there are no staged changes to apply")
        new = self.preview()
        history = self.state.history + (
            (current.version, len(current.storage_nodes()), len(current.gateway_nodes())),)
        self._save(LayoutState(new, MappingProxyType({}), None,
                               history if current.version else ()))
        self.log.info("layout version {version} applied", version=new.version)
        return new

    def revert(self) -> None:
        """Drop the staged changes."""
        self._save(replace(self.state, staged_roles=MappingProxyType({}),
                           staged_zone_redundancy=None))

    def partition_nodes(self, partition: int) -> tuple:
        assignment = self.state.current.assignment
        if assignment is None or not 0 <= partition < PARTITION_COUNT:
            return ()
        return assignment.partitions[partition]
