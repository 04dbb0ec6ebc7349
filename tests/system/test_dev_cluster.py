"""scripts/dev-cluster for real: three daemons, aws-cli across them, stop."""

import os
import random
import sys

from twisted.trial.unittest import TestCase

from tests.support.process import run, tool

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))), "scripts", "dev-cluster")


class DevClusterTests(TestCase):
    timeout = 180

    async def test_three_nodes_serve_one_bucket(self):
        base = os.path.abspath(self.mktemp())
        port = random.randrange(20000, 40000, 100)
        out, _, _ = await run(sys.executable, SCRIPT, "--dir", base, "--base-port", str(port))
        self.addCleanup(run, sys.executable, SCRIPT, "stop", "--dir", base, check=False)
        fields = dict(line.strip().split(": ", 1) for line in out.splitlines()
                      if ": " in line and line.strip().startswith(("Access", "Secret")))
        env = dict(os.environ, AWS_ACCESS_KEY_ID=fields["Access key ID"],
                   AWS_SECRET_ACCESS_KEY=fields["Secret access key"],
                   AWS_DEFAULT_REGION="garage")
        source = os.path.join(base, "payload")
        data = os.urandom(2 * 1024 * 1024 + 3)
        with open(source, "wb") as f:
            f.write(data)
        await run(tool("aws"), "--endpoint-url", f"http://127.0.0.1:{port}", "s3", "cp",
                  source, "s3://dev/payload", env=env)
        back = os.path.join(base, "back")
        await run(tool("aws"), "--endpoint-url", f"http://127.0.0.1:{port + 20}", "s3", "cp",
                  "s3://dev/payload", back, env=env)
        with open(back, "rb") as f:
            self.assertEqual(f.read(), data)
        listed, _, _ = await run(tool("aws"), "--endpoint-url", f"http://127.0.0.1:{port + 10}",
                                 "s3", "ls", "s3://dev/", env=env)
        self.assertIn("payload", listed)
        stopped, _, _ = await run(sys.executable, SCRIPT, "stop", "--dir", base)
        self.assertIn("stopped 3 node(s)", stopped)
