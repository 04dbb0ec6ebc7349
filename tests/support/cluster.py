"""A loopback cluster of real nodes in one reactor, for integration tests."""

import secrets

from garage_twisted.rpc.layout import NodeRole
from tests.support.node import NodeFixture, wait_connected, wait_converged, wait_layout

GB = 10 ** 9


async def start_cluster(testcase, count: int = 3, extras: tuple = (), gateways: int = 0,
                        s3_extra: str = ""):
    """``count`` nodes, replication factor 3, one zone each, layout applied.

    :param extras: per node, TOML lines added to its configuration.
    :param s3_extra: TOML lines added to every node's ``[s3_api]``.
    :param gateways: how many of the last nodes get a gateway role (no
        capacity) instead of a storage role.
    """
    secret = secrets.token_hex(32)
    extras = tuple(extras) + ("",) * (count - len(extras))
    first = await NodeFixture.start(testcase, rpc_secret=secret, apply_layout=False,
                                    replication_factor=3, extra=extras[0],
                                    s3_extra=s3_extra)
    fixtures = [first]
    for i in range(1, count):
        fixtures.append(await NodeFixture.start(
            testcase, rpc_secret=secret, apply_layout=False, replication_factor=3,
            extra=f'bootstrap_peers = ["{first.peer_address}"]\n{extras[i]}',
            s3_extra=s3_extra))
    nodes = [f.node for f in fixtures]
    for a in nodes:
        for b in nodes:
            if a is not b:
                await wait_connected(a.network, b.node_key.node_id)
    for i, node in enumerate(nodes):
        capacity = None if i >= count - gateways else 100 * GB
        nodes[0].layout.stage_role(node.node_key.node_id, NodeRole(f"zone{i}", capacity))
    nodes[0].layout.apply(1)
    for node in nodes:
        await wait_layout(node, lambda m: m.current().version == 1)
    await wait_converged(nodes)
    return fixtures, nodes


async def add_node(testcase, fixtures):
    """Start one more node of the cluster of ``fixtures`` (no role yet)."""
    first = fixtures[0]
    fixture = await NodeFixture.start(
        testcase, rpc_secret=first.rpc_secret, apply_layout=False, replication_factor=3,
        extra=f'bootstrap_peers = ["{first.peer_address}"]')
    for other in fixtures:
        await wait_connected(fixture.node.network, other.node.node_key.node_id)
        await wait_connected(other.node.network, fixture.node.node_key.node_id)
    return fixture


def boto3_clients(testcase, fixtures, key) -> list:
    """One boto3 client per node of ``fixtures`` with ``key``, closed at cleanup."""
    clients = []
    for fixture in fixtures:
        client = fixture.boto3_client(key)
        testcase.addCleanup(client.close)
        clients.append(client)
    return clients
