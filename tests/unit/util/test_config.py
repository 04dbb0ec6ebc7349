"""Configuration: Garage's keys, one clear line per mistake."""

import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.config import load_config, parse_address, parse_config, parse_size
from garage_twisted.util.errors import ConfigError

SECRET = "ab" * 32
BASE = f"""
metadata_dir = "/m"
data_dir = "/d"
replication_factor = 3
rpc_bind_addr = "[::]:3901"
rpc_secret = "{SECRET}"
"""


class ConfigTests(SynchronousTestCase):
    def parse(self, text, environ=None):
        return parse_config(text, "/base", environ or {})

    def test_full_config(self):
        """A Garage-style configuration parses into typed values."""
        config = self.parse(BASE + """
rpc_public_addr = "203.0.113.7:3901"
bootstrap_peers = []
block_size = "1M"
compression_level = "none"
consistency_mode = "degraded"
[s3_api]
api_bind_addr = "[::]:3900"
s3_region = "home"
root_domain = ".s3.example.org"
[admin]
api_bind_addr = "127.0.0.1:3903"
admin_token = "tok"
""")
        self.assertEqual(config.replication_factor, 3)
        self.assertEqual(config.rpc_secret, bytes.fromhex(SECRET))
        self.assertEqual(config.block_size, 1 << 20)
        self.assertIsNone(config.compression_level)
        self.assertEqual(config.s3_api.s3_region, "home")
        self.assertEqual(config.s3_api.api_bind_addr.endpoint_description(),
                         "tcp:port=3900:interface=\\:\\:")
        self.assertEqual(config.admin.admin_token, "tok")
        self.assertEqual(config.data_dir, "/d")

    def test_block_ram_buffer_max(self):
        """Garage's default (256 MiB), a size string, and a refusal of 0."""
        self.assertEqual(self.parse(BASE).block_ram_buffer_max, 256 << 20)
        config = self.parse('block_ram_buffer_max = "64MiB"\n' + BASE)
        self.assertEqual(config.block_ram_buffer_max, 64 << 20)
        with self.assertRaises(ConfigError):
            self.parse("block_ram_buffer_max = 0\n" + BASE)

    def test_errors_are_one_line(self):
        """Each kind of mistake raises ConfigError with a single readable line."""
        cases = {
            "missing": 'metadata_dir = "/m"',
            "syntax": BASE + "this is = = not toml",
            "secret": BASE.replace(SECRET, "xyz"),
            "factor": BASE.replace("replication_factor = 3", 'replication_factor = "3"'),
            "address": BASE.replace("[::]:3901", "nowhere"),
            "engine": BASE + 'db_engine = "lmdb"',
            "mode": BASE + 'consistency_mode = "yolo"',
        }
        for name, text in cases.items():
            error = self.assertRaises(ConfigError, self.parse, text)
            self.assertNotIn("\n", str(error), name)
            self.assertTrue(str(error), name)

    def test_secret_from_environment(self):
        """rpc_secret and admin_token may come from the environment, not twice."""
        text = BASE.replace(f'rpc_secret = "{SECRET}"\n', "") + "[admin]\n"
        config = self.parse(text, {"GARAGE_RPC_SECRET": SECRET, "GARAGE_ADMIN_TOKEN": "t"})
        self.assertEqual(config.rpc_secret, bytes.fromhex(SECRET))
        self.assertEqual(config.admin.admin_token, "t")
        self.assertRaises(ConfigError, self.parse, BASE, {"GARAGE_RPC_SECRET": SECRET})

    def test_secret_file_permissions(self):
        """A secret file readable by others is refused; a private one is read."""
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        secret_file = os.path.join(base, "rpc_secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret_file, 0o644)
        text = BASE.replace(f'rpc_secret = "{SECRET}"', 'rpc_secret_file = "rpc_secret"')
        error = self.assertRaises(ConfigError, parse_config, text, base, {})
        self.assertIn("readable by other users", str(error))
        os.chmod(secret_file, 0o600)
        self.assertEqual(parse_config(text, base, {}).rpc_secret, bytes.fromhex(SECRET))

    def test_load_missing_file(self):
        """A missing file is named in the error."""
        error = self.assertRaises(ConfigError, load_config, "/nonexistent.toml")
        self.assertIn("/nonexistent.toml", str(error))

    def test_addresses(self):
        """IPv4, IPv6, hostnames and UNIX paths parse; garbage does not."""
        self.assertEqual(str(parse_address("127.0.0.1:3900", "a")), "127.0.0.1:3900")
        self.assertEqual(parse_address("[::1]:80", "a").host, "::1")
        self.assertEqual(parse_address("localhost:1", "a").port, 1)
        self.assertEqual(parse_address("/run/g.sock", "a", True).endpoint_description(),
                         "unix:/run/g.sock")
        for bad in ("3900", ":3900", "host:port", "host:99999"):
            self.assertRaises(ConfigError, parse_address, bad, "a")

    def test_sizes(self):
        """Sizes read as Garage's examples write them."""
        self.assertEqual(parse_size("1M"), 1 << 20)
        self.assertEqual(parse_size("1MiB"), 1 << 20)
        self.assertEqual(parse_size("10GB"), 10 ** 10)
        self.assertEqual(parse_size(4096), 4096)
        self.assertRaises(ConfigError, parse_size, "lots")
