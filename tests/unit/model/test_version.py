"""Version entries: encoding with and without part checksums, and merges."""

from twisted.trial.unittest import TestCase

from garage_twisted.model.version import Version, VersionBlock


def version() -> Version:
    return Version.new(b"u" * 32, b"b" * 32, "key").with_block(1, 0, VersionBlock(b"h" * 32, 5))


class VersionEncodingTests(TestCase):
    def test_without_part_checksums_encodes_as_before(self):
        raw = version().to_cbor()
        self.assertEqual(len(raw), 5)
        self.assertEqual(Version.from_cbor(raw), version())

    def test_part_checksums_round_trip_merge_and_go_with_deletion(self):
        checked = version().with_part_checksum(1, "q83vEg==")
        self.assertEqual(Version.from_cbor(checked.to_cbor()), checked)
        self.assertEqual(version().merge(checked).part_checksums.get(1), "q83vEg==")
        deleted = Version.new(b"u" * 32, b"b" * 32, "key", deleted=True)
        merged = checked.merge(deleted)
        self.assertTrue(merged.deleted.value)
        self.assertEqual(len(merged.part_checksums), 0)


class PartSizeTests(TestCase):
    def test_sizes_per_part_in_part_order(self):
        v = Version.new(b"u" * 32, b"b" * 32, "key")
        for part, offset, size in ((3, 0, 7), (1, 5, 2), (1, 0, 5), (3, 7, 1)):
            v = v.with_block(part, offset, VersionBlock(bytes([part, offset]) * 16, size))
        self.assertEqual(list(v.part_sizes().items()), [(1, 7), (3, 8)])
