"""Sans-IO ``Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b`` (Noise revision 34) on PyNaCl.

Pattern (the initiator knows the responder's static key beforehand)::

    IKpsk2:
      <- s
      ...
      -> e, es, s, ss
      <- e, ee, se, psk

The pre-shared key (the cluster's ``rpc_secret``) is mixed in at the end of
the second message, so a peer without it cannot produce or read that
message; the initiator must name the responder's static key, and a responder
holding another key cannot read the first message.

This module moves bytes only: no sockets, no reactor, no clock. Every
failure (bad length, failed decryption, low-order point, nonce exhaustion,
use out of order) raises :class:`NoiseError`; callers close the connection.

Transport ciphers. The handshake always runs ChaChaPoly, as the protocol
name says. The transport keys it splits into may drive AES-256-GCM instead
(:data:`AESGCM`, Noise's ``AESGCM`` cipher functions: big-endian nonce),
which runs at three to five times ChaChaPoly's speed where the CPU has AES
instructions (64 KiB in 6 us against 21 here): a replicated block crosses
the wire twice per copy, and the cipher was a third of a large upload's
CPU. Which one is agreed in the handshake payloads (:mod:`garage_twisted.net.secure`); nodes without AES
instructions (many ARM boards) keep ChaChaPoly. An AES-GCM state rekeys
(Noise's ``REKEY``) every :data:`AESGCM_REKEY_INTERVAL` messages, on both
sides at the same message, so no key ever protects more than 64 GiB.

Invariants: a :class:`CipherState` never reuses a nonce (it refuses to go
past ``2**64 - 1``); a :class:`HandshakeState` accepts exactly the message
sequence of the pattern, once (its :class:`HandshakeStep` moves along
``_NEXT_STEP``; any error ends it in ``FAILED``, where every further use is
refused); transport keys exist only after the second message.
"""

import enum
import hashlib
import hmac
from dataclasses import dataclass

# Importing nacl.bindings also runs sodium_init(), which detects the CPU's
# instructions: aesgcm_available() below reads them.
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl._sodium import lib as _lib
from nacl.exceptions import CryptoError
from nacl.utils import random as random_bytes

from garage_twisted.util.aead import aes_gcm, chacha20_poly1305, invalid_tag

PROTOCOL_NAME = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b"
DHLEN = 32
HASHLEN = 64
KEYLEN = 32
TAGLEN = 16
PSKLEN = 32
# Largest Noise message (handshake or transport), as the specification sets.
MAX_MESSAGE = 65535
MAX_NONCE = 2 ** 64 - 1


class NoiseError(Exception):
    """The handshake or a transport message is invalid: close the connection."""


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data).digest()


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.blake2b).digest()


def _hkdf(chaining_key: bytes, input_key: bytes, outputs: int) -> list[bytes]:
    temp_key = _hmac(chaining_key, input_key)
    out = [_hmac(temp_key, b"\x01")]
    for i in range(2, outputs + 1):
        out.append(_hmac(temp_key, out[-1] + bytes([i])))
    return out


def dh(private: bytes, public: bytes) -> bytes:
    """X25519. A low-order public key (all-zero result) is a NoiseError."""
    if len(public) != DHLEN:
        raise NoiseError("public key of wrong length")
    try:
        shared = crypto_scalarmult(private, public)
    except (CryptoError, RuntimeError) as e:
        raise NoiseError(f"invalid public key: {e}") from None
    if shared == bytes(DHLEN):
        raise NoiseError("low-order public key")
    return shared


def public_key(private: bytes) -> bytes:
    return crypto_scalarmult_base(private)


@dataclass(frozen=True)
class Aead:
    """A Noise cipher: its AEAD (``cipher(key)`` gives a ``cryptography``
    AEAD: ``.encrypt(nonce, data, ad)``) and the nonce encoding."""

    name: str
    cipher: object
    byteorder: str
    # Messages between two REKEYs, or None: never.
    rekey_interval: int | None = None

    def nonce(self, n: int) -> bytes:
        return b"\x00\x00\x00\x00" + n.to_bytes(8, self.byteorder)


# 2**20 messages of at most 64 KiB: 64 GiB per key, far inside AES-GCM's
# bounds for 96-bit counter nonces.
AESGCM_REKEY_INTERVAL = 2 ** 20

CHACHAPOLY = Aead("ChaChaPoly", chacha20_poly1305, "little")
AESGCM = Aead("AESGCM", aes_gcm, "big", AESGCM_REKEY_INTERVAL)


def aesgcm_available() -> bool:
    """Whether this CPU has the AES and carry-less multiply instructions that
    make AES-256-GCM fast (libsodium's check; OpenSSL runs the cipher)."""
    return bool(_lib.crypto_aead_aes256gcm_is_available())


