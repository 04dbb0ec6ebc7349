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


class VersionActionTests(TestCase):
    """NoncurrentVersionExpiration and ExpiredObjectDeleteMarker, checked
    and given back as AWS does."""

    def rules(self, actions: str, filter_xml: str = "<Filter><Prefix>p/</Prefix></Filter>"):
        return parse_lifecycle(
            ("<LifecycleConfiguration><Rule><ID>r</ID>" + filter_xml
             + "<Status>Enabled</Status>" + actions + "</Rule></LifecycleConfiguration>")
            .encode())

    def test_parsed_and_given_back(self):
        from garage_twisted.api.s3.lifecycle import lifecycle_xml

        (rule,) = self.rules("<Expiration><ExpiredObjectDeleteMarker>true"
                             "</ExpiredObjectDeleteMarker></Expiration>"
                             "<NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays>"
                             "<NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
                             "</NoncurrentVersionExpiration>")
        self.assertEqual((rule["expire_delete_marker"], rule["noncurrent_days"],
                          rule["newer_noncurrent"], rule["expire_days"]), (True, 30, 3, None))
        xml = lifecycle_xml([rule])
        self.assertIn(b"<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
                      b"</Expiration><NoncurrentVersionExpiration><NoncurrentDays>30"
                      b"</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
                      b"</NoncurrentVersionExpiration>", xml)
        self.assertEqual(parse_lifecycle(xml), [rule])
        (alone,) = self.rules("<NoncurrentVersionExpiration><NoncurrentDays>1"
                              "</NoncurrentDays></NoncurrentVersionExpiration>")
        self.assertEqual((alone["noncurrent_days"], alone["newer_noncurrent"]), (1, None))
        self.assertEqual(parse_lifecycle(lifecycle_xml([alone])), [alone])
        (off,) = self.rules("<Expiration><ExpiredObjectDeleteMarker>false"
                            "</ExpiredObjectDeleteMarker></Expiration>")
        self.assertIs(off["expire_delete_marker"], False)
        self.assertEqual(parse_lifecycle(lifecycle_xml([off])), [off])

    def test_refused_as_aws(self):
        marker = "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
        cases = [
            (errors.MalformedXML, f"<Expiration><Days>1</Days>{marker}</Expiration>", None),
            (errors.MalformedXML,
             f"<Expiration><Date>2030-01-01T00:00:00Z</Date>{marker}</Expiration>", None),
            (errors.MalformedXML, "<Expiration><ExpiredObjectDeleteMarker>yes"
                                  "</ExpiredObjectDeleteMarker></Expiration>", None),
            (errors.MalformedXML, "<NoncurrentVersionExpiration/>", None),
            (errors.MalformedXML, "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1"
                                  "</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
             None),
            (errors.InvalidArgument, "<NoncurrentVersionExpiration><NoncurrentDays>0"
                                     "</NoncurrentDays></NoncurrentVersionExpiration>", None),
            (errors.InvalidArgument, "<NoncurrentVersionExpiration><NoncurrentDays>x"
                                     "</NoncurrentDays></NoncurrentVersionExpiration>", None),
            (errors.InvalidArgument, "<NoncurrentVersionExpiration><NoncurrentDays>1"
                                     "</NoncurrentDays><NewerNoncurrentVersions>0"
                                     "</NewerNoncurrentVersions>"
                                     "</NoncurrentVersionExpiration>", None),
            (errors.InvalidRequest, "<NoncurrentVersionExpiration><NoncurrentDays>1"
                                    "</NoncurrentDays><NewerNoncurrentVersions>1"
                                    "</NewerNoncurrentVersions>"
                                    "</NoncurrentVersionExpiration>", "<Prefix>p/</Prefix>"),
            (errors.InvalidRequest, f"<Expiration>{marker}</Expiration>",
             "<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter>"),
            (errors.InvalidRequest, f"<Expiration>{marker}</Expiration>",
             "<Filter><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></Filter>"),
            (errors.NotImplemented, "<Transition><Days>1</Days><StorageClass>GLACIER"
                                    "</StorageClass></Transition>", None),
            (errors.NotImplemented, "<NoncurrentVersionTransition><NoncurrentDays>1"
                                    "</NoncurrentDays><StorageClass>GLACIER</StorageClass>"
                                    "</NoncurrentVersionTransition>", None),
        ]
        for error, actions, filter_xml in cases:
            args = (actions,) if filter_xml is None else (actions, filter_xml)
            with self.assertRaises(error, msg=actions) as caught:
                self.rules(*args)
            if error is errors.NotImplemented:
                self.assertIn("storage classes", str(caught.exception))
