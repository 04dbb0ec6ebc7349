"""Node identity: an Ed25519 key pair, and peer addresses ``id@host:port``.

The key lives in ``metadata_dir/node_key`` (the 64-byte Ed25519 secret key,
seed then public key, as Garage stores it; mode 0600) with the public key in
``node_key.pub``. The node id is the 32-byte public key (64 hex characters).
The X25519 static key used by the Noise handshake is derived from it.

Loading happens once, in ``startService``; the small blocking file I/O is
acceptable there.
"""

import functools
import os
import re
import secrets
from dataclasses import dataclass

from nacl.bindings import (
    crypto_sign_ed25519_pk_to_curve25519,
    crypto_sign_ed25519_sk_to_curve25519,
)
from nacl.signing import SigningKey

from garage_twisted.util.errors import GarageError

KEY_FILE = "node_key"
PUBLIC_KEY_FILE = "node_key.pub"


class NodeKeyError(GarageError):
    code = "NodeKeyError"


@dataclass(frozen=True)
class NodeKey:
    """A node's Ed25519 key pair."""

    seed: bytes  # 32 bytes

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.seed)

    @functools.cached_property
    def node_id(self) -> bytes:
        # Deriving the public key is a scalar multiplication: do it once.
        return bytes(self.signing_key.verify_key)

    @property
    def node_id_hex(self) -> str:
        return self.node_id.hex()

    def secret_key_bytes(self) -> bytes:
        """Ed25519 secret key in libsodium's 64-byte form (seed + public)."""
        return self.seed + self.node_id

    def x25519_private(self) -> bytes:
        return crypto_sign_ed25519_sk_to_curve25519(self.secret_key_bytes())

    def x25519_public(self) -> bytes:
        return crypto_sign_ed25519_pk_to_curve25519(self.node_id)

    @classmethod
    def generate(cls) -> "NodeKey":
        return cls(secrets.token_bytes(32))


def load_or_create_node_key(metadata_dir: str) -> NodeKey:
    """The node's key, created (mode 0600) on first start.

    :raises NodeKeyError: the file is unreadable, malformed or readable by
        others.
    """
    path = os.path.join(metadata_dir, KEY_FILE)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return _create(metadata_dir, path)
    if stat.st_mode & 0o077:
        raise NodeKeyError(f"{path} is readable by other users; chmod 600 it")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != 64:
        raise NodeKeyError(f"{path} is not a 64-byte Ed25519 secret key")
    key = NodeKey(data[:32])
    if key.node_id != data[32:]:
        raise NodeKeyError(f"{path} is corrupt: its public half does not match")
    return key


def _create(metadata_dir: str, path: str) -> NodeKey:
    os.makedirs(metadata_dir, exist_ok=True)
    key = NodeKey.generate()
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key.secret_key_bytes())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with open(os.path.join(metadata_dir, PUBLIC_KEY_FILE), "wb") as f:
        f.write(key.node_id)
    return key


def read_node_id(metadata_dir: str) -> bytes:
    """The node id from ``node_key.pub`` (for the CLI, which never opens the DB)."""
    path = os.path.join(metadata_dir, PUBLIC_KEY_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NodeKeyError(f"cannot read {path}: {e.strerror}") from None
    if len(data) != 32:
        raise NodeKeyError(f"{path} is not a 32-byte public key")
    return data


@dataclass(frozen=True)
class PeerAddress:
    node_id: bytes
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node_id.hex()}@{host}:{self.port}"


_PEER = re.compile(r"^([0-9a-fA-F]{64})@(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$")


def parse_peer_address(value: str) -> PeerAddress:
    """Parse ``<64 hex node id>@host:port`` (IPv6 hosts in brackets).

    :raises NodeKeyError: with what is wrong.
    """
    match = _PEER.match(value.strip())
    if not match:
        raise NodeKeyError(
            f"invalid peer address {value!r}; expected <64 hex node id>@host:port")
    node_id, host, port = match.groups()
    port_number = int(port)
    if port_number > 65535:
        raise NodeKeyError(f"invalid port in peer address {value!r}")
    return PeerAddress(bytes.fromhex(node_id), host.strip("[]"), port_number)