class CipherState:
    """A Noise cipher with a counter nonce (``k`` is ``None`` before MixKey).

    OpenSSL (through ``cryptography``) runs the AEAD: its AES-GCM uses the
    CPU's vector AES where there is one, 6 us per 64 KiB message here
    against 15 for libsodium's, and it writes each result into a new bytes
    object, where libsodium's went to a scratch buffer and had to be copied
    out. A block crosses the wire twice per copy: both costs were paid on
    every byte. The test vectors hold the handshake and transport to the
    bytes.
    """

    def __init__(self, key: bytes | None = None, aead: Aead = CHACHAPOLY):
        self.aead = aead
        self.n = 0
        self.k = key

    @property
    def k(self) -> bytes | None:
        return self._k

    @k.setter
    def k(self, key: bytes | None) -> None:
        self._k = key
        self._cipher = None if key is None else self.aead.cipher(key)

    def has_key(self) -> bool:
        return self._k is not None

    def encrypt_with_ad(self, ad: bytes, plaintext) -> bytes:
        """The ciphertext (the plaintext itself before MixKey)."""
        if self._k is None:
            return plaintext
        if self.n >= MAX_NONCE:
            raise NoiseError("nonce space exhausted")
        if len(plaintext) + TAGLEN > MAX_MESSAGE:
            raise NoiseError("message too long")
        out = self._cipher.encrypt(self.aead.nonce(self.n), plaintext, ad)
        self._advance()
        return out

    def _advance(self) -> None:
        self.n += 1
        interval = self.aead.rekey_interval
        if interval is not None and self.n % interval == 0:
            self.rekey()

    def rekey(self) -> None:
        """Noise's REKEY: the first 32 bytes of ENCRYPT(k, 2**64-1, "", zeros)."""
        self.k = self._cipher.encrypt(self.aead.nonce(MAX_NONCE), bytes(KEYLEN), b"")[:KEYLEN]

    def decrypt_with_ad(self, ad: bytes, ciphertext) -> bytes:
        """The plaintext, a new bytes object (not a copy of a shared buffer)."""
        if self._k is None:
            return ciphertext
        if self.n >= MAX_NONCE:
            raise NoiseError("nonce space exhausted")
        if not TAGLEN <= len(ciphertext) <= MAX_MESSAGE:
            raise NoiseError("decryption failed (message of impossible length)")
        try:
            out = self._cipher.decrypt(self.aead.nonce(self.n), ciphertext, ad)
        except invalid_tag():
            # The nonce does not advance: the message was not accepted.
            raise NoiseError("decryption failed (wrong key, tampered, replayed "
                             "or reordered message)") from None
        self._advance()
        return out


class SymmetricState:
    def __init__(self, protocol_name: bytes):
        if len(protocol_name) <= HASHLEN:
            self.h = protocol_name.ljust(HASHLEN, b"\x00")
        else:
            self.h = _hash(protocol_name)
        self.ck = self.h
        self.cipher = CipherState()

    def mix_key(self, input_key: bytes) -> None:
        self.ck, temp_k = _hkdf(self.ck, input_key, 2)
        self.cipher = CipherState(temp_k[:KEYLEN])

    def mix_hash(self, data: bytes) -> None:
        self.h = _hash(self.h + data)

    def mix_key_and_hash(self, input_key: bytes) -> None:
        self.ck, temp_h, temp_k = _hkdf(self.ck, input_key, 3)
        self.mix_hash(temp_h)
        self.cipher = CipherState(temp_k[:KEYLEN])

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self, aead: Aead = CHACHAPOLY) -> tuple[CipherState, CipherState]:
        k1, k2 = _hkdf(self.ck, b"", 2)
        return CipherState(k1[:KEYLEN], aead), CipherState(k2[:KEYLEN], aead)


class HandshakeStep(enum.Enum):
    """Where a :class:`HandshakeState` stands."""

    FIRST_MESSAGE = "first message next"    # -> e, es, s, ss
    SECOND_MESSAGE = "second message next"  # <- e, ee, se, psk
    COMPLETE = "complete"                   # transport keys may be split
    FAILED = "failed"                       # an error: nothing more is accepted


# Step -> the step after its message is written or read.
_NEXT_STEP = {HandshakeStep.FIRST_MESSAGE: HandshakeStep.SECOND_MESSAGE,
              HandshakeStep.SECOND_MESSAGE: HandshakeStep.COMPLETE}
# Step -> whether the initiator is the side that writes its message.
_INITIATOR_WRITES = {HandshakeStep.FIRST_MESSAGE: True, HandshakeStep.SECOND_MESSAGE: False}


