"""scripts/smoke against a fresh node: aws-cli, s3cmd, rclone, s5cmd, minio-py, boto3."""

import os
import sys

from twisted.trial.unittest import TestCase

from tests.support.process import run

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))), "scripts", "smoke")


class SmokeTests(TestCase):
    timeout = 300

    async def test_every_client_against_a_fresh_node(self):
        out, err, code = await run(sys.executable, SCRIPT, "--start-node", check=False)
        self.assertEqual(code, 0, out + err)
        self.assertIn("\n16 passed, 0 failed", "\n" + out)
        self.assertNotIn("FAIL", out)
