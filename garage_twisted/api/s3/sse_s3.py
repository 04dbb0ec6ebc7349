"""SSE-S3: objects encrypted at rest with keys the cluster manages.

Each object gets a data key of its own (32 random bytes); its blocks and
inline body are encrypted with it exactly as SSE-C does
(:mod:`.encryption`: AES-256-GCM per block, a random nonce before the
ciphertext, blocks named by the hash of what is stored, so they
deduplicate within one object only). The data key is *wrapped* (AES-256-GCM
again) by the cluster's master key and kept, wrapped, in the version's
metadata (``ObjectVersionMeta.encryption``) as::

    sse-s3:<key id, 16 hex>:<base64 of nonce, wrapped key and tag>

An SSE-C version keeps the base64 MD5 of its customer key there, which has
no ``:``: the two never mix, and versions written before SSE-S3 existed
read as they did.

The master key is derived with HKDF-SHA256 from a secret given to every
node (``[s3_api] sse_s3_secret``, ``sse_s3_secret_file`` or
``$GARAGE_SSE_S3_SECRET``; see docs/operations.rst). It lives in this
process's memory only: nothing here writes it, nor the secret, anywhere.
Its *key id* (another HKDF output of the secret, telling nothing of the
key) is written beside each wrapped key, so that a node holding older
secrets (``sse_s3_old_secrets``) still unwraps what they wrapped, while new
objects are wrapped with the current one (rotation).

What stays in clear in the metadata: the object's headers and
``x-amz-meta-*``, its size, its checksums and its ETag, which, as AWS gives
for SSE-S3, is the MD5 of the plain bytes (clients check it). Enough to
confirm a guess of a whole object, never to read one; SSE-C objects get a
random ETag.
"""

import base64
import os
from dataclasses import dataclass, field


from garage_twisted.api.s3 import errors
from garage_twisted.util.aead import aes_gcm, hkdf_sha256, invalid_tag

ALGORITHM = "AES256"
RESPONSE_HEADER = (b"x-amz-server-side-encryption", ALGORITHM.encode())
STORED_PREFIX = "sse-s3:"
DATA_KEY_SIZE = 32
NONCE = 12
TAG = 16
# Blocks at least this large are sealed into one buffer made for them:
# ``nonce + ciphertext`` would allocate and copy the block once more, which
# cost 0.7 ms per MiB (page faults of a fresh allocation) against 0.14 ms
# for AES-GCM itself on the benchmark machine. Smaller ones stay bytes
# (inline bodies go into metadata as they are).
SEAL_INTO_MIN = 256 * 1024
# The secrets master keys derive from: 32 bytes at least (rpc_secret's size).
MIN_SECRET_SIZE = 32
_SALT = b"garage-twisted sse-s3"
_MASTER_INFO = b"master key v1"
_KEY_ID_INFO = b"key id v1"
# Bound to every wrapped key: a wrapped key is only ever a data key of
# this scheme, under the master key its id names.
_WRAP_AAD = b"garage-twisted sse-s3 data key v1:"


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return hkdf_sha256(secret, length, _SALT, info)


@dataclass(frozen=True)
class MasterKey:
    """A master key and its public id, both derived from one secret."""

    key_id: str
    key: bytes = field(repr=False)

    @classmethod
    def derive(cls, secret: bytes) -> "MasterKey":
        if len(secret) < MIN_SECRET_SIZE:
            raise ValueError(f"an SSE-S3 secret has at least {MIN_SECRET_SIZE} bytes")
        return cls(_hkdf(secret, _KEY_ID_INFO, 8).hex(), _hkdf(secret, _MASTER_INFO, 32))

    def wrap(self, data_key: bytes) -> str:
        nonce = os.urandom(NONCE)
        sealed = aes_gcm(self.key).encrypt(nonce, data_key, _WRAP_AAD + self.key_id.encode())
        return f"{STORED_PREFIX}{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def unwrap(self, blob: bytes) -> bytes:
        """:raises InvalidTag: not a data key this master key wrapped."""
        return aes_gcm(self.key).decrypt(blob[:NONCE], blob[NONCE:],
                                        _WRAP_AAD + self.key_id.encode())


def seal(aead, data):
    """``nonce + ciphertext + tag`` of ``data`` under a random nonce: bytes,
    or a bytearray for blocks from ``SEAL_INTO_MIN`` bytes on."""
    nonce = os.urandom(NONCE)
    if len(data) < SEAL_INTO_MIN:
        return nonce + aead.encrypt(nonce, data, None)
    out = bytearray(NONCE + len(data) + TAG)
    out[:NONCE] = nonce
    aead.encrypt_into(nonce, data, None, memoryview(out)[NONCE:])
    return out