class HandshakeState:
    """One IKpsk2 handshake, from either side.

    :param initiator: ``True`` on the dialling side.
    :param prologue: bytes both sides must agree on (protocol and version).
    :param static_private: this side's X25519 private key.
    :param psk: the 32-byte pre-shared key.
    :param remote_static: the responder's X25519 public key (initiator only).
    :param ephemeral_private: fixed ephemeral key, for test vectors only.
    """

    def __init__(self, initiator: bool, prologue: bytes, static_private: bytes, psk: bytes,
                 remote_static: bytes | None = None, ephemeral_private: bytes | None = None):
        if len(psk) != PSKLEN:
            raise NoiseError("the pre-shared key must be 32 bytes")
        if initiator and (remote_static is None or len(remote_static) != DHLEN):
            raise NoiseError("the initiator must know the responder's static key")
        self.initiator = initiator
        self.s = static_private
        self.s_public = public_key(static_private)
        self.psk = psk
        self.rs = remote_static if initiator else None
        self.e = ephemeral_private
        self.re = None
        self.ss = SymmetricState(PROTOCOL_NAME)
        self.ss.mix_hash(prologue)
        # Pre-message "<- s": the responder's static key.
        self.ss.mix_hash(self.rs if initiator else self.s_public)
        self.step = HandshakeStep.FIRST_MESSAGE

    @property
    def complete(self) -> bool:
        return self.step is HandshakeStep.COMPLETE

    def _turn(self, writing: bool) -> HandshakeStep:
        """The step whose message this side may now write (or read)."""
        if self.step is HandshakeStep.FAILED:
            raise NoiseError("the handshake failed earlier")
        if _INITIATOR_WRITES.get(self.step) != (self.initiator == writing):
            raise NoiseError(f"not this side's turn to {'write' if writing else 'read'} "
                             f"a handshake message")
        return self.step

    def _advance(self, step: HandshakeStep) -> None:
        self.step = _NEXT_STEP[step]

    @property
    def handshake_hash(self) -> bytes:
        return self.ss.h

    def _ephemeral(self) -> bytes:
        if self.e is None:
            self.e = random_bytes(DHLEN)
        e_public = public_key(self.e)
        self.ss.mix_hash(e_public)
        # psk handshakes also mix the ephemeral into the key.
        self.ss.mix_key(e_public)
        return e_public

    def _read_ephemeral(self, message: bytes) -> bytes:
        if len(message) < DHLEN:
            raise NoiseError("handshake message too short")
        self.re = bytes(message[:DHLEN])
        self.ss.mix_hash(self.re)
        self.ss.mix_key(self.re)
        return message[DHLEN:]

    def write_message(self, payload: bytes = b"") -> bytes:
        """The next handshake message to send, carrying ``payload``."""
        step = self._turn(writing=True)
        try:
            out = self._write(step, payload)
        except BaseException:
            self.step = HandshakeStep.FAILED
            raise
        self._advance(step)
        return out

    def _write(self, step: HandshakeStep, payload: bytes) -> bytes:
        if step is HandshakeStep.FIRST_MESSAGE:
            out = self._ephemeral()
            self.ss.mix_key(dh(self.e, self.rs))                     # es
            out += self.ss.encrypt_and_hash(self.s_public)           # s
            self.ss.mix_key(dh(self.s, self.rs))                     # ss
        else:
            out = self._ephemeral()
            self.ss.mix_key(dh(self.e, self.re))                     # ee
            self.ss.mix_key(dh(self.e, self.rs))                     # se
            self.ss.mix_key_and_hash(self.psk)                       # psk
        out += self.ss.encrypt_and_hash(payload)
        if len(out) > MAX_MESSAGE:
            raise NoiseError("handshake message too long")
        return out

    def read_message(self, message: bytes) -> bytes:
        """Process a received handshake message; returns its payload."""
        step = self._turn(writing=False)
        try:
            payload = self._read(step, message)
        except BaseException:
            self.step = HandshakeStep.FAILED
            raise
        self._advance(step)
        return payload

    def _read(self, step: HandshakeStep, message: bytes) -> bytes:
        if len(message) > MAX_MESSAGE:
            raise NoiseError("handshake message too long")
        message = bytes(message)
        if step is HandshakeStep.FIRST_MESSAGE:
            rest = self._read_ephemeral(message)
            self.ss.mix_key(dh(self.s, self.re))                     # es
            if len(rest) < DHLEN + TAGLEN:
                raise NoiseError("handshake message too short")
            self.rs = self.ss.decrypt_and_hash(rest[:DHLEN + TAGLEN])  # s
            self.ss.mix_key(dh(self.s, self.rs))                     # ss
            rest = rest[DHLEN + TAGLEN:]
        else:
            rest = self._read_ephemeral(message)
            self.ss.mix_key(dh(self.e, self.re))                     # ee
            self.ss.mix_key(dh(self.s, self.re))                     # se
            self.ss.mix_key_and_hash(self.psk)                       # psk
        if len(rest) < TAGLEN:
            raise NoiseError("handshake message too short")
        return self.ss.decrypt_and_hash(rest)

    def split(self, aead: Aead = CHACHAPOLY) -> tuple[CipherState, CipherState]:
        """``(send, receive)`` transport ciphers running ``aead``, once the
        handshake is complete."""
        if not self.complete:
            raise NoiseError("handshake not complete")
        first, second = self.ss.split(aead)
        return (first, second) if self.initiator else (second, first)
