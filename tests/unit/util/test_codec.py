"""The stored encoding never changes for a given marker (golden bytes)."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util import codec
from garage_twisted.util.errors import CorruptData


class CodecTests(SynchronousTestCase):
    def test_golden_bytes(self):
        """Canonical CBOR of representative values is byte-for-byte pinned."""
        value = {"bb": [1, -1, 2 ** 40, b"\x00\xff", "é", None, True, False],
                 "a": {"z": [], "yy": b""}}
        self.assertEqual(
            codec.dumps(value).hex(),
            "a26161a2617a80627979406262628801201b00000100000000004200ff62c3a9f6f5f4")

    def test_versioned_golden_bytes(self):
        """A versioned value is its marker followed by canonical CBOR."""
        self.assertEqual(codec.encode_versioned(b"GT.t.v1", [1, "x"]),
                         b"GT.t.v1" + bytes.fromhex("820161 78".replace(" ", "")))

    def test_wrong_marker(self):
        """Decoding with another marker raises CorruptData."""
        data = codec.encode_versioned(b"GT.a.v1", 1)
        self.assertRaises(CorruptData, codec.decode_versioned, b"GT.b.v1", data)

    def test_garbage(self):
        """Invalid CBOR raises CorruptData, not a cbor2 error."""
        self.assertRaises(CorruptData, codec.decode_versioned, b"M", b"M\xff\xfe")
        self.assertRaises(CorruptData, codec.loads, b"\x9f")

    def test_round_trip(self):
        """What is encoded decodes to an equal value."""
        value = [1, b"x", "y", [2, 3], {"k": None}]
        self.assertEqual(codec.decode_versioned(b"M", codec.encode_versioned(b"M", value)),
                         value)
