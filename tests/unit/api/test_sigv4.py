"""SigV4 verification: header values that are not ASCII; every ``x-amz-*``
header signed."""

import time

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors, sigv4
from tests.support import signer

SECRET = "s" * 64
URL = "http://127.0.0.1:3900/bucket/key"


KEY_ID = "GK" + "0" * 24


def verify(received_headers: dict, raw_query: str = ""):
    request = sigv4.SignedRequest("PUT", "/bucket/key", raw_query, received_headers,
                                  time.time())
    return sigv4.verify(request, sigv4.parse(request), SECRET, "garage")


class NonAsciiHeaderTests(TestCase):
    def signed(self, value: str) -> dict:
        headers, *_ = signer.sign("PUT", URL, "GK" + "0" * 24, SECRET, "garage",
                                  "UNSIGNED-PAYLOAD", {"x-amz-meta-who": value})
        return headers

    def test_utf8_bytes_signed_as_sent(self):
        """botocore sends UTF-8 bytes and signs them; the server sees them as
        Latin-1 text."""
        headers = self.signed("Hello World\xe9")
        headers["x-amz-meta-who"] = "Hello World\xe9".encode("utf-8").decode("latin-1")
        self.assertEqual(verify(headers).access_key, "GK" + "0" * 24)

    def test_only_the_bytes_signed_verify(self):
        """The same text sent as other bytes (Latin-1 here) is not what was
        signed: one signature never covers two byte sequences."""
        headers = self.signed("Hello World\xe9")
        self.assertRaises(errors.SignatureDoesNotMatch, verify, headers)

    def test_other_value_refused(self):
        headers = self.signed("Hello World\xe9")
        headers["x-amz-meta-who"] = "Hello World\xe8".encode("utf-8").decode("latin-1")
        self.assertRaises(errors.SignatureDoesNotMatch, verify, headers)


