"""Sans-IO encrypted channel: the Noise handshake, then length-prefixed transport messages.

On the wire every Noise message (handshake or transport) is a 2-byte
big-endian length followed by that many bytes (1 to 65535). The initiator
sends the first handshake message, whose payload is its node id (the Ed25519
public key); the responder checks that the X25519 static key the handshake
authenticated is the one derived from that id, and answers with its own node
id. The initiator dials a known node id: a responder with any other key
cannot read the first message, and a peer without the cluster's
``rpc_secret`` cannot produce or read the second.

After its node id, each handshake payload may carry the transport cipher:
the initiator lists what it offers (one byte per cipher, today only
``AESGCM`` where its CPU has AES instructions), the responder answers with
the one chosen (``AESGCM`` if offered and it can run it too, else
``ChaChaPoly``). A payload of the node id alone means ChaChaPoly. Both
payloads are encrypted and bound to the handshake hash, so nobody between
the nodes can change the choice.

The psk enters only in the second message, so the responder cannot tell
from the first one whether the initiator holds the secret. The initiator
therefore confirms with an empty transport message right after the
handshake, and the responder reports the peer authenticated only once that
message decrypts: a stranger without the secret is never announced, on
either side.

:class:`SecureChannel` takes bytes (:meth:`receive`) and returns bytes to
send plus events: :class:`PeerAuthenticated` once, then each decrypted
message as ``bytes``. Any violation raises
:class:`~garage_twisted.net.noise.NoiseError`; the caller then closes the
connection and trusts nothing it received.
"""

from dataclasses import dataclass

from nacl.bindings import crypto_sign_ed25519_pk_to_curve25519

from garage_twisted.net.noise import (AESGCM, CHACHAPOLY, MAX_MESSAGE, TAGLEN, HandshakeState,
                                      NoiseError, aesgcm_available)

PROLOGUE = b"garage-twisted rpc v1"
LENGTH_BYTES = 2
# Largest plaintext one transport message carries.
MAX_PLAINTEXT = MAX_MESSAGE - TAGLEN
NODE_ID_LEN = 32
# Transport ciphers as named in handshake payloads.
CIPHER_IDS = {CHACHAPOLY: 0, AESGCM: 1}
CIPHERS_BY_ID = {id_: aead for aead, id_ in CIPHER_IDS.items()}
MAX_OFFERS = 8


def local_ciphers() -> tuple:
    """The transport ciphers this machine runs, fastest first."""
    return (AESGCM, CHACHAPOLY) if aesgcm_available() else (CHACHAPOLY,)


@dataclass(frozen=True)
class PeerAuthenticated:
    """The handshake completed: the peer holds ``node_id``'s key and the secret."""

    node_id: bytes


def x25519_from_node_id(node_id: bytes) -> bytes:
    try:
        return crypto_sign_ed25519_pk_to_curve25519(node_id)
    except Exception as e:
        raise NoiseError(f"not a valid node id: {e}") from None


class _Deframer:
    """Splits a byte stream into length-prefixed messages.

    Messages that lie whole inside one received chunk come out as
    memoryviews of it, not copies: only a message cut across chunks is
    assembled in a buffer.
    """

    def __init__(self):
        self._partial = bytearray()

    def feed(self, data: bytes) -> list:
        out = []
        view = memoryview(data)
        partial = self._partial
        if partial:
            # Complete the message begun in an earlier chunk.
            if len(partial) < LENGTH_BYTES:
                take = LENGTH_BYTES - len(partial)
                partial += view[:take]
                view = view[take:]
                if len(partial) < LENGTH_BYTES:
                    return out
            length = int.from_bytes(partial[:LENGTH_BYTES], "big")
            if length == 0:
                raise NoiseError("empty Noise message")
            take = LENGTH_BYTES + length - len(partial)
            partial += view[:take]
            view = view[take:]
            if len(partial) < LENGTH_BYTES + length:
                return out
            out.append(bytes(partial[LENGTH_BYTES:]))
            partial.clear()
        pos, size = 0, len(view)
        while size - pos >= LENGTH_BYTES:
            length = (view[pos] << 8) | view[pos + 1]
            if length == 0:
                raise NoiseError("empty Noise message")
            end = pos + LENGTH_BYTES + length
            if end > size:
                break
            out.append(view[pos + LENGTH_BYTES:end])
            pos = end
        if pos < size:
            partial += view[pos:]
        return out


def _frame(message: bytes) -> bytes:
    return len(message).to_bytes(LENGTH_BYTES, "big") + message


