"""AES-256-GCM, ChaCha20-Poly1305 and HKDF-SHA256 from ``cryptography``,
imported on first use.

Importing ``cryptography`` loads its OpenSSL bindings: 6.8 MB of a node's
memory. Only the peer protocol (Noise) and SSE encryption need them, so a
node alone, serving no encrypted object, never loads them. The functions
here return ``cryptography``'s own objects; :func:`invalid_tag` is its
exception class, to be named in an ``except`` clause (which evaluates it
only when an exception is being matched).
"""


def aes_gcm(key: bytes):
    """``cryptography``'s ``AESGCM(key)``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM(key)


def chacha20_poly1305(key: bytes):
    """``cryptography``'s ``ChaCha20Poly1305(key)``."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    return ChaCha20Poly1305(key)


def invalid_tag() -> type:
    """``cryptography.exceptions.InvalidTag``: a ciphertext or tag that does
    not authenticate."""
    from cryptography.exceptions import InvalidTag
    return InvalidTag


def hkdf_sha256(secret: bytes, length: int, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``secret``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=info).derive(secret)
