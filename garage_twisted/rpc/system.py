"""The node's view of the cluster: identity, status of nodes, health.

Nodes known = this node, the nodes of the layout, and the peers the
peering service knows; "up" means connected now (this node always is).
Health counts partitions whose storage nodes are reachable.
"""

import os
import socket

from garage_twisted.rpc.ring import PARTITION_COUNT


def _free_space(path: str):
    # A directory not made yet (no block written) is on its parent's file system.
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return {"available": stat.f_bavail * stat.f_frsize, "total": stat.f_blocks * stat.f_frsize}


class System:
    """Status and health of the cluster as this node sees it.

    :param node_key: the node's ``NodeKey``.
    :param config: the node's ``Config``.
    :param layout: the ``LayoutManager``.
    :param clock: ``IReactorTime``.
    :param version: the software version string.
    """

    def __init__(self, node_key, config, layout, clock, version: str, peering=None):
        self.node_key = node_key
        self.peering = peering
        self.node_id = node_key.node_id
        self.config = config
        self.layout = layout
        self.clock = clock
        self.version = version
        self.hostname = socket.gethostname()

    def connected_nodes(self) -> set:
        """Ids of the nodes reachable now (this node and its connected peers)."""
        connected = {self.node_id}
        if self.peering is not None:
            connected.update(self.peering.network.connections)
        return connected

    def disk_space(self) -> dict:
        """Free and total bytes of this node's data and metadata file systems:
        ``{"data": {"available", "total"} | None, "metadata": ...}``."""
        return {"data": _free_space(self.config.data_dir),
                "metadata": _free_space(self.config.metadata_dir)}

    def public_address(self) -> str:
        if self.peering is not None and self.peering.public_address:
            return self.peering.public_address
        if self.config.rpc_public_addr:
            return self.config.rpc_public_addr
        return str(self.config.rpc_bind_addr)

    def node_statuses(self) -> list:
        """One dict per known node (GetClusterStatus's ``nodes``).

        Garage's fields, plus ``rttMsecs`` (mean of the last pings) and
        ``lastError`` for peers.
        """
        current = self.layout.current()
        peers = self.peering.peers if self.peering is not None else {}
        connected = self.connected_nodes()
        known = set(current.roles) | connected | set(peers)
        now = self.clock.seconds()
        own_space = self.disk_space()
        nodes = []
        for node_id in sorted(known):
            role = current.roles.get(node_id)
            is_self = node_id == self.node_id
            peer = peers.get(node_id)
            rtt = None if peer is None else peer.average_rtt()
            last_seen = None
            if peer is not None and peer.last_seen is not None and node_id not in connected:
                last_seen = int(now - peer.last_seen)
            nodes.append({
                "id": node_id.hex(),
                "addr": self.public_address() if is_self else (peer.address if peer else None),
                "hostname": self.hostname if is_self else (peer.hostname if peer else None),
                "isUp": node_id in connected,
                "lastSeenSecsAgo": last_seen,
                "draining": False,
                "garageVersion": self.version if is_self else (peer.version if peer else None),
                "role": None if role is None else {
                    "zone": role.zone, "capacity": role.capacity, "tags": list(role.tags)},
                "dataPartition": own_space["data"] if is_self else None,
                "metadataPartition": own_space["metadata"] if is_self else None,
                "rttMsecs": None if rtt is None else round(rtt * 1000, 2),
                "lastError": None if peer is None or node_id in connected else peer.last_error,
            })
        return nodes

    def health(self) -> dict:
        """GetClusterHealth's answer."""
        current = self.layout.current()
        connected = self.connected_nodes()
        storage = current.storage_nodes()
        quorum = self.config.replication_factor // 2 + 1 if self.config.consistency_mode == \
            "consistent" else 1
        partitions_ok = partitions_quorum = 0
        if current.assignment is not None:
            for nodes in current.assignment.partitions:
                up = sum(1 for n in nodes if n in connected)
                partitions_ok += up == len(nodes)
                partitions_quorum += up >= min(quorum, len(nodes))
        if current.assignment is None or partitions_quorum < PARTITION_COUNT:
            status = "unavailable"
        elif partitions_ok < PARTITION_COUNT:
            status = "degraded"
        else:
            status = "healthy"
        return {
            "status": status,
            "knownNodes": len(set(current.roles) | connected),
            "connectedNodes": len(connected),
            "storageNodes": len(storage),
            "storageNodesOk": sum(1 for n in storage if n in connected),
            "partitions": PARTITION_COUNT,
            "partitionsQuorum": partitions_quorum,
            "partitionsAllOk": partitions_ok,
        }
