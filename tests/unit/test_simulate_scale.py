"""scripts/simulate-scale on a 5-node cluster: it runs, and its figures are sane."""

import json
import os
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "simulate-scale")
NODES = 5
COPIES = 256 * 3


_RUN = {}


def _simulate() -> tuple:
    """``(printed, report)`` of one run, shared by the tests (trial has no
    setUpClass)."""
    if not _RUN:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.json")
            run = subprocess.run(
                [sys.executable, SCRIPT, "--sizes", str(NODES), "--connections", "4",
                 "--pings", "3", "--json", out],
                capture_output=True, text=True, timeout=120)
            if run.returncode != 0:
                raise AssertionError(f"simulate-scale failed:\n{run.stderr}")
            with open(out) as f:
                _RUN["out"] = (run.stdout, json.load(f))
    return _RUN["out"]


class SimulateScaleTests(SynchronousTestCase):
    def setUp(self):
        self.printed, self.report = _simulate()
        self.result = self.report["results"][0]

    def test_prints_a_table_and_no_disagreement(self):
        self.assertIn(f"{NODES} nodes", self.printed)
        self.assertIn("time to reach every node", self.printed)
        self.assertEqual(self.report["notes"], [])

    def test_layout_join_and_leave_move_sane_amounts(self):
        layout = self.result["layout"]
        self.assertGreater(layout["compute_seconds"], 0)
        self.assertGreater(layout["compute_peak_bytes"], 0)
        self.assertGreater(layout["partitions_per_node_min"], 0)
        join, leave = layout["join"], layout["leave"]
        # The newcomer's copies are copied to it; at most a node's fair
        # share of the data, times the replication factor, moves.
        self.assertGreaterEqual(join["moved_copies"], join["newcomer_copies"])
        self.assertGreater(join["moved_copies"], 0)
        self.assertLessEqual(join["moved_share"], 3 / NODES)
        # Every copy the leaver held is made again elsewhere.
        self.assertGreaterEqual(leave["moved_copies"], leave["leaver_copies"])
        self.assertLessEqual(leave["moved_copies"], COPIES)

    def test_gossip_reaches_every_node_and_the_three_methods_agree(self):
        gossip = self.result["gossip"]
        self.assertEqual(gossip["methods"], "real = event = closed form")
        runs = {r["method"]: r for r in gossip["runs"]}
        real = runs["real"]
        # Every node got the version within the slowest direct link (80 ms
        # plus jitter), and every ack within two of them.
        self.assertGreater(real["reach_seconds"], 0)
        self.assertLess(real["reach_seconds"], 0.081)
        self.assertLess(real["reach_seconds"], real["all_acked_seconds"])
        self.assertLess(real["all_acked_seconds"], 0.162)
        n = NODES
        self.assertEqual(real["push_messages"], n * (n - 1))
        self.assertEqual(runs["event"]["push_messages"], real["push_messages"])

    def test_mesh_costs(self):
        mesh = self.result["mesh"]
        self.assertEqual(mesh["connections"], NODES - 1)
        self.assertGreater(mesh["connection"]["bytes_per_connection_end"], 1000)
        ping = mesh["ping"]
        self.assertGreater(ping["request_bytes"], 64)
        self.assertGreater(ping["reply_bytes"], 64)
        self.assertAlmostEqual(ping["pings_sent_per_second"], (NODES - 1) / 15.0)

    def test_anti_entropy_finds_exactly_the_differing_rows(self):
        partition = self.result["antientropy"]["partition"]
        self.assertEqual(partition["sample_scale"], 1)
        same, diff = partition["no_diff"], partition["diff"]
        self.assertEqual((same["roots_calls"], same["merkle_nodes_compared"],
                          same["rows_pushed"]), (1, 0, 0))
        self.assertEqual(diff["rows_pushed"], round(partition["rows"] * 0.01))
        self.assertGreaterEqual(diff["merkle_nodes_compared"], diff["rows_pushed"])
        # The tries are compared a level at a time (merkle/nodes): a call
        # per level, not per node.
        self.assertLess(diff["merkle_calls"], diff["merkle_nodes_compared"] / 10)
        self.assertGreater(diff["bytes"], same["bytes"])