class SignedHeadersTests(TestCase):
    """Every x-amz-* header of a request is covered by its signature."""

    def header_signed(self, signed_headers=None, unsigned_headers=None) -> dict:
        headers, *_ = signer.sign("PUT", URL, KEY_ID, SECRET, "garage", "UNSIGNED-PAYLOAD",
                                  signed_headers)
        headers.update(unsigned_headers or {})
        return headers

    def presigned(self, unsigned_headers=None):
        """``(headers, raw query)`` of a presigned PUT (it signs only host)."""
        url = signer.presign("PUT", URL, KEY_ID, SECRET, "garage", 300)
        return {"host": "127.0.0.1:3900", **(unsigned_headers or {})}, url.partition("?")[2]

    def assertUnsigned(self, headers, raw_query, names):
        error = self.assertRaises(errors.AccessDenied, verify, headers, raw_query)
        self.assertEqual(error.message,
                         "There were headers present in the request which were not signed")
        self.assertEqual(error.extra, {"HeadersNotSigned": names})

    def test_signed_x_amz_headers_verify(self):
        """x-amz-* headers named in SignedHeaders are accepted."""
        headers = self.header_signed({"x-amz-meta-a": "1", "x-amz-acl": "private"})
        self.assertEqual(verify(headers).access_key, KEY_ID)

    def test_unsigned_header_refused_with_header_auth(self):
        """An x-amz-* header added after signing is refused, by name, even
        though the signature over the rest is valid."""
        headers = self.header_signed(unsigned_headers={"x-amz-copy-source": "/b/k"})
        self.assertUnsigned(headers, "", "x-amz-copy-source")

    def test_all_unsigned_names_listed(self):
        """Every unsigned x-amz-* header is named, sorted, comma-separated."""
        headers = self.header_signed(unsigned_headers={"x-amz-meta-z": "1",
                                                       "x-amz-acl": "public-read"})
        self.assertUnsigned(headers, "", "x-amz-acl, x-amz-meta-z")

    def test_content_sha256_and_date_must_be_signed(self):
        """x-amz-content-sha256 and x-amz-date have no exemption."""
        headers, *_ = signer.sign("PUT", URL, KEY_ID, SECRET, "garage", "UNSIGNED-PAYLOAD")
        authorization = headers["authorization"].replace(
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date",
            "SignedHeaders=host;x-amz-date")
        self.assertUnsigned(dict(headers, authorization=authorization), "",
                            "x-amz-content-sha256")

    def test_unsigned_header_refused_on_presigned_url(self):
        """A presigned URL signs host only: any x-amz-* header is refused."""
        headers, query = self.presigned()
        self.assertEqual(verify(headers, query).access_key, KEY_ID)
        headers, query = self.presigned({"x-amz-copy-source": "/b/k"})
        self.assertUnsigned(headers, query, "x-amz-copy-source")
        headers, query = self.presigned({"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        self.assertUnsigned(headers, query, "x-amz-content-sha256")

    def test_content_type_and_md5_need_not_be_signed(self):
        """As on AWS, Content-Type and Content-MD5 may be sent unsigned."""
        extra = {"content-type": "text/plain", "content-md5": "XUFAKrxLKna5cZ2REBfFkg=="}
        self.assertEqual(verify(self.header_signed(unsigned_headers=extra)).access_key,
                         KEY_ID)
        headers, query = self.presigned(extra)
        self.assertEqual(verify(headers, query).access_key, KEY_ID)


class PresignExpiryTests(TestCase):
    """``X-Amz-Expires`` is 1 to 604800 seconds; anything else is 403."""

    def parse(self, expires) -> sigv4.AuthData:
        url = signer.presign("GET", URL, KEY_ID, SECRET, "garage", expires)
        request = sigv4.SignedRequest("GET", "/bucket/key", url.partition("?")[2],
                                      {"host": "127.0.0.1:3900"}, time.time())
        return sigv4.parse(request)

    def test_one_second_to_a_week_accepted(self):
        """The bounds and a value between are read as seconds."""
        for expires in (1, 100000, sigv4.MAX_PRESIGN_EXPIRY):
            self.assertEqual(self.parse(expires).expires, expires)

    def test_outside_refused_access_denied(self):
        """Zero, negative, past a week, huge and non-integer values are 403
        AccessDenied with AWS's words."""
        for expires, message in (
                (0, "Request has expired"), ("-0", "Request has expired"),
                (-7, "X-Amz-Expires must be non-negative"),
                (604801, "X-Amz-Expires must be less than a week"),
                ("9" * 5000, "X-Amz-Expires must be less than a week"),
                ("1.5", "X-Amz-Expires should be a number"),
                ("+60", "X-Amz-Expires should be a number"),
                ("\u0663", "X-Amz-Expires should be a number"),
                ("", "X-Amz-Expires should be a number")):
            error = self.assertRaises(errors.AccessDenied, self.parse, expires)
            self.assertEqual(error.status, 403)
            self.assertIn(message, error.message, expires)


class SignedPathTests(TestCase):
    """The path as received verifies; so does AWS's encoding of it, which
    clients sign when they send the path less encoded (``(`` for ``%28``);
    any other path does not."""

    def verify_path(self, signed_path: str, received_path: str):
        headers, *_ = signer.sign("GET", "http://127.0.0.1:3900" + signed_path, KEY_ID, SECRET,
                                  "garage", "UNSIGNED-PAYLOAD")
        request = sigv4.SignedRequest("GET", received_path, "",
                                      {k.lower(): v for k, v in headers.items()}, time.time())
        return sigv4.verify(request, sigv4.parse(request), SECRET, "garage")

    def test_the_path_as_received(self):
        self.assertEqual(self.verify_path("/bucket/k(x)", "/bucket/k(x)").access_key, KEY_ID)

    def test_the_path_as_aws_encodes_it(self):
        self.assertEqual(self.verify_path("/bucket/k%28x%29", "/bucket/k(x)").access_key, KEY_ID)

    def test_another_path_refused(self):
        with self.assertRaises(errors.SignatureDoesNotMatch):
            self.verify_path("/bucket/k%28y%29", "/bucket/k(x)")


class CanonicalHeaderValueTests(TestCase):
    """Header values fold their whitespace runs to one space, as AWS folds
    them (the fast path for values without any must agree)."""

    def canonical(self, value: str) -> str:
        auth = sigv4.AuthData("K", "20260101", "garage", "s3", ("x-amz-meta-a",), "sig",
                              "20260101T000000Z", "UNSIGNED-PAYLOAD", presigned=False)
        return sigv4.canonical_headers(auth, {"x-amz-meta-a": value})

    def test_values_fold_like_the_reference(self):
        values = ["plain", " padded ", "a b c", "a  b", "a\tb", "a \t b", "a\x0bb",
                  "a\xa0b", "a\u3000b", "a\x1cb", "a\x85b", "\xe9t\xe9", "a\x00b", "",
                  "  ", "tab\t", "x" * 300 + "  y"]
        for value in values:
            reference = "x-amz-meta-a:" + sigv4._SPACES.sub(" ", value.strip()) + "\n"
            self.assertEqual(self.canonical(value), reference, repr(value))
