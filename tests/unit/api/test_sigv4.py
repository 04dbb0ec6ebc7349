"""SigV4 verification of requests whose header values are not ASCII."""

import time

from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors, sigv4
from tests.support import signer

SECRET = "s" * 64
URL = "http://127.0.0.1:3900/bucket/key"


def verify(received_headers: dict):
    request = sigv4.SignedRequest("PUT", "/bucket/key", "", received_headers, time.time())
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
