"""The IKpsk2 handshake: published vector, interoperability, refusals, fuzzing."""

import json
import os
from dataclasses import replace
from unittest import SkipTest

from hypothesis import given, settings
from hypothesis import strategies as st
from noise.connection import Keypair, NoiseConnection
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net.noise import (
    AESGCM, DHLEN, PROTOCOL_NAME, CipherState, HandshakeState, HandshakeStep, NoiseError,
    aesgcm_available, public_key,
)

# The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b vector of the cacophony test
# vectors (as shipped in snow's tests/vectors/cacophony.txt).
VECTOR = os.path.join(os.path.dirname(__file__), "vector_IKpsk2_25519_ChaChaPoly_BLAKE2b.json")

# Curve25519 points of small order (little-endian u-coordinates).
LOW_ORDER_POINTS = [
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


def _pair(psk=b"k" * 32, responder_static=None, dialled_static=None, prologue=b"test"):
    init_s, resp_s = os.urandom(32), responder_static or os.urandom(32)
    target = dialled_static or public_key(resp_s)
    initiator = HandshakeState(True, prologue, init_s, psk, remote_static=target)
    responder = HandshakeState(False, prologue, resp_s, psk)
    return initiator, responder


def _handshake(initiator, responder):
    responder.read_message(initiator.write_message(b"hello"))
    initiator.read_message(responder.write_message(b"welcome"))
    return initiator.split(), responder.split()


class VectorTests(SynchronousTestCase):
    def test_cacophony_vector(self):
        """Every handshake and transport message matches the published bytes."""
        with open(VECTOR) as f:
            v = json.load(f)
        self.assertEqual(v["protocol_name"].encode(), PROTOCOL_NAME)
        h = bytes.fromhex
        initiator = HandshakeState(
            True, h(v["init_prologue"]), h(v["init_static"]), h(v["init_psks"][0]),
            remote_static=h(v["init_remote_static"]),
            ephemeral_private=h(v["init_ephemeral"]))
        responder = HandshakeState(
            False, h(v["resp_prologue"]), h(v["resp_static"]), h(v["resp_psks"][0]),
            ephemeral_private=h(v["resp_ephemeral"]))
        messages = v["messages"]
        sent = initiator.write_message(h(messages[0]["payload"]))
        self.assertEqual(sent.hex(), messages[0]["ciphertext"])
        self.assertEqual(responder.read_message(sent).hex(), messages[0]["payload"])
        sent = responder.write_message(h(messages[1]["payload"]))
        self.assertEqual(sent.hex(), messages[1]["ciphertext"])
        self.assertEqual(initiator.read_message(sent).hex(), messages[1]["payload"])
        self.assertEqual(initiator.handshake_hash.hex(), v["handshake_hash"])
        self.assertEqual(responder.handshake_hash.hex(), v["handshake_hash"])
        self.assertEqual(responder.rs, public_key(h(v["init_static"])))
        i_send, i_recv = initiator.split()
        r_send, r_recv = responder.split()
        for n, message in enumerate(messages[2:]):
            send, recv = (i_send, r_recv) if n % 2 == 0 else (r_send, i_recv)
            sent = send.encrypt_with_ad(b"", h(message["payload"]))
            self.assertEqual(sent.hex(), message["ciphertext"])
            self.assertEqual(recv.decrypt_with_ad(b"", sent).hex(), message["payload"])


class InteropTests(SynchronousTestCase):
    """Both roles against the independent ``noiseprotocol`` implementation."""

    def _theirs(self, initiator: bool, static: bytes, psk: bytes, prologue: bytes,
                remote: bytes | None = None):
        conn = NoiseConnection.from_name(PROTOCOL_NAME)
        conn.set_as_initiator() if initiator else conn.set_as_responder()
        conn.set_psks(psk)
        conn.set_prologue(prologue)
        conn.set_keypair_from_private_bytes(Keypair.STATIC, static)
        if remote is not None:
            conn.set_keypair_from_public_bytes(Keypair.REMOTE_STATIC, remote)
        conn.start_handshake()
        return conn

    def test_we_initiate(self):
        psk, prologue = os.urandom(32), b"garage-twisted test"
        ours_s, theirs_s = os.urandom(32), os.urandom(32)
        ours = HandshakeState(True, prologue, ours_s, psk, remote_static=public_key(theirs_s))
        theirs = self._theirs(False, theirs_s, psk, prologue)
        self.assertEqual(bytes(theirs.read_message(ours.write_message(b"ping"))), b"ping")
        self.assertEqual(ours.read_message(bytes(theirs.write_message(b"pong"))), b"pong")
        self.assertTrue(ours.complete and theirs.handshake_finished)
        send, recv = ours.split()
        self.assertEqual(bytes(theirs.decrypt(send.encrypt_with_ad(b"", b"a" * 1000))), b"a" * 1000)
        self.assertEqual(recv.decrypt_with_ad(b"", bytes(theirs.encrypt(b"back"))), b"back")

    def test_they_initiate(self):
        psk, prologue = os.urandom(32), b"garage-twisted test"
        ours_s, theirs_s = os.urandom(32), os.urandom(32)
        theirs = self._theirs(True, theirs_s, psk, prologue, remote=public_key(ours_s))
        ours = HandshakeState(False, prologue, ours_s, psk)
        self.assertEqual(ours.read_message(bytes(theirs.write_message(b"ping"))), b"ping")
        self.assertEqual(ours.rs, public_key(theirs_s))
        self.assertEqual(bytes(theirs.read_message(ours.write_message(b"pong"))), b"pong")
        send, recv = ours.split()
        self.assertEqual(recv.decrypt_with_ad(b"", bytes(theirs.encrypt(b"x" * 5000))), b"x" * 5000)
        self.assertEqual(bytes(theirs.decrypt(send.encrypt_with_ad(b"", b"y"))), b"y")


    def test_aesgcm_transport_and_rekey(self):
        """Our AES-256-GCM transport state encrypts as noiseprotocol's AESGCM
        cipher state does, before and after Noise's REKEY, and rekeys by
        itself every ``rekey_interval`` messages."""
        if not aesgcm_available():
            raise SkipTest("this CPU has no AES instructions for libsodium")
        a = NoiseConnection.from_name(b"Noise_NN_25519_AESGCM_BLAKE2b")
        b = NoiseConnection.from_name(b"Noise_NN_25519_AESGCM_BLAKE2b")
        a.set_as_initiator(), b.set_as_responder()
        a.start_handshake(), b.start_handshake()
        b.read_message(a.write_message())
        a.read_message(b.write_message())
        key = a.noise_protocol.cipher_state_encrypt.k
        ours = CipherState(key, replace(AESGCM, rekey_interval=3))
        for i in range(7):
            message = os.urandom(100 + i)
            self.assertEqual(ours.encrypt_with_ad(b"", message), bytes(a.encrypt(message)))
            if i % 3 == 2:
                a.rekey_outbound_cipher()
        self.assertNotEqual(ours.k, key)
        # A receiver that does not rekey loses the stream at message 4.
        sender = CipherState(key, replace(AESGCM, rekey_interval=3))
        stale = CipherState(key, replace(AESGCM, rekey_interval=None))
        for _ in range(3):
            stale.decrypt_with_ad(b"", sender.encrypt_with_ad(b"", b"m"))
        with self.assertRaises(NoiseError):
            stale.decrypt_with_ad(b"", sender.encrypt_with_ad(b"", b"m"))


class RefusalTests(SynchronousTestCase):
    def test_wrong_psk_fails_at_second_message(self):
        initiator = HandshakeState(True, b"p", os.urandom(32), b"a" * 32,
                                   remote_static=public_key(resp := os.urandom(32)))
        responder = HandshakeState(False, b"p", resp, b"b" * 32)
        responder.read_message(initiator.write_message())
        with self.assertRaises(NoiseError):
            initiator.read_message(responder.write_message())

    def test_wrong_responder_key_fails_at_first_message(self):
        """Dialled under one id, answered by a node with another key."""
        initiator, responder = _pair(dialled_static=public_key(os.urandom(32)))
        with self.assertRaises(NoiseError):
            responder.read_message(initiator.write_message())

    def test_wrong_prologue_fails(self):
        initiator = HandshakeState(True, b"v1", os.urandom(32), b"k" * 32,
                                   remote_static=public_key(resp := os.urandom(32)))
        responder = HandshakeState(False, b"v2", resp, b"k" * 32)
        with self.assertRaises(NoiseError):
            responder.read_message(initiator.write_message())

    def test_low_order_ephemeral_refused(self):
        for point in LOW_ORDER_POINTS:
            initiator, responder = _pair()
            message = initiator.write_message()
            with self.assertRaises(NoiseError):
                responder.read_message(point + message[DHLEN:])

    def test_transport_replay_and_reorder_refused(self):
        (i_send, _), (_, r_recv) = _handshake(*_pair())
        first = i_send.encrypt_with_ad(b"", b"one")
        second = i_send.encrypt_with_ad(b"", b"two")
        with self.assertRaises(NoiseError):
            r_recv.decrypt_with_ad(b"", second)  # reordered
        self.assertEqual(r_recv.decrypt_with_ad(b"", first), b"one")
        with self.assertRaises(NoiseError):
            r_recv.decrypt_with_ad(b"", first)  # replayed
        self.assertEqual(r_recv.decrypt_with_ad(b"", second), b"two")

    def test_tampered_transport_message_refused_without_losing_the_stream(self):
        (i_send, _), (_, r_recv) = _handshake(*_pair())
        big, small = os.urandom(60000), b"two"
        first = i_send.encrypt_with_ad(b"", big)
        second = i_send.encrypt_with_ad(b"", small)
        tampered = bytearray(first)
        tampered[100] ^= 1
        with self.assertRaises(NoiseError):
            r_recv.decrypt_with_ad(b"", bytes(tampered))
        # The nonce did not advance: the genuine message still decrypts,
        # from a view of a larger buffer as the deframer passes it.
        self.assertEqual(r_recv.decrypt_with_ad(b"", memoryview(b"xx" + first)[2:]), big)
        self.assertEqual(r_recv.decrypt_with_ad(b"", second), small)
        with self.assertRaises(NoiseError):
            r_recv.decrypt_with_ad(b"", second)  # replayed

    def test_out_of_turn_refused(self):
        initiator, responder = _pair()
        with self.assertRaises(NoiseError):
            responder.write_message()
        with self.assertRaises(NoiseError):
            initiator.read_message(b"x" * 100)
        with self.assertRaises(NoiseError):
            initiator.split()

    def test_steps_follow_the_pattern(self):
        """Both sides move FIRST_MESSAGE, SECOND_MESSAGE, COMPLETE; a
        complete handshake accepts no further message."""
        initiator, responder = _pair()
        self.assertEqual({initiator.step, responder.step}, {HandshakeStep.FIRST_MESSAGE})
        responder.read_message(initiator.write_message())
        self.assertEqual({initiator.step, responder.step}, {HandshakeStep.SECOND_MESSAGE})
        initiator.read_message(responder.write_message())
        self.assertTrue(initiator.complete and responder.complete)
        for refused in (initiator.write_message, responder.write_message):
            self.assertRaises(NoiseError, refused)
        self.assertRaises(NoiseError, responder.read_message, b"x" * 100)
        self.assertIs(initiator.step, HandshakeStep.COMPLETE)

    def test_a_failed_handshake_stays_failed(self):
        """After a message is refused, even the genuine one is refused: the
        state mixed the bad bytes in, so nothing it gave could be trusted."""
        initiator, responder = _pair()
        genuine = initiator.write_message(b"hello")
        with self.assertRaises(NoiseError):
            responder.read_message(genuine[:-1] + bytes([genuine[-1] ^ 1]))
        self.assertIs(responder.step, HandshakeStep.FAILED)
        with self.assertRaises(NoiseError):
            responder.read_message(genuine)
        with self.assertRaises(NoiseError):
            responder.write_message()
        self.assertRaises(NoiseError, responder.split)
        # Refused for being out of turn is no failure of the handshake.
        initiator, responder = _pair()
        self.assertRaises(NoiseError, responder.write_message)
        self.assertIs(responder.step, HandshakeStep.FIRST_MESSAGE)
        self.assertEqual(responder.read_message(initiator.write_message(b"hi")), b"hi")


class FuzzTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def test_random_first_message(self, data):
        """Random bytes to a responder: a NoiseError, never anything else."""
        _, responder = _pair()
        with self.assertRaises(NoiseError):
            responder.read_message(data)

    @settings(max_examples=300, deadline=None)
    @given(st.data())
    def test_mutated_messages(self, data):
        """A valid handshake message with a byte flipped, cut or extended is refused."""
        initiator, responder = _pair()
        message = bytearray(initiator.write_message(b"payload"))
        which = data.draw(st.sampled_from(["flip", "cut", "extend"]))
        if which == "flip":
            i = data.draw(st.integers(0, len(message) - 1))
            message[i] ^= data.draw(st.integers(1, 255))
        elif which == "cut":
            message = message[:data.draw(st.integers(0, len(message) - 1))]
        else:
            message += data.draw(st.binary(min_size=1, max_size=50))
        with self.assertRaises(NoiseError):
            responder.read_message(bytes(message))

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=200))
    def test_random_second_message(self, data):
        initiator, responder = _pair()
        responder.read_message(initiator.write_message())
        with self.assertRaises(NoiseError):
            initiator.read_message(data)
