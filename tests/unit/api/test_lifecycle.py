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
