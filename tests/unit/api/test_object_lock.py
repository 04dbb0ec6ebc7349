"""The S3 documents of versioning and Object Lock, and which retention
changes are allowed (AWS's rules)."""

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.object_lock import (
    parse_configuration, parse_retention, retention_change_refusal,
)
from garage_twisted.api.s3.version_fields import parse_date
from garage_twisted.api.s3.versioning import check_version_id, parse_versioning

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
UNTIL = 1_900_000_000_000


def _config(rule: str = "") -> bytes:
    return (f"<ObjectLockConfiguration {NS}><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
            f"{rule}</ObjectLockConfiguration>").encode()


class RetentionChangeTests(TestCase):
    def test_growing_is_always_allowed(self):
        for current in (("GOVERNANCE", UNTIL), ("COMPLIANCE", UNTIL)):
            self.assertIsNone(retention_change_refusal(current, (current[0], UNTIL + 1), False))
        self.assertIsNone(retention_change_refusal(("GOVERNANCE", UNTIL),
                                                   ("COMPLIANCE", UNTIL), False))
        self.assertIsNone(retention_change_refusal(None, ("GOVERNANCE", 1), False))

    def test_shortening_or_removing_needs_governance_and_a_bypass(self):
        for wanted in (("GOVERNANCE", UNTIL - 1), None, ("COMPLIANCE", UNTIL - 1)):
            self.assertIsNotNone(retention_change_refusal(("GOVERNANCE", UNTIL), wanted,
                                                          False))
            self.assertIsNone(retention_change_refusal(("GOVERNANCE", UNTIL), wanted, True))
            self.assertIsNotNone(retention_change_refusal(("COMPLIANCE", UNTIL), wanted,
                                                          True))
        # COMPLIANCE never becomes GOVERNANCE, even later.
        self.assertIsNotNone(retention_change_refusal(("COMPLIANCE", UNTIL),
                                                      ("GOVERNANCE", UNTIL + 1), True))


class DocumentTests(TestCase):
    def test_lock_configuration(self):
        self.assertEqual(parse_configuration(_config()), (True, None))
        rule = ("<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>2</Years>"
                "</DefaultRetention></Rule>")
        self.assertEqual(parse_configuration(_config(rule)), (True, ("COMPLIANCE", None, 2)))
        for bad in ("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>",
                    "<Mode>GOVERNANCE</Mode>", "<Mode>STRICT</Mode><Days>1</Days>",
                    "<Days>1</Days>"):
            with self.assertRaises(errors.MalformedXML):
                parse_configuration(_config(f"<Rule><DefaultRetention>{bad}"
                                            "</DefaultRetention></Rule>"))
        with self.assertRaises(errors.InvalidArgument):
            parse_configuration(_config("<Rule><DefaultRetention><Mode>GOVERNANCE</Mode>"
                                        "<Days>0</Days></DefaultRetention></Rule>"))

    def test_retention(self):
        body = (f"<Retention {NS}><Mode>GOVERNANCE</Mode>"
                "<RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>").encode()
        self.assertEqual(parse_retention(body),
                         ("GOVERNANCE", parse_date("2030-01-01T00:00:00.000Z", "d")))
        self.assertIsNone(parse_retention(f"<Retention {NS}/>".encode()))
        with self.assertRaises(errors.MalformedXML):
            parse_retention(f"<Retention {NS}><Mode>GOVERNANCE</Mode></Retention>".encode())
        with self.assertRaises(errors.InvalidArgument):
            parse_date("next tuesday", "RetainUntilDate")

    def test_versioning(self):
        def doc(inner):
            return f"<VersioningConfiguration {NS}>{inner}</VersioningConfiguration>".encode()

        self.assertEqual(parse_versioning(doc("<Status>Enabled</Status>")), "Enabled")
        self.assertEqual(parse_versioning(
            doc("<Status>Suspended</Status><MfaDelete>Disabled</MfaDelete>")), "Suspended")
        with self.assertRaises(errors.NotImplemented):
            parse_versioning(doc("<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>"))
        for bad in ("<Status>On</Status>", ""):
            with self.assertRaises(errors.MalformedXML):
                parse_versioning(doc(bad))

    def test_version_ids(self):
        self.assertEqual(check_version_id("null"), "null")
        self.assertEqual(check_version_id("ab" * 32), "ab" * 32)
        for bad in ("", "NULL", "ab" * 31, "zz" * 32, "3HL4kqtJlcpXroDTDmJ"):
            with self.assertRaises(errors.InvalidArgument):
                check_version_id(bad)
