"""S3 XML rendering helpers: escaping and timestamps."""

from datetime import datetime, timezone

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3.xml import element, http_date, iso8601, text


class TextTests(SynchronousTestCase):
    def test_plain_text_unchanged(self):
        self.assertEqual(text("photos/2024/été.jpg"), "photos/2024/été.jpg")
        self.assertEqual(text(42), "42")

    def test_markup_escaped(self):
        self.assertEqual(text("a&b<c>d"), "a&amp;b&lt;c&gt;d")
        self.assertEqual(element("Key", "<x>"), "<Key>&lt;x&gt;</Key>")

    def test_control_characters_as_references(self):
        """XML 1.0 cannot carry most control characters: they become
        character references; tab and newline stay; a carriage return (a
        parser reads a raw one as a newline) becomes a reference too."""
        self.assertEqual(text("a\x01b\x1fc"), "a&#x1;b&#x1F;c")
        self.assertEqual(text("a\tb\nc\rd"), "a\tb\nc&#xD;d")
        self.assertEqual(text("&\x00"), "&amp;&#x0;")


class Iso8601Tests(SynchronousTestCase):
    def test_format(self):
        self.assertEqual(iso8601(0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(iso8601(1764700000123), "2025-12-02T18:26:40.123Z")
        self.assertEqual(iso8601(1764700000007), "2025-12-02T18:26:40.007Z")

    def test_agrees_with_datetime(self):
        for msec in (1, 999, 1000, 951782400000, 4102444799999, 1709210096500):
            dt = datetime.fromtimestamp(msec // 1000, tz=timezone.utc)
            self.assertEqual(iso8601(msec),
                             dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{msec % 1000:03d}Z")


class HttpDateTests(SynchronousTestCase):
    def test_format(self):
        """RFC 7231 IMF-fixdate, milliseconds dropped."""
        self.assertEqual(http_date(1764700000999), "Tue, 02 Dec 2025 18:26:40 GMT")
        self.assertEqual(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT")
