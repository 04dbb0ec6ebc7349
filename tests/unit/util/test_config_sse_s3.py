"""The SSE-S3 secrets of ``[s3_api]``: given like rpc_secret, checked."""

import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.config import parse_config
from garage_twisted.util.errors import ConfigError

RPC = "ab" * 32
CURRENT = "cd" * 32
OLD1, OLD2 = "e1" * 32, "f2" * 32
BASE = f"""
metadata_dir = "meta"
data_dir = "data"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_secret = "{RPC}"
[s3_api]
api_bind_addr = "127.0.0.1:3900"
"""


class SseS3ConfigTests(SynchronousTestCase):
    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)

    def parse(self, extra="", environ=None):
        return parse_config(BASE + extra, self.base, environ or {}).s3_api

    def secret_file(self, name, text, mode=0o600):
        path = os.path.join(self.base, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_off_by_default(self):
        s3 = self.parse()
        self.assertIsNone(s3.sse_s3_secret)
        self.assertEqual(s3.sse_s3_old_secrets, ())

    def test_inline_file_or_environment(self):
        """The three sources of rpc_secret, and only one of them."""
        wanted = bytes.fromhex(CURRENT)
        self.assertEqual(self.parse(f'sse_s3_secret = "{CURRENT}"').sse_s3_secret, wanted)
        self.secret_file("sse.key", CURRENT + "\n")
        self.assertEqual(self.parse('sse_s3_secret_file = "sse.key"').sse_s3_secret, wanted)
        self.assertEqual(self.parse(environ={"GARAGE_SSE_S3_SECRET": CURRENT}).sse_s3_secret,
                         wanted)
        with self.assertRaises(ConfigError):
            self.parse(f'sse_s3_secret = "{CURRENT}"', {"GARAGE_SSE_S3_SECRET": CURRENT})
        self.secret_file("open.key", CURRENT, 0o644)
        with self.assertRaises(ConfigError) as caught:
            self.parse('sse_s3_secret_file = "open.key"')
        self.assertIn("readable by other users", str(caught.exception))

    def test_old_secrets(self):
        """A TOML list, or one string (inline, file, environment)."""
        expected = (bytes.fromhex(OLD1), bytes.fromhex(OLD2))
        current = f'sse_s3_secret = "{CURRENT}"\n'
        self.assertEqual(self.parse(current + f'sse_s3_old_secrets = ["{OLD1}", "{OLD2}"]')
                         .sse_s3_old_secrets, expected)
        self.assertEqual(self.parse(current + f'sse_s3_old_secrets = "{OLD1}, {OLD2}"')
                         .sse_s3_old_secrets, expected)
        self.secret_file("old.keys", f"{OLD1}\n{OLD2}\n")
        self.assertEqual(self.parse(current + 'sse_s3_old_secrets_file = "old.keys"')
                         .sse_s3_old_secrets, expected)
        self.assertEqual(self.parse(current, {"GARAGE_SSE_S3_OLD_SECRETS": f"{OLD1} {OLD2}"})
                         .sse_s3_old_secrets, expected)
        # The current secret listed as old too is simply current.
        self.assertEqual(self.parse(current + f'sse_s3_old_secrets = ["{CURRENT}"]')
                         .sse_s3_old_secrets, ())
        with self.assertRaises(ConfigError):
            self.parse(current + f'sse_s3_old_secrets = ["{OLD1}"]',
                       {"GARAGE_SSE_S3_OLD_SECRETS": OLD2})
        with self.assertRaises(ConfigError) as caught:
            self.parse(f'sse_s3_old_secrets = ["{OLD1}"]')
        self.assertIn("needs a current sse_s3_secret", str(caught.exception))

    def test_mistakes_are_one_clear_line(self):
        for extra, words in (
                ('sse_s3_secret = "short"', "64 hexadecimal"),
                (f'sse_s3_secret = "{CURRENT}"\nsse_s3_old_secrets = ["zz"]', "64 hexadecimal"),
                (f'sse_s3_secret = "{RPC}"', "must not be rpc_secret"),
                ('sse_s3_secret = 3', "must be a string")):
            with self.assertRaises(ConfigError) as caught:
                self.parse(extra)
            self.assertIn(words, str(caught.exception))

    def test_secret_files_stay_off_the_protected_disks(self):
        """A secret file under metadata_dir or data_dir would put the key
        on the disks it protects: refused."""
        for directory in ("meta", "data"):
            os.makedirs(os.path.join(self.base, directory), exist_ok=True)
            self.secret_file(os.path.join(directory, "sse.key"), CURRENT)
            with self.assertRaises(ConfigError) as caught:
                self.parse(f'sse_s3_secret_file = "{directory}/sse.key"')
            self.assertIn("off the disks it protects", str(caught.exception))

    def test_secrets_are_not_in_the_repr(self):
        s3 = self.parse(f'sse_s3_secret = "{CURRENT}"\nsse_s3_old_secrets = ["{OLD1}"]')
        self.assertNotIn(repr(bytes.fromhex(CURRENT)), repr(s3))
        self.assertNotIn(repr(bytes.fromhex(OLD1)), repr(s3))
