"""The encrypted channel (sans-IO): framing, node ids, key confirmation, fuzzing."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net.keys import NodeKey
from garage_twisted.net.noise import AESGCM, CHACHAPOLY, NoiseError, aesgcm_available
from garage_twisted.net.secure import PeerAuthenticated, SecureChannel


def _channels(secret_a=b"s" * 32, secret_b=b"s" * 32, dial=None, ciphers_a=None, ciphers_b=None):
    a, b = NodeKey(os.urandom(32)), NodeKey(os.urandom(32))
    initiator = SecureChannel(a.node_id, a.x25519_private(), secret_a,
                              peer_node_id=dial or b.node_id, ciphers=ciphers_a)
    responder = SecureChannel(b.node_id, b.x25519_private(), secret_b, ciphers=ciphers_b)
    return a, b, initiator, responder


def _connect(initiator, responder):
    out, _ = responder.receive(initiator.start())
    out, _ = initiator.receive(out)
    responder.receive(out)
    assert initiator.authenticated and responder.authenticated


class SecureChannelTests(SynchronousTestCase):
    def test_handshake_then_messages_in_any_cuts(self):
        a, b, initiator, responder = _channels()
        out, events = responder.receive(initiator.start())
        self.assertEqual(events, [])
        self.assertFalse(responder.authenticated)
        out, events = initiator.receive(out)
        self.assertEqual(events, [PeerAuthenticated(b.node_id)])
        wire = out + initiator.encrypt(b"one") + initiator.encrypt(b"two")
        got = []
        for i in range(0, len(wire), 7):  # arbitrary TCP segmentation
            _, events = responder.receive(wire[i:i + 7])
            got.extend(events)
        self.assertEqual(got, [PeerAuthenticated(a.node_id), b"one", b"two"])
        _, events = initiator.receive(responder.encrypt(b"back"))
        self.assertEqual(events, [b"back"])

    def test_transport_cipher_agreed(self):
        """AES-256-GCM when both sides run it, ChaChaPoly when either side
        lacks it; the messages decrypt either way."""
        both = (AESGCM, CHACHAPOLY)
        cases = [((CHACHAPOLY,), both, CHACHAPOLY), (both, (CHACHAPOLY,), CHACHAPOLY),
                 ((CHACHAPOLY,), (CHACHAPOLY,), CHACHAPOLY)]
        if aesgcm_available():
            cases.append((both, both, AESGCM))
        for ciphers_a, ciphers_b, expected in cases:
            _, _, initiator, responder = _channels(ciphers_a=ciphers_a, ciphers_b=ciphers_b)
            _connect(initiator, responder)
            self.assertEqual((initiator.cipher, responder.cipher), (expected, expected))
            self.assertEqual(responder.receive(initiator.encrypt(b"x" * 60000))[1],
                             [b"x" * 60000])
            self.assertEqual(initiator.receive(responder.encrypt(b"back"))[1], [b"back"])

    def test_answer_outside_the_offer_is_refused(self):
        _, _, initiator, _ = _channels(ciphers_a=(CHACHAPOLY,))
        with self.assertRaises(NoiseError):
            initiator._chosen(bytes([1]))
        with self.assertRaises(NoiseError):
            initiator._chosen(bytes([0, 0]))
        self.assertIs(initiator._chosen(b""), CHACHAPOLY)

    def test_stranger_is_never_announced(self):
        """Without the secret, neither side reports an authenticated peer."""
        _, _, initiator, responder = _channels(secret_a=b"x" * 32)
        out, events = responder.receive(initiator.start())
        self.assertEqual(events, [])
        with self.assertRaises(NoiseError):
            initiator.receive(out)
        self.assertFalse(responder.authenticated)
        with self.assertRaises(NoiseError):
            responder.encrypt(b"anything")

    def test_wrong_dialled_id_fails_at_the_responder(self):
        _, _, initiator, responder = _channels(dial=NodeKey(os.urandom(32)).node_id)
        with self.assertRaises(NoiseError):
            responder.receive(initiator.start())

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=400))
    def test_random_bytes_to_a_responder(self, data):
        _, _, _, responder = _channels()
        try:
            _, events = responder.receive(data)
        except NoiseError:
            return
        self.assertEqual(events, [])  # only an incomplete message can pass

    @settings(max_examples=200, deadline=None)
    @given(st.binary(min_size=1, max_size=200))
    def test_random_bytes_after_the_handshake(self, data):
        _, _, initiator, responder = _channels()
        out, _ = responder.receive(initiator.start())
        out, _ = initiator.receive(out)
        responder.receive(out)
        try:
            _, events = responder.receive(data)
        except NoiseError:
            return
        self.assertEqual(events, [])


class DeframerTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(min_size=1, max_size=300), max_size=10), st.data())
    def test_messages_survive_any_cuts(self, messages, data):
        from garage_twisted.net.secure import _Deframer

        stream = b"".join(len(m).to_bytes(2, "big") + m for m in messages)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
        reader, got, last = _Deframer(), [], 0
        for cut in cuts + [len(stream)]:
            got.extend(bytes(m) for m in reader.feed(stream[last:cut]))
            last = cut
        self.assertEqual(got, messages)
