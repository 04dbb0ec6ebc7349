"""Lifecycle configuration XML: what is accepted, and how it is given back."""

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.lifecycle import parse_lifecycle


def config(expiration: str) -> bytes:
    return (b"<LifecycleConfiguration><Rule><ID>r</ID><Prefix>p/</Prefix>"
            b"<Status>Enabled</Status><Expiration>" + expiration.encode()
            + b"</Expiration></Rule></LifecycleConfiguration>")


class ExpirationDateTests(TestCase):
    def test_midnight_utc_dates(self):
        for text in ("2030-01-01", "2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000Z"):
            rules = parse_lifecycle(config(f"<Date>{text}</Date>"))
            self.assertEqual(rules[0]["expire_date"], "2030-01-01", text)

    def test_other_dates_refused(self):
        for text in ("20300101", "2030-01-01T12:00:00Z", "2030-13-01", "soon", ""):
            self.assertRaises(errors.InvalidArgument, parse_lifecycle,
                              config(f"<Date>{text}</Date>"))


class SizeFilterTests(TestCase):
    def config(self, condition: str) -> bytes:
        return (b"<LifecycleConfiguration><Rule><Filter><And>" + condition.encode()
                + b"</And></Filter><Status>Enabled</Status><Expiration><Days>1</Days>"
                b"</Expiration></Rule></LifecycleConfiguration>")

    def test_sizes(self):
        rules = parse_lifecycle(self.config(
            "<ObjectSizeGreaterThan>0</ObjectSizeGreaterThan>"
            "<ObjectSizeLessThan>10</ObjectSizeLessThan>"))
        self.assertEqual((rules[0]["size_gt"], rules[0]["size_lt"]), (0, 10))

    def test_bad_sizes_are_invalid_argument(self):
        for condition in ("<ObjectSizeGreaterThan>x</ObjectSizeGreaterThan>",
                          "<ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan>",
                          "<ObjectSizeLessThan>0</ObjectSizeLessThan>"):
            self.assertRaises(errors.InvalidArgument, parse_lifecycle, self.config(condition))


class TagFilterTests(TestCase):
    def rules(self, filter_xml: str, action: str = "<Expiration><Days>1</Days></Expiration>"):
        return parse_lifecycle(
            ("<LifecycleConfiguration><Rule><Filter>" + filter_xml + "</Filter>"
             "<Status>Enabled</Status>" + action + "</Rule></LifecycleConfiguration>")
            .encode())

    def test_tags_parsed_given_back_and_matched(self):
        from garage_twisted.api.s3.lifecycle import lifecycle_xml
        from garage_twisted.model.lifecycle import rule_matches

        (rule,) = self.rules("<And><Prefix>logs/</Prefix><Tag><Key>tier</Key>"
                             "<Value>cold</Value></Tag><Tag><Key>k</Key><Value></Value></Tag>"
                             "</And>")
        self.assertEqual(rule["tags"], [["k", ""], ["tier", "cold"]])
        self.assertEqual(parse_lifecycle(lifecycle_xml([rule]))[0]["tags"], rule["tags"])
        both = (("k", ""), ("other", "x"), ("tier", "cold"))
        self.assertTrue(rule_matches(rule, "logs/a", 10, both))
        self.assertFalse(rule_matches(rule, "logs/a", 10, (("tier", "cold"),)))
        self.assertFalse(rule_matches(rule, "logs/a", 10, (("k", ""), ("tier", "hot"))))
        self.assertFalse(rule_matches(rule, "data/a", 10, both))
        self.assertFalse(rule_matches(rule, "logs/a", None, both))  # uploads: never
        (single,) = self.rules("<Tag><Key>a</Key><Value>1</Value></Tag>")
        self.assertTrue(rule_matches(single, "any", 1, (("a", "1"),)))

    def test_tag_rules_checked_as_aws(self):
        with self.assertRaises(errors.InvalidRequest):
            self.rules("<Tag><Key>a</Key><Value>1</Value></Tag>",
                       "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
                       "</DaysAfterInitiation></AbortIncompleteMultipartUpload>")
        with self.assertRaises(errors.InvalidTag):
            self.rules("<And><Tag><Key>a</Key><Value>1</Value></Tag>"
                       "<Tag><Key>a</Key><Value>2</Value></Tag></And>")
        with self.assertRaises(errors.MalformedXML):
            self.rules("<Tag><Value>1</Value></Tag>")
