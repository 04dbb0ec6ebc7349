"""Frozen dataclasses built by util.frozen.builder are the same values as
those built by their __init__."""

from dataclasses import FrozenInstanceError, dataclass, field

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.model.object import (
    DATA_DELETE_MARKER, DATA_FIRST_BLOCK, DATA_INLINE, STATE_ABORTED, STATE_COMPLETE,
    STATE_UPLOADING, Object, ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util.frozen import builder


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple = field(default=())


class BuilderTests(SynchronousTestCase):
    def test_equal_to_init(self):
        """Equal, same hash, same repr, and still frozen."""
        built = builder(Point)(1, 2, ("a",))
        made = Point(1, 2, ("a",))
        self.assertEqual(built, made)
        self.assertEqual(hash(built), hash(made))
        self.assertEqual(repr(built), repr(made))
        self.assertIsInstance(built, Point)
        with self.assertRaises(FrozenInstanceError):
            built.x = 3

    def test_every_field_required(self):
        """Defaults are not filled in: a missing value is an error, not a
        half-built instance."""
        self.assertRaises(TypeError, builder(Point), 1)

    def test_refuses_post_init(self):
        """A class whose __init__ does more than set fields is refused."""
        @dataclass(frozen=True)
        class Checked:
            x: int

            def __post_init__(self):
                pass

        self.assertRaises(TypeError, builder, Checked)

    def test_refuses_slots(self):
        @dataclass(frozen=True, slots=True)
        class Slotted:
            x: int

        self.assertRaises(TypeError, builder, Slotted)
        self.assertRaises(TypeError, builder, int)


class ObjectDecodeTests(SynchronousTestCase):
    """The object table's decoder, which uses builders, gives back what was
    encoded, for every kind of version."""

    def test_round_trip(self):
        meta = ObjectVersionMeta((("content-type", "text/plain"),), 3, "etag")
        sse = ObjectVersionMeta((), 5, "e2", ("x-amz-checksum-crc32", "AAAA"), "a2V5")
        versions = (
            ObjectVersion(b"u1", 1, STATE_COMPLETE, data=ObjectVersionData(
                DATA_INLINE, meta, inline=b"abc")),
            ObjectVersion(b"u2", 2, STATE_COMPLETE, data=ObjectVersionData(
                DATA_FIRST_BLOCK, sse, first_block=b"h" * 32)),
            ObjectVersion(b"u3", 3, STATE_COMPLETE,
                          data=ObjectVersionData(DATA_DELETE_MARKER)),
            ObjectVersion(b"u4", 4, STATE_UPLOADING, True, (("x-amz-meta-a", "b"),)),
            ObjectVersion(b"u5", 5, STATE_ABORTED),
        )
        entry = Object(b"b" * 32, "key", versions)
        decoded = Object.decode(entry.encode())
        self.assertEqual(decoded, entry)
        self.assertEqual(hash(decoded), hash(entry))
        self.assertEqual(decoded.encode(), entry.encode())
        self.assertEqual(decoded.versions[1].data.meta.checksum, ("x-amz-checksum-crc32", "AAAA"))
        self.assertEqual(decoded.merge(entry), entry)
