"""The node's view of the cluster: identity, status of nodes, health.

Until the peer network exists, the only node a node knows is itself; the
shapes returned here are already those of a cluster (one entry per node),
and health counts partitions whose storage nodes are reachable.
"""

import os
import socket

from garage_twisted.rpc.ring import PARTITION_COUNT


def _free_space(path: str):
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

    def __init__(self, node_key, config, layout, clock, version: str):
        self.node_key = node_key
        self.node_id = node_key.node_id
        self.config = config
        self.layout = layout
        self.clock = clock
        self.version = version
        self.hostname = socket.gethostname()

    def connected_nodes(self) -> set:
        """Ids of the nodes reachable now (this node only, for now)."""
        return {self.node_id}

    def public_address(self) -> str:
        if self.config.rpc_public_addr:
            return self.config.rpc_public_addr
        return str(self.config.rpc_bind_addr)

    def node_statuses(self) -> list:
        """One dict per known node (GetClusterStatus's ``nodes``)."""
        current = self.layout.current()
        known = set(current.roles) | self.connected_nodes()
        connected = self.connected_nodes()
        nodes = []
        for node_id in sorted(known):
            role = current.roles.get(node_id)
            is_self = node_id == self.node_id
            nodes.append({
                "id": node_id.hex(),
                "addr": self.public_address() if is_self else None,
                "hostname": self.hostname if is_self else None,
                "isUp": node_id in connected,
                "lastSeenSecsAgo": None,
                "draining": False,
                "garageVersion": self.version if is_self else None,
                "role": None if role is None else {
                    "zone": role.zone, "capacity": role.capacity, "tags": list(role.tags)},
                "dataPartition": _free_space(self.config.data_dir) if is_self else None,
                "metadataPartition": _free_space(self.config.metadata_dir) if is_self else None,
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
