"""Full-mesh peering between real nodes in one reactor (loopback, port 0)."""

import secrets

from twisted.trial.unittest import TestCase

from garage_twisted.net.peering import PING_PATH
from tests.support.node import NodeFixture, wait_connected


class PeeringTests(TestCase):
    timeout = 60

    async def _node(self, secret, peers=(), base=None, rpc_bind="127.0.0.1:0"):
        extra = "bootstrap_peers = [" + ", ".join(f'"{p}"' for p in peers) + "]" if peers else ""
        fixture = await NodeFixture.start(self, base=base, rpc_secret=secret, extra=extra,
                                          apply_layout=False, rpc_bind=rpc_bind)
        fixture.node.peering.reconnect_min = 0.05
        return fixture

    async def test_a_node_that_knows_one_member_learns_them_all(self):
        secret = secrets.token_hex(32)
        b = await self._node(secret)
        a = await self._node(secret, [b.peer_address])
        c = await self._node(secret, [b.peer_address])
        a_id, c_id = a.node.node_key.node_id, c.node.node_key.node_id
        # A and C never heard of each other: B's peer list introduces them.
        await wait_connected(a.node.network, c_id)
        await wait_connected(c.node.network, a_id)
        # A learns C's address from C's answer to a ping.
        await a.node.peering.ping(c_id)
        statuses = {n["id"]: n for n in a.node.system.node_statuses()}
        self.assertEqual(len(statuses), 3)
        self.assertTrue(all(n["isUp"] for n in statuses.values()))
        self.assertEqual(statuses[c_id.hex()]["addr"], c.peer_address.split("@")[1])

    async def test_restart_uses_the_persisted_peer_list(self):
        secret = secrets.token_hex(32)
        b = await self._node(secret)
        a = await self._node(secret, [b.peer_address])
        b_id = b.node.node_key.node_id
        await wait_connected(a.node.network, b_id)
        await a.stop()
        # Same data directory, no bootstrap peers this time.
        again = await self._node(secret, base=a.base)
        await wait_connected(again.node.network, b_id)
        self.assertIn(b_id, again.node.network.connections)

    async def test_lost_connection_is_dialled_again(self):
        secret = secrets.token_hex(32)
        b = await self._node(secret)
        a = await self._node(secret, [b.peer_address])
        b_id = b.node.node_key.node_id
        await wait_connected(a.node.network, b_id)
        a.node.network.connections[b_id].transport.abortConnection()
        await a.node.network.connections[b_id].closed
        await wait_connected(a.node.network, b_id)
        reply = await a.node.network.call(b_id, PING_PATH, {})
        self.assertIn("hash", reply.message)

    async def test_node_with_another_secret_stays_out(self):
        b = await self._node(secrets.token_hex(32))
        stranger = await self._node(secrets.token_hex(32), [b.peer_address])
        b_id = b.node.node_key.node_id
        # Its dials fail (handshake refused): it is never connected.
        await next_failed_dial(stranger.node.peering, b_id)
        await next_failed_dial(stranger.node.peering, b_id)
        self.assertGreaterEqual(stranger.node.peering.peers[b_id].attempts, 2)
        self.assertEqual(b.node.network.connections, {})
        self.assertEqual(stranger.node.network.connections, {})
        self.assertEqual([n["id"] for n in b.node.system.node_statuses()],
                         [b_id.hex()])

    async def test_node_that_only_dials_out_still_serves_calls(self):
        """A node bound on a wildcard address has no address to give: others
        cannot dial it, yet call it over the connection it opened."""
        secret = secrets.token_hex(32)
        b = await self._node(secret)
        behind_nat = await self._node(secret, [b.peer_address], rpc_bind="0.0.0.0:0")
        nat_id = behind_nat.node.node_key.node_id
        self.assertIsNone(behind_nat.node.peering.public_address)
        await wait_connected(b.node.network, nat_id)
        self.assertIsNone(b.node.peering.peers[nat_id].address)
        reply = await b.node.network.call(nat_id, PING_PATH, {})
        self.assertIsNone(reply.message["addr"])


def next_failed_dial(peering, node_id):
    """Fires at the peering's next failed dial of ``node_id``."""
    from twisted.internet import defer

    done = defer.Deferred()

    def failed(peer, error):
        if peer == node_id and not done.called:
            peering.on_dial_failed.remove(failed)
            done.callback(error)

    peering.on_dial_failed.append(failed)
    return done


class FiveNodeTests(TestCase):
    timeout = 120

    async def test_five_nodes_bootstrapped_with_node_0(self):
        """Each node knows only node 0; all end up connected to all; one
        stopped and restarted is connected to all again."""
        secret = secrets.token_hex(32)
        first = await NodeFixture.start(self, rpc_secret=secret, apply_layout=False)
        extra = f'bootstrap_peers = ["{first.peer_address}"]'
        nodes = [first]
        for _ in range(4):
            fixture = await NodeFixture.start(self, rpc_secret=secret, apply_layout=False,
                                              extra=extra)
            fixture.node.peering.reconnect_min = 0.05
            nodes.append(fixture)
        first.node.peering.reconnect_min = 0.05

        async def all_connected(fixtures):
            for a in fixtures:
                for b in fixtures:
                    if a is not b:
                        await wait_connected(a.node.network, b.node.node_key.node_id)

        await all_connected(nodes)
        for fixture in nodes:
            self.assertEqual(len(fixture.node.network.connections), 4)

        restarted = nodes[3]
        await restarted.stop()
        again = await NodeFixture.start(self, base=restarted.base, rpc_secret=secret,
                                        apply_layout=False, extra=extra)
        nodes[3] = again
        await all_connected(nodes)
        statuses = again.node.system.node_statuses()
        self.assertEqual(len(statuses), 5)
        self.assertTrue(all(n["isUp"] for n in statuses))
