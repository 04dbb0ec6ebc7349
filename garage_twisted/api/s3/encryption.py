"""SSE-C: objects encrypted with a key the client sends with every request.

The key (``x-amz-server-side-encryption-customer-key``, base64 of 32 bytes,
with its ``-key-MD5`` and ``-algorithm: AES256``) is never stored: only its
MD5, to check later requests bring the same one. Each block is encrypted
on its own with AES-256-GCM (a random 12-byte nonce before the ciphertext
and its 16-byte tag), then named by the hash of what is stored, so
encrypted blocks never deduplicate with plain ones nor across keys; inline
objects are encrypted the same way. Sizes and ranges stay those of the
plain bytes. The ETag of an encrypted object is random (an MD5 of the plain
bytes would tell about them), as S3. Object metadata (content type,
``x-amz-meta-*``) is stored in clear; this is documented.

Server-managed keys: ``x-amz-server-side-encryption: AES256`` (or the
bucket's default encryption) is SSE-S3 (:mod:`.sse_s3`), whose data keys
have the interface of :class:`CustomerKey`; the write and read paths take
either from :func:`key_for_write` and :func:`key_for_read`. SSE-KMS
(``aws:kms``) is not built: :mod:`.unbuilt` answers 501 before any handler
runs, rather than storing in clear what the client asked to encrypt.
"""

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from garage_twisted.api.s3 import errors, sse_s3, unbuilt
from garage_twisted.util.aead import aes_gcm, invalid_tag

PREFIX = "x-amz-server-side-encryption-customer-"
COPY_PREFIX = "x-amz-copy-source-server-side-encryption-customer-"
NONCE = 12
# Bytes a stored block has beyond its plain bytes.
OVERHEAD = NONCE + 16


@dataclass(frozen=True)
class CustomerKey:
    key: bytes = field(repr=False)
    key_md5: str  # base64, as in the headers
    # The ETag of an SSE-C object is random (an MD5 of the plain bytes
    # would tell about them), as S3.
    hides_etag = True

    @property
    def meta_value(self) -> str:
        """What the version's ``encryption`` field keeps: the key's MD5."""
        return self.key_md5

    @classmethod
    def from_headers(cls, header, prefix: str = PREFIX) -> "CustomerKey | None":
        """The key a request gives (``header(name) -> str or None``), or None."""
        algorithm = header(prefix + "algorithm")
        key = header(prefix + "key")
        key_md5 = header(prefix + "key-md5")
        if algorithm is None and key is None and key_md5 is None:
            return None
        if algorithm != "AES256":
            raise errors.InvalidArgument(
                "The encryption request you specified is not valid: the algorithm must be "
                "AES256 (with a key and its MD5)")
        try:
            raw = base64.b64decode(key or "", validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise errors.InvalidArgument("The secret key was invalid for the specified "
                                         "algorithm (a base64 256-bit key).")
        expected = base64.b64encode(hashlib.md5(raw).digest()).decode()
        if key_md5 is None or not hmac.compare_digest(expected, key_md5):
            raise errors.InvalidArgument("The calculated MD5 hash of the key did not match "
                                         "the hash that was provided.")
        return cls(raw, expected)

    def encrypt(self, data: bytes):
        return sse_s3.seal(aes_gcm(self.key), data)

    def decrypt(self, blob: bytes) -> bytes:
        try:
            return sse_s3.unseal(aes_gcm(self.key), blob)
        except (invalid_tag(), ValueError):
            raise errors.AccessDenied("The stored data cannot be decrypted with the given "
                                      "key") from None

    def response_headers(self) -> list:
        return [(b"x-amz-server-side-encryption-customer-algorithm", b"AES256"),
                (b"x-amz-server-side-encryption-customer-key-md5", self.key_md5.encode())]


def key_for_write(ctx, header=None):
    """The key a new object is encrypted with: SSE-C's (the customer's), a
    new SSE-S3 data key (``x-amz-server-side-encryption: AES256``, or the
    bucket's default encryption when the request asks for none), or None.

    :param header: ``header(lower-case name) -> str or None`` (a browser
        POST's form fields); the request's headers by default.
    :raises errors.NotImplemented: SSE-KMS asked, or SSE-S3 on a node
        without its secret.
    :raises errors.InvalidArgument: malformed SSE-C headers, an unknown
        method, or both SSE-C and a server-managed method.
    """
    if header is None:
        header = ctx.header
    given = CustomerKey.from_headers(header)
    method = header("x-amz-server-side-encryption")
    if method is not None:
        check_managed_encryption(method)
        if given is not None:
            raise errors.InvalidArgument(
                "Server Side Encryption with Customer provided key is incompatible with the "
                "encryption method specified", extra={
                    "ArgumentName": "x-amz-server-side-encryption", "ArgumentValue": method})
        return sse_s3.keyring_of(ctx).new_key()
    if given is not None:
        return given
    if bucket_default(ctx) is not None:
        return sse_s3.keyring_of(ctx).new_key()
    return None


def bucket_default(ctx) -> str | None:
    """The algorithm of the bucket's default encryption (``AES256``), or None."""
    bucket = getattr(ctx, "bucket", None)
    config = None if bucket is None else bucket.params.encryption_config.value
    return None if not config else config.get("algorithm")


def check_managed_encryption(method: str) -> None:
    """Accept ``x-amz-server-side-encryption: AES256`` only: SSE-KMS is
    refused (:mod:`.unbuilt` already did for requests it saw; this keeps
    the write paths safe on their own), anything else is AWS's 400."""
    unbuilt.check_headers("PutObject", {"x-amz-server-side-encryption": method}.get)
    if method != sse_s3.ALGORITHM:
        raise errors.InvalidArgument(
            "The encryption method specified is not supported",
            extra={"ArgumentName": "x-amz-server-side-encryption", "ArgumentValue": method})


def key_for_read(ctx, meta, prefix: str = PREFIX):
    """The key to read an object with ``meta``: the customer's, checked
    against its MD5 (SSE-C), or its unwrapped data key (SSE-S3, which
    needs no request headers); None for a plain object."""
    given = CustomerKey.from_headers(ctx.header, prefix)
    stored = getattr(meta, "encryption", None)
    if stored is None or sse_s3.is_managed(stored):
        if given is not None:
            raise errors.InvalidRequest("The encryption parameters are not applicable to "
                                        "this object.")
        return None if stored is None else sse_s3.keyring_of(ctx).unwrap(stored)
    if given is None:
        raise errors.InvalidRequest("The object was stored using a form of Server Side "
                                    "Encryption. The correct parameters must be provided to "
                                    "retrieve the object.")
    if not hmac.compare_digest(given.key_md5, stored):
        # 400, as Garage (and ceph's s3-tests) answer.
        raise errors.InvalidRequest("The provided encryption key does not match the one the "
                                    "object was stored with.")
    return given


def plain_block_size(block_size: int, sse) -> int:
    """Plain bytes per block of an object encrypted with ``sse`` (or not):
    ``OVERHEAD`` less than ``block_size``, so that what is stored is
    ``block_size`` bytes, whole pages the block store writes and reads with
    O_DIRECT (1 MiB + 28 bytes went through the page cache: a third more
    CPU per byte stored)."""
    if sse is None or block_size % 4096 or block_size <= OVERHEAD:
        return block_size
    return block_size - OVERHEAD


def random_etag() -> str:
    return os.urandom(16).hex()
