"""The layout spreads between real nodes in one reactor (loopback, port 0)."""

import secrets

from twisted.trial.unittest import TestCase

from garage_twisted.rpc.layout import LayoutError, NodeRole
from tests.support.node import (
    NodeFixture, wait_connected, wait_converged, wait_layout, wait_synced,
)

GB = 10 ** 9


class LayoutGossipTests(TestCase):
    timeout = 60

    async def _cluster(self, count=3):
        secret = secrets.token_hex(32)
        first = await NodeFixture.start(self, rpc_secret=secret, apply_layout=False)
        nodes = [first]
        for _ in range(count - 1):
            nodes.append(await NodeFixture.start(
                self, rpc_secret=secret, apply_layout=False,
                extra=f'bootstrap_peers = ["{first.peer_address}"]'))
        for a in nodes:
            for b in nodes:
                if a is not b:
                    await wait_connected(a.node.network, b.node.node_key.node_id)
        return [f.node for f in nodes]

    async def test_stage_on_one_node_apply_on_another(self):
        a, b, c = await self._cluster()
        ids = [n.node_key.node_id for n in (a, b, c)]
        for i, node_id in enumerate(ids):
            a.layout.stage_role(node_id, NodeRole(f"zone{i}", 100 * GB))
        await wait_layout(b, lambda m: len(m.staged_roles()) == 3)
        b.layout.apply(1)
        for node in (a, c):
            await wait_layout(node, lambda m: m.current().version == 1)
        await wait_synced([a, b, c], 1)
        for node in (a, b, c):
            # Every node acknowledged and synced version 1, and saw all do so.
            trackers = node.layout.trackers()
            for name in ("ack", "sync", "sync_ack"):
                self.assertEqual(set(getattr(trackers, name).values()), {1}, name)
        self.assertEqual(c.layout.current().assignment, b.layout.current().assignment)
        self.assertEqual(c.layout.staged_roles(), {})
        with self.assertRaises(LayoutError) as caught:
            c.layout.apply(1)
        self.assertIn("wrong version: the layout is at version 1, so the next one is 2",
                      str(caught.exception))

    async def test_revert_spreads_too(self):
        a, b, c = await self._cluster()
        a.layout.stage_role(b.node_key.node_id, NodeRole("z", GB))
        await wait_layout(c, lambda m: m.staged_roles())
        c.layout.revert()
        for node in (a, b):
            await wait_layout(node, lambda m: not m.staged_roles())
        await wait_converged([a, b, c])
