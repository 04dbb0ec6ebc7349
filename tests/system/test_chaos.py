"""A short scripts/chaos run: every nemesis, no lost write, no stale read."""

import os
import sys

from twisted.trial.unittest import TestCase

from tests.support.process import run

NEMESES = ("kill", "pause", "cut", "skew", "layout")
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))), "scripts", "chaos")


class ChaosTests(TestCase):
    timeout = 400

    async def test_short_round_of_each_nemesis(self):
        out, err, code = await run(sys.executable, SCRIPT, "--rounds", "1", "--duration", "8",
                                   "--clients", "3", check=False)
        self.assertEqual(code, 0, out + err)
        rows = [line.split() for line in out.splitlines()
                if line.split()[:1] and line.split()[0] in NEMESES]
        self.assertEqual([r[0] for r in rows], list(NEMESES))
        for row in rows:
            self.assertGreater(int(row[3]), 0, row)  # acknowledged writes
            self.assertEqual(row[4:], ["0", "0"], row)  # lost, violations
