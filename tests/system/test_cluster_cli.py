"""Two real node processes joined with the CLI: `garage node connect`, `garage status`."""

import os
import secrets

from twisted.trial.unittest import TestCase

from tests.support.process import NodeProcess, run, tool, write_config


class NodeConnectTests(TestCase):
    timeout = 120

    async def _start(self, name, secret):
        config = write_config(os.path.abspath(os.path.join(self.mktemp(), name)),
                              rpc_secret=secret)
        node = NodeProcess.spawn(config)
        self.addCleanup(node.kill, "TERM")
        await node.ready
        return config, node

    async def test_connect_then_status_shows_both_nodes_up(self):
        secret = secrets.token_hex(32)
        config_a, node_a = await self._start("a", secret)
        config_b, node_b = await self._start("b", secret)
        info_b = node_b.info()
        address_b = f"{info_b['node_id']}@127.0.0.1:{info_b['rpc_port']}"
        out, err, code = await run(tool("garage"), "-c", config_a, "node", "connect", address_b)
        self.assertIn(f"Success: connected to {address_b}", out)
        # Status from B: A dialled it, so B sees A without having dialled.
        out, _, _ = await run(tool("garage"), "-c", config_b, "status")
        lines = [line for line in out.splitlines() if line[:16] in (
            node_a.info()["node_id"][:16], info_b["node_id"][:16])]
        self.assertEqual(len(lines), 2, out)
        self.assertTrue(all(" up" in line for line in lines), out)

    async def test_connect_with_another_secret_is_refused(self):
        config_a, _ = await self._start("a", secrets.token_hex(32))
        _, node_b = await self._start("b", secrets.token_hex(32))
        info_b = node_b.info()
        address_b = f"{info_b['node_id']}@127.0.0.1:{info_b['rpc_port']}"
        out, err, code = await run(tool("garage"), "-c", config_a, "node", "connect", address_b,
                                   check=False)
        self.assertEqual(code, 1)
        self.assertIn(f"could not connect to {address_b}", err)
        self.assertEqual(len(err.strip().splitlines()), 1)

    async def test_connect_with_a_malformed_address(self):
        config_a, _ = await self._start("a", secrets.token_hex(32))
        out, err, code = await run(tool("garage"), "-c", config_a, "node", "connect",
                                   "not-an-address", check=False)
        self.assertEqual(code, 1)
        self.assertIn("could not connect to not-an-address", err)
