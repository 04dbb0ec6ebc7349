"""``[admin] metrics_require_token``: Garage's key, a boolean, off by default."""

import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.config import parse_config
from garage_twisted.util.errors import ConfigError

BASE = f"""
metadata_dir = "meta"
data_dir = "data"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_secret = "{"ab" * 32}"
[s3_api]
api_bind_addr = "127.0.0.1:3900"
[admin]
api_bind_addr = "127.0.0.1:3903"
"""


class MetricsRequireTokenTests(SynchronousTestCase):
    def parse(self, extra=""):
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        return parse_config(BASE + extra, base, {}).admin

    def test_default_and_set(self):
        """Off unless set to true."""
        self.assertFalse(self.parse().metrics_require_token)
        self.assertTrue(self.parse("metrics_require_token = true\n").metrics_require_token)
        self.assertFalse(self.parse("metrics_require_token = false\n").metrics_require_token)

    def test_not_a_boolean(self):
        """A string is refused naming the key, not read as true."""
        with self.assertRaises(ConfigError) as caught:
            self.parse('metrics_require_token = "yes"\n')
        self.assertIn("admin.metrics_require_token must be true or false", str(caught.exception))
