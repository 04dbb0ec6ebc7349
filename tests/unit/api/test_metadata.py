"""Stored object headers come back as the bytes received."""

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3.metadata import header_value


class HeaderValueTests(TestCase):
    def test_latin1_text_is_the_bytes_received(self):
        """A value stored as received (bytes decoded as Latin-1) encodes back
        to those bytes: a lone 0xE9, UTF-8, an RFC 2047 word."""
        for received in (b"Hello World\xe9", "caf\u00e9 \u20ac".encode("utf-8"),
                         b"=?UTF-8?B?w6k=?=", b"plain"):
            self.assertEqual(header_value(received.decode("latin-1")), received)

    def test_older_unicode_rows_come_back_as_utf8(self):
        """Rows written by browser POSTs before values were kept as bytes hold
        UTF-8 text; characters Latin-1 lacks come back as UTF-8, not a 500."""
        self.assertEqual(header_value("\u20ac \ufffd"), "\u20ac \ufffd".encode("utf-8"))