def unseal(aead, blob) -> bytes:
    """The plain bytes of :func:`seal`'s output (no copy of ``blob``).

    :raises InvalidTag: not sealed with this key, or altered.
    :raises ValueError: too short to be sealed.
    """
    view = memoryview(blob)
    return aead.decrypt(view[:NONCE], view[NONCE:], None)


def is_managed(stored: str | None) -> bool:
    """Whether a version's ``encryption`` field is an SSE-S3 wrapped key."""
    return stored is not None and stored.startswith(STORED_PREFIX)


class Keyring:
    """The current master key (new objects) and older ones (unwrap only).

    :param current: the master key new data keys are wrapped with.
    :param old: master keys of earlier secrets, to unwrap what they wrapped.
    """

    def __init__(self, current: MasterKey, old=()):
        self.current = current
        self._by_id = {key.key_id: key for key in old}
        self._by_id[current.key_id] = current

    @classmethod
    def from_secrets(cls, secret: bytes | None, old_secrets=()) -> "Keyring | None":
        """The keyring of the configured secrets; ``None`` without a
        current one (SSE-S3 is then off on this node)."""
        if secret is None:
            return None
        return cls(MasterKey.derive(secret), [MasterKey.derive(s) for s in old_secrets])

    @property
    def key_ids(self) -> tuple:
        return tuple(sorted(self._by_id))

    def new_key(self) -> "ManagedKey":
        """A fresh data key, wrapped with the current master key."""
        data_key = os.urandom(DATA_KEY_SIZE)
        return ManagedKey(data_key, self.current.wrap(data_key))

    def rewrap(self, key: "ManagedKey") -> "ManagedKey":
        """The same data key, wrapped with the current master key (a copy
        shares the source's blocks, and moves to the current key)."""
        return ManagedKey(key.key, self.current.wrap(key.key))

    def unwrap(self, stored: str) -> "ManagedKey":
        """The data key of a version's ``encryption`` field.

        :raises errors.InternalError: the field is damaged, or was wrapped by
            a master key this node lacks (its secret is not configured).
        """
        _, _, rest = stored.partition(STORED_PREFIX)
        key_id, _, encoded = rest.partition(":")
        master = self._by_id.get(key_id)
        if master is None:
            raise errors.InternalError(
                f"This object was encrypted (SSE-S3) under a master key this node does not "
                f"have (key id {key_id[:16]}): configure its secret in "
                f"[s3_api] sse_s3_old_secrets")
        try:
            data_key = master.unwrap(base64.b64decode(encoded, validate=True))
        except (invalid_tag(), ValueError):
            raise errors.InternalError("The stored SSE-S3 key of this object does not "
                                       "unwrap: its metadata is damaged") from None
        return ManagedKey(data_key, stored)


@dataclass(frozen=True)
class ManagedKey:
    """The data key of one SSE-S3 object (the same interface as
    :class:`~.encryption.CustomerKey`: ``encrypt``, ``decrypt``,
    ``response_headers``, ``meta_value``).

    :ivar stored: its wrapped form, the version's ``encryption`` field.
    """

    key: bytes = field(repr=False)
    stored: str
    # As AWS: the ETag of an SSE-S3 object is the MD5 of its plain bytes.
    hides_etag = False

    @property
    def meta_value(self) -> str:
        return self.stored

    def encrypt(self, data: bytes):
        return seal(aes_gcm(self.key), data)

    def decrypt(self, blob: bytes) -> bytes:
        try:
            return unseal(aes_gcm(self.key), blob)
        except (invalid_tag(), ValueError):
            # Block names are hashes of what is stored, checked on read:
            # this is a key that does not match its blocks.
            raise errors.InternalError("The stored data of this object does not decrypt "
                                       "with its SSE-S3 key") from None

    def response_headers(self) -> list:
        return [RESPONSE_HEADER]


def keyring_of(ctx) -> Keyring:
    """The node's keyring.

    :raises errors.NotImplemented: the node has no SSE-S3 secret configured.
    """
    keyring = getattr(ctx.api, "sse_s3", None)
    if keyring is None:
        raise errors.NotImplemented(
            "Server-side encryption with server-managed keys (SSE-S3, "
            "x-amz-server-side-encryption: AES256) is not configured on this node: its "
            "operator sets [s3_api] sse_s3_secret (see docs/operations.rst)",
            extra={"Header": "x-amz-server-side-encryption"})
    return keyring
