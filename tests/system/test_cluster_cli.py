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


class InviteJoinTests(TestCase):
    timeout = 120

    async def test_invite_then_join_then_restart_without_join(self):
        """A new machine with a config that has no secret joins with the
        invitation line, and rejoins after a restart without it."""
        base_a = os.path.abspath(os.path.join(self.mktemp(), "a"))
        config_a = write_config(base_a)
        node_a = NodeProcess.spawn(config_a)
        self.addCleanup(node_a.kill, "TERM")
        await node_a.ready
        out, _, _ = await run(tool("garage"), "-c", config_a, "node", "invite")
        invitation = out.strip()
        self.assertEqual(len(out.strip().splitlines()), 1)
        self.assertTrue(invitation.startswith("garage-invite:v1:"), invitation)

        base_b = os.path.abspath(os.path.join(self.mktemp(), "b"))
        config_b = write_config(base_b)
        with open(config_b) as f:
            text = "".join(line for line in f if not line.startswith("rpc_secret"))
        with open(config_b, "w") as f:
            f.write(text)
        node_b = NodeProcess.spawn(config_b, "--join", invitation)
        self.addCleanup(node_b.kill, "TERM")
        await node_b.ready
        a_id = node_a.info()["node_id"]
        await self._wait_up(config_b, a_id)
        await node_b.kill("TERM")

        again = NodeProcess.spawn(config_b)
        self.addCleanup(again.kill, "TERM")
        await again.ready
        await self._wait_up(config_b, a_id)

    async def _wait_up(self, config, node_id):
        """Until `garage status` shows ``node_id`` up (the node dials at start;
        each status call is a round trip to it, not a sleep)."""
        for _ in range(200):
            out, _, _ = await run(tool("garage"), "-c", config, "status")
            if any(line.startswith(node_id[:16]) and " up" in line
                   for line in out.splitlines()):
                return
        self.fail(f"{node_id[:16]} never up:\n{out}")

    async def test_bad_invitation_is_one_line(self):
        config = write_config(os.path.abspath(os.path.join(self.mktemp(), "c")))
        node = NodeProcess.spawn(config, "--join", "garage-invite:v1:nothex:x@y:1")
        with self.assertRaises(RuntimeError):
            await node.ready
        await node.ended
        self.assertEqual(node.exit_code, 1)
        self.assertIn(b"garage: the invitation's secret is not 64 hexadecimal characters",
                      b"".join(node.output))
