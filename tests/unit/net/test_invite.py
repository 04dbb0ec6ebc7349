"""Invitation lines and the secret a joined node keeps."""

import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net.invite import Invitation, InvitationError, parse_invitation
from garage_twisted.net.keys import parse_peer_address
from garage_twisted.util.config import JOINED_SECRET_FILE, parse_config
from garage_twisted.util.errors import ConfigError

NODE = "ab" * 32
SECRET = "cd" * 32
CONFIG = """
metadata_dir = "{base}/meta"
data_dir = "{base}/data"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
{secret}
[s3_api]
api_bind_addr = "127.0.0.1:3900"
s3_region = "garage"
"""


class InvitationTests(SynchronousTestCase):
    def test_round_trip(self):
        invitation = Invitation(SECRET, parse_peer_address(f"{NODE}@[::1]:3901"))
        line = str(invitation)
        self.assertEqual(line, f"garage-invite:v1:{SECRET}:{NODE}@[::1]:3901")
        self.assertEqual(parse_invitation(" " + line + "\n"), invitation)

    def test_bad_lines_say_what_is_wrong(self):
        for line, message in [
            ("hello", "starts with"),
            (f"garage-invite:v1:{SECRET[:-2]}:{NODE}@h:1", "64 hexadecimal"),
            (f"garage-invite:v1:{SECRET}:{NODE}@h", "node address is invalid"),
            (f"garage-invite:v1:{SECRET}", "64 hexadecimal"),
        ]:
            with self.assertRaises(InvitationError) as caught:
                parse_invitation(line)
            self.assertIn(message, str(caught.exception))


class JoinSecretTests(SynchronousTestCase):
    def setUp(self):
        self.base = os.path.abspath(self.mktemp())

    def test_secret_from_the_invitation_then_from_metadata_dir(self):
        text = CONFIG.format(base=self.base, secret="")
        config = parse_config(text, environ={}, join_secret=SECRET)
        self.assertEqual(config.rpc_secret.hex(), SECRET)
        with self.assertRaises(ConfigError) as caught:
            parse_config(text, environ={})
        self.assertIn("--join", str(caught.exception))
        os.makedirs(f"{self.base}/meta")
        with open(f"{self.base}/meta/{JOINED_SECRET_FILE}", "w") as f:
            f.write(SECRET + "\n")
        self.assertEqual(parse_config(text, environ={}).rpc_secret.hex(), SECRET)

    def test_another_configured_secret_is_refused(self):
        text = CONFIG.format(base=self.base, secret=f'rpc_secret = "{"ef" * 32}"')
        with self.assertRaises(ConfigError) as caught:
            parse_config(text, environ={}, join_secret=SECRET)
        self.assertIn("not the secret of the cluster", str(caught.exception))
        same = CONFIG.format(base=self.base, secret=f'rpc_secret = "{SECRET}"')
        self.assertEqual(parse_config(same, environ={}, join_secret=SECRET).rpc_secret.hex(),
                         SECRET)
