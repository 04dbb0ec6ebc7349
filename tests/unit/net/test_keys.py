"""Node identity: created once, private, stable; peer addresses."""

import os
import stat

from nacl.bindings import crypto_scalarmult_base
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net.keys import (
    NodeKeyError, load_or_create_node_key, parse_peer_address, read_node_id,
)


class NodeKeyTests(SynchronousTestCase):
    def test_created_private_and_stable(self):
        """The key file is created 0600 and reloads to the same node id."""
        directory = os.path.abspath(self.mktemp())
        key = load_or_create_node_key(directory)
        mode = stat.S_IMODE(os.stat(os.path.join(directory, "node_key")).st_mode)
        self.assertEqual(mode, 0o600)
        self.assertEqual(load_or_create_node_key(directory).node_id, key.node_id)
        self.assertEqual(read_node_id(directory), key.node_id)
        self.assertEqual(len(key.node_id_hex), 64)

    def test_refuses_readable_key(self):
        """A key file readable by others is refused."""
        directory = os.path.abspath(self.mktemp())
        load_or_create_node_key(directory)
        os.chmod(os.path.join(directory, "node_key"), 0o644)
        self.assertRaises(NodeKeyError, load_or_create_node_key, directory)

    def test_x25519_derivation(self):
        """The X25519 public key matches the derived private key."""
        key = load_or_create_node_key(os.path.abspath(self.mktemp()))
        self.assertEqual(crypto_scalarmult_base(key.x25519_private()), key.x25519_public())

    def test_peer_addresses(self):
        """id@host:port parses (IPv6 in brackets); malformed ones do not."""
        node_id = "ab" * 32
        address = parse_peer_address(f"{node_id}@[::1]:3901")
        self.assertEqual((address.host, address.port), ("::1", 3901))
        self.assertEqual(str(address), f"{node_id}@[::1]:3901")
        self.assertEqual(parse_peer_address(f"{node_id}@node.example:1").host, "node.example")
        for bad in ("nope", f"{node_id}@host", f"{node_id[:10]}@h:1", f"{node_id}@h:99999"):
            self.assertRaises(NodeKeyError, parse_peer_address, bad)
