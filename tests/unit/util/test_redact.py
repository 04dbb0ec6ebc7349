"""Request targets and headers made fit for logs (``util/redact.py``)."""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from garage_twisted.util.redact import REDACTED, redact_headers, redact_uri

PRESIGNED = (
    "/bkt/photo.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=GK31c2f218a2e44f485b94239e%2F20250101%2Fgarage%2Fs3%2Faws4_request"
    "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=8d6f0e8a5cfc3b8c1f6b8a1a0f7b2d0e4c7f4a0b9f9a1c2d3e4f5a6b7c8d9e0f")


class RedactUriTests(SynchronousTestCase):

    def test_presigned_secrets_replaced(self):
        """The signature and credential of a presigned URL are replaced; the
        rest of the target is kept as it was."""
        redacted = redact_uri(PRESIGNED.encode())
        self.assertNotIn("8d6f0e8a5cfc", redacted)
        self.assertNotIn("GK31c2f218a2e44f485b94239e", redacted)
        self.assertEqual(
            redacted,
            "/bkt/photo.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={REDACTED}&X-Amz-Date=20250101T000000Z"
            f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={REDACTED}")

    def test_names_matched_without_case_and_encoded(self):
        """Lower-case, percent-encoded and first-in-query names are all caught,
        as is SigV2's ``Signature``."""
        self.assertEqual(redact_uri("/b/k?x-amz-signature=abc&a=1"),
                         f"/b/k?x-amz-signature={REDACTED}&a=1")
        self.assertEqual(redact_uri("/b/k?X%2DAmz%2DSignature=abc"),
                         f"/b/k?X%2DAmz%2DSignature={REDACTED}")
        self.assertEqual(redact_uri("/b/k?AWSAccessKeyId=AK&Signature=s%2Bg&Expires=9"),
                         f"/b/k?AWSAccessKeyId=AK&Signature={REDACTED}&Expires=9")

    def test_other_targets_unchanged(self):
        """Targets without secrets come back as they were (lookalike names too)."""
        for uri in ("/", "/bkt/key", "/bkt?list-type=2&prefix=a%3Db",
                    "/bkt/k?uploads", "/bkt/k?my-signature=x&Signatures=y",
                    "/bkt/Signature=x"):
            self.assertEqual(redact_uri(uri), uri)


class RedactHeadersTests(SynchronousTestCase):

    def test_authorization_replaced(self):
        """The Authorization header's value is replaced; others are kept."""
        headers = Headers({b"Authorization": [b"AWS4-HMAC-SHA256 Credential=GK1/..., "
                                              b"Signature=abcdef"],
                           b"Host": [b"s3.local"]})
        self.assertEqual(redact_headers(headers),
                         {"authorization": [REDACTED], "host": ["s3.local"]})

    def test_mapping_of_str(self):
        """A plain mapping of ``str`` works the same."""
        self.assertEqual(redact_headers({"authorization": "Bearer t0k3n", "x-a": "1"}),
                         {"authorization": [REDACTED], "x-a": ["1"]})
