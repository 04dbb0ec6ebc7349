"""Tag sets: AWS's rules, the header and XML forms."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3 import errors, tagging
from garage_twisted.model.object import (
    DATA_INLINE, STATE_COMPLETE, ObjectVersion, ObjectVersionData, ObjectVersionMeta,
)
from garage_twisted.util.crdt import Lww


class RulesTests(SynchronousTestCase):
    def invalid(self, pairs, message, limit=tagging.MAX_OBJECT_TAGS):
        with self.assertRaises(errors.InvalidTag) as caught:
            tagging.checked(pairs, limit)
        self.assertIn(message, caught.exception.message)

    def test_sorted_and_unicode(self):
        self.assertEqual(tagging.checked([("b", "2"), ("été", "x y+z=1.2_:/@-")]),
                         (("b", "2"), ("été", "x y+z=1.2_:/@-")))
        self.assertEqual(tagging.checked([("k", "")]), (("k", ""),))

    def test_limits(self):
        self.invalid([(f"k{i}", "v") for i in range(11)], "cannot be greater than 10")
        tagging.checked([(f"k{i}", "v") for i in range(50)], tagging.MAX_BUCKET_TAGS)
        self.invalid([(f"k{i}", "v") for i in range(51)], "cannot be greater than 50",
                     tagging.MAX_BUCKET_TAGS)
        tagging.checked([("k" * 128, "v" * 256)])
        self.invalid([("k" * 129, "v")], "TagKey you have provided is too long")
        self.invalid([("k", "v" * 257)], "TagValue you have provided is too long")
        self.invalid([("k", "1"), ("k", "2")], "multiple Tags with the same key")
        self.invalid([("", "v")], "TagKey you have provided is invalid")
        self.invalid([("a<b", "v")], "TagKey you have provided is invalid")
        self.invalid([("k", "v;")], "TagValue you have provided is invalid")
        self.invalid([("aws:x", "v")], "cannot be prefixed with aws:")

    def test_header_form(self):
        self.assertIsNone(tagging.from_header(None))
        self.assertEqual(tagging.from_header(""), ())
        self.assertEqual(tagging.from_header("b=2&a=%C3%A9t%C3%A9&c="),
                         (("a", "été"), ("b", "2"), ("c", "")))
        with self.assertRaises(errors.InvalidArgument):
            tagging.from_header("a=%FF")
        with self.assertRaises(errors.InvalidTag):
            tagging.from_header("a=1&a=2")
        self.assertEqual(tagging.from_header(tagging.to_header((("a b", "c+d/e"),))),
                         (("a b", "c+d/e"),))

    def test_xml_form_round_trips(self):
        tags = (("a", "1"), ("b", ""))
        self.assertEqual(tagging.from_xml(tagging.to_xml(tags)), tags)
        self.assertEqual(tagging.from_xml(
            b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"), (("k", ""),))
        for bad in (b"<Tagging/>", b"<Tagging><TagSet><Tag><Value>v</Value></Tag>"
                                   b"</TagSet></Tagging>", b"<Other/>", b"<"):
            with self.assertRaises(errors.MalformedXML):
                tagging.from_xml(bad)


class VersionTagsTests(SynchronousTestCase):
    def version(self, meta_tags=(), register=None) -> ObjectVersion:
        meta = ObjectVersionMeta((), 1, "e" * 32, tags=meta_tags)
        return ObjectVersion(b"u" * 32, 5, STATE_COMPLETE,
                             data=ObjectVersionData(DATA_INLINE, meta, inline=b"x"),
                             tags=register)

    def test_creation_tags_then_changes_win(self):
        created = self.version((("a", "1"),))
        self.assertEqual(created.tag_set, (("a", "1"),))
        changed = self.version((("a", "1"),), Lww(10, (("b", "2"),)))
        self.assertEqual(changed.tag_set, (("b", "2"),))
        self.assertEqual(self.version((("a", "1"),), Lww(10, ())).tag_set, ())

    def test_encoding_and_merge(self):
        plain = self.version()
        self.assertEqual(len(plain.to_cbor()), 4)  # untagged versions encode as before
        self.assertEqual(len(plain.data.meta.to_cbor()), 3)
        for version in (self.version((("a", "1"),)), self.version((), Lww(7, (("k", "v"),)))):
            self.assertEqual(ObjectVersion.from_cbor(version.to_cbor()), version)
        older, newer = self.version(register=Lww(7, (("x", "1"),))), \
            self.version(register=Lww(9, (("y", "2"),)))
        self.assertEqual(older.merge_state(newer).tag_set, (("y", "2"),))
        self.assertEqual(newer.merge_state(older).tag_set, (("y", "2"),))
        self.assertEqual(plain.merge_state(newer).tag_set, (("y", "2"),))