class SecureChannel:
    """One side of an encrypted connection.

    :param node_id: this node's Ed25519 public key.
    :param x25519_private: this node's X25519 private key (derived from its
        Ed25519 key).
    :param rpc_secret: the cluster's 32-byte secret (the Noise psk).
    :param peer_node_id: the node dialled (initiator), or ``None`` (responder).
    :param ciphers: transport ciphers this side accepts (default: those
        this machine runs).
    """

    def __init__(self, node_id: bytes, x25519_private: bytes, rpc_secret: bytes,
                 peer_node_id: bytes | None = None, prologue: bytes = PROLOGUE,
                 ciphers: tuple | None = None):
        self.initiator = peer_node_id is not None
        self.ciphers = tuple(ciphers) if ciphers is not None else local_ciphers()
        if CHACHAPOLY not in self.ciphers:
            raise ValueError("ChaChaPoly is every node's common cipher: it cannot be left out")
        # The transport cipher agreed on, once the handshake is done.
        self.cipher = None
        self.node_id = node_id
        self.peer_node_id = peer_node_id
        remote = x25519_from_node_id(peer_node_id) if self.initiator else None
        self._handshake = HandshakeState(self.initiator, prologue, x25519_private, rpc_secret,
                                         remote_static=remote)
        self._deframer = _Deframer()
        self._send = None
        self._receive = None
        self._confirmed = False
        self.failed = False

    @property
    def authenticated(self) -> bool:
        return self._confirmed

    def start(self) -> bytes:
        """The initiator's first bytes on the wire."""
        if not self.initiator:
            raise NoiseError("only the initiator starts")
        return _frame(self._handshake.write_message(self.node_id + self._offers()))

    def _offers(self) -> bytes:
        """The ciphers offered beyond the default one."""
        return bytes(CIPHER_IDS[aead] for aead in self.ciphers if aead is not CHACHAPOLY)

    def _choose(self, offers: bytes):
        """Responder: the first cipher of ours that the initiator offered."""
        if len(offers) > MAX_OFFERS:
            raise NoiseError("too many ciphers offered")
        offered = {CIPHERS_BY_ID.get(id_) for id_ in offers}
        return next(aead for aead in self.ciphers if aead is CHACHAPOLY or aead in offered)

    def _chosen(self, answer: bytes):
        """Initiator: the cipher the responder chose, which we must have offered."""
        if not answer:
            return CHACHAPOLY
        if len(answer) != 1 or CIPHERS_BY_ID.get(answer[0]) not in self.ciphers:
            raise NoiseError("the peer chose a cipher that was not offered")
        return CIPHERS_BY_ID[answer[0]]

    def receive(self, data: bytes) -> tuple[bytes, list]:
        """Feed received bytes: ``(bytes to send, events)``."""
        if self.failed:
            raise NoiseError("channel already failed")
        try:
            return self._receive_messages(self._deframer.feed(data))
        except NoiseError:
            self.failed = True
            raise

    def _receive_messages(self, messages) -> tuple[bytes, list]:
        out = []
        events = []
        for message in messages:
            if self._confirmed:
                events.append(self._receive.decrypt_with_ad(b"", message))
                continue
            if self._receive is not None:
                # Responder: the initiator's key confirmation.
                if self._receive.decrypt_with_ad(b"", message) != b"":
                    raise NoiseError("expected the initiator's key confirmation")
                self._confirmed = True
                events.append(PeerAuthenticated(self.peer_node_id))
                continue
            payload = self._handshake.read_message(message)
            if len(payload) < NODE_ID_LEN:
                raise NoiseError("handshake payload is not a node id")
            peer_id, extra = bytes(payload[:NODE_ID_LEN]), payload[NODE_ID_LEN:]
            if self.initiator:
                if peer_id != self.peer_node_id:
                    raise NoiseError("the peer announced another node id")
                self.cipher = self._chosen(extra)
            else:
                if x25519_from_node_id(peer_id) != self._handshake.rs:
                    raise NoiseError("the peer's node id does not match its static key")
                self.peer_node_id = peer_id
                self.cipher = self._choose(extra)
                answer = bytes([CIPHER_IDS[self.cipher]]) if extra else b""
                out.append(_frame(self._handshake.write_message(self.node_id + answer)))
            self._send, self._receive = self._handshake.split(self.cipher)
            if self.initiator:
                out.append(_frame(self._send.encrypt_with_ad(b"", b"")))
                self._confirmed = True
                events.append(PeerAuthenticated(peer_id))
        return b"".join(out), events

    def encrypt(self, plaintext: bytes) -> bytes:
        """Wire bytes of one transport message (at most ``MAX_PLAINTEXT``)."""
        return _frame(self.encrypt_parts(plaintext)[1])

    def encrypt_parts(self, plaintext) -> tuple[bytes, bytes]:
        """:meth:`encrypt` as ``(length prefix, ciphertext)``: a transport
        that gathers its writes anyway takes them without a copy joining
        them first."""
        if not self._confirmed:
            raise NoiseError("handshake not complete")
        if len(plaintext) > MAX_PLAINTEXT:
            raise NoiseError("transport message too long")
        ciphertext = self._send.encrypt_with_ad(b"", plaintext)
        return len(ciphertext).to_bytes(LENGTH_BYTES, "big"), ciphertext
