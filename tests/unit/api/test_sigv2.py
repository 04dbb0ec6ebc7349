"""SigV2 verification: AWS's documented examples, botocore's own SigV2
signers (``HmacV1Auth``, ``HmacV1QueryAuth``) as an independent oracle, and
every refusal."""

import base64
import hashlib
import hmac
import time
from email.utils import formatdate
from urllib.parse import quote, urlsplit

from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import TestCase

from garage_twisted.api.s3 import errors, sigv2
from garage_twisted.api.s3.sigv4 import PayloadMode, SignedRequest
from garage_twisted.util.config import ConfigError, parse_config

# The credentials of AWS's "Signing and authenticating REST requests"
# (Signature Version 2) examples.
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

KEY = "GK" + "1" * 24
SECRET = "s" * 64


def _epoch(date: str) -> float:
    return sigv2.request_time({"date": date})


def verify_request(method, raw_path, raw_query, headers, now, secret=AWS_SECRET,
                   bucket_host=None):
    headers = {name.lower(): value for name, value in headers.items()}
    request = SignedRequest(method, raw_path, raw_query, headers, now)
    assert sigv2.is_sigv2(headers, raw_query)
    auth = sigv2.parse(headers, raw_query)
    return sigv2.verify(request, auth, secret, bucket_host)


class AwsExampleTests(TestCase):
    """The examples of AWS's SigV2 documentation, each verified from the
    request it shows (virtual-host requests with their bucket)."""

    def check(self, method, path, query, headers, signature, bucket_host=None, date=None):
        headers = dict(headers, authorization=f"AWS {AWS_KEY}:{signature}")
        now = _epoch(date or headers.get("date") or headers["x-amz-date"])
        verified = verify_request(method, path, query, headers, now, bucket_host=bucket_host)
        self.assertEqual(verified.access_key, AWS_KEY)
        self.assertIs(verified.payload_mode, PayloadMode.UNSIGNED)
        # One bit off the signature is refused.
        wrong = signature[:-2] + ("A" if signature[-2] != "A" else "B") + "="
        headers["authorization"] = f"AWS {AWS_KEY}:{wrong}"
        self.assertRaises(errors.SignatureDoesNotMatch, verify_request, method, path, query,
                          headers, now, bucket_host=bucket_host)

    def test_object_get(self):
        self.check("GET", "/photos/puppy.jpg", "",
                   {"host": "johnsmith.s3.amazonaws.com",
                    "date": "Tue, 27 Mar 2007 19:36:42 +0000"},
                   "bWq2s1WEIj+Ydj0vQ697zp+IXMU=", bucket_host="johnsmith")

    def test_object_put(self):
        self.check("PUT", "/photos/puppy.jpg", "",
                   {"host": "johnsmith.s3.amazonaws.com", "content-type": "image/jpeg",
                    "content-length": "94328", "date": "Tue, 27 Mar 2007 21:15:45 +0000"},
                   "MyyxeRY7whkBe+bq8fHCL/2kKUg=", bucket_host="johnsmith")

    def test_list(self):
        """Listing parameters are not sub-resources: not signed."""
        self.check("GET", "/", "prefix=photos&max-keys=50&marker=puppy",
                   {"host": "johnsmith.s3.amazonaws.com", "user-agent": "Mozilla/5.0",
                    "date": "Tue, 27 Mar 2007 19:42:41 +0000"},
                   "htDYFYduRNen8P9ZfE/s9SuKy0U=", bucket_host="johnsmith")

    def test_fetch_acl(self):
        self.check("GET", "/", "acl",
                   {"host": "johnsmith.s3.amazonaws.com",
                    "date": "Tue, 27 Mar 2007 19:44:46 +0000"},
                   "c2WLPFtWHVgbEmeEG93a4cG37dM=", bucket_host="johnsmith")

    def test_delete_with_x_amz_date(self):
        """Path style; x-amz-date overrides Date (AWS's example puts its
        value on the Date line)."""
        self.check("DELETE", "/johnsmith/photos/puppy.jpg", "",
                   {"host": "s3.amazonaws.com", "user-agent": "dotnet",
                    "date": "Tue, 27 Mar 2007 21:20:27 +0000",
                    "x-amz-date": "Tue, 27 Mar 2007 21:20:26 +0000"},
                   "lx3byBScXR6KzyMaifNkardMwNk=")

    def test_upload_with_amz_headers(self):
        """Mixed-case and repeated x-amz-* headers (joined by "," as the
        server receives them); the example's CNAME bucket addressed path
        style."""
        self.check("PUT", "/static.johnsmith.net/db-backup.dat.gz", "",
                   {"host": "s3.amazonaws.com", "user-agent": "curl/7.15.5",
                    "date": "Tue, 27 Mar 2007 21:06:08 +0000",
                    "x-amz-acl": "public-read", "content-type": "application/x-download",
                    "content-md5": "4gJE4saaMU4BqNR0kLY+lw==",
                    "X-Amz-Meta-ReviewedBy": "joe@johnsmith.net,jane@johnsmith.net",
                    "X-Amz-Meta-FileChecksum": "0x02661779",
                    "X-Amz-Meta-ChecksumAlgorithm": "crc32",
                    "content-disposition": "attachment; filename=database.dat",
                    "content-encoding": "gzip", "content-length": "5913339"},
                   "ilyl83RwaSoYIEdixDQcA4OnAnc=")

    def test_list_all_my_buckets(self):
        self.check("GET", "/", "", {"host": "s3.amazonaws.com",
                                    "date": "Wed, 28 Mar 2007 01:29:59 +0000"},
                   "qGdzdERIC03wnaRNKh6OqZehG9s=")

    def test_unicode_keys(self):
        """The path is signed as sent, percent-encoding case included."""
        self.check("GET", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", "",
                   {"host": "s3.amazonaws.com", "date": "Wed, 28 Mar 2007 01:49:49 +0000"},
                   "DNEZGsoieTZ92F3bUfSPQcbGmlM=")

    def test_query_string_authentication(self):
        query = (f"AWSAccessKeyId={AWS_KEY}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
                 "&Expires=1175139620")
        headers = {"host": "johnsmith.s3.amazonaws.com"}
        verified = verify_request("GET", "/photos/puppy.jpg", query, headers,
                                  1175139620 - 60, bucket_host="johnsmith")
        self.assertTrue(verified.presigned)
        with self.assertRaises(errors.AccessDenied) as caught:
            verify_request("GET", "/photos/puppy.jpg", query, headers, 1175139621,
                           bucket_host="johnsmith")
        self.assertEqual(caught.exception.message, "Request has expired")

    def test_string_to_sign(self):
        """The canonical form, as the documentation spells it."""
        amz = sigv2.amz_headers({"x-amz-acl": "public-read",
                                 "x-amz-meta-checksumalgorithm": "crc32"}, "", False)
        self.assertEqual(
            sigv2.string_to_sign("PUT", "4gJE4saaMU4BqNR0kLY+lw==", "application/x-download",
                                 "Tue, 27 Mar 2007 21:06:08 +0000", amz,
                                 b"/static.johnsmith.net/db-backup.dat.gz"),
            b"PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n"
            b"Tue, 27 Mar 2007 21:06:08 +0000\nx-amz-acl:public-read\n"
            b"x-amz-meta-checksumalgorithm:crc32\n/static.johnsmith.net/db-backup.dat.gz")


def botocore_signed(method, url, headers=None, auth_path=None, presign_expires=None):
    """``(method, raw path, raw query, lower-case headers)`` of a request
    botocore signed with SigV2 (query auth when ``presign_expires``)."""
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    request.auth_path = auth_path
    credentials = Credentials(KEY, SECRET)
    if presign_expires is None:
        HmacV1Auth(credentials).add_auth(request)
    else:
        HmacV1QueryAuth(credentials, expires=presign_expires).add_auth(request)
    parts = urlsplit(request.url)
    sent = {name.lower(): value for name, value in request.headers.items()}
    if presign_expires is not None:
        # Query auth signs with these but sends them in the query.
        sent = {n: v for n, v in sent.items()
                if n not in ("date",) and not n.startswith("x-amz-")
                and n not in ("content-type", "content-md5")}
    sent.setdefault("host", parts.netloc)
    return method, parts.path, parts.query, sent


def verify_botocore(method, path, query, headers, bucket_host=None, now=None):
    return verify_request(method, path, query, headers, now or time.time(), secret=SECRET,
                          bucket_host=bucket_host)


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                min_size=1, max_size=40)
_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30)


class BotocoreOracleTests(TestCase):
    """Whatever botocore signs verifies; nothing else does."""

    def test_path_style_operations(self):
        base = "http://127.0.0.1:3900"
        for method, target, headers in [
            ("GET", "/", {}),
            ("GET", "/bk", {}),
            ("GET", "/bk?list-type=2&prefix=a%2Fb&max-keys=3", {}),
            ("PUT", "/bk/photos/a%20b.jpg", {"Content-Type": "image/jpeg",
                                              "x-amz-meta-who": "  me  ",
                                              "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
            ("PUT", "/bk/k?partNumber=2&uploadId=abc%2Bdef", {}),
            ("POST", "/bk/k?uploads", {}),
            ("DELETE", "/bk/k?versionId=0123abcd", {}),
            ("GET", "/bk/k?response-content-disposition=attachment%3B%20filename%3Dx%20y"
                    "&response-content-type=text%2Fplain", {}),
            ("PUT", "/bk/k?tagging", {"Content-MD5": "x"}),
            ("PUT", "/bk?object-lock", {}),
            ("POST", "/bk?delete", {}),
            ("PUT", "/bk/copy", {"x-amz-copy-source": "/bk/k",
                                 "x-amz-metadata-directive": "REPLACE"}),
        ]:
            m, path, query, sent = botocore_signed(method, base + target, headers)
            verified = verify_botocore(m, path, query, sent)
            self.assertEqual(verified.access_key, KEY, target)

    def test_bucket_auth_path_slash(self):
        """botocore signs "/bk/" for a path-style "/bk" (its auth_path)."""
        m, path, query, sent = botocore_signed("GET", "http://h/bk", auth_path="/bk/")
        self.assertEqual(path, "/bk")
        verify_botocore(m, path, query, sent)

    def test_virtual_host_style(self):
        m, path, query, sent = botocore_signed("GET", "http://bk.s3.example.org/a/b?acl",
                                               auth_path="/bk/a/b")
        verify_botocore(m, path, query, sent, bucket_host="bk")
        self.assertRaises(errors.SignatureDoesNotMatch, verify_botocore, m, path, query,
                          sent, bucket_host="other")
        m, path, query, sent = botocore_signed("GET", "http://bk.s3.example.org/",
                                               auth_path="/bk/")
        verify_botocore(m, path, query, sent, bucket_host="bk")

    def test_presigned(self):
        m, path, query, sent = botocore_signed("GET", "http://h/bk/a%20b?versionId=v1",
                                               presign_expires=60)
        verified = verify_botocore(m, path, query, sent)
        self.assertTrue(verified.presigned)
        self.assertRaises(errors.AccessDenied, verify_botocore, m, path, query, sent,
                          now=time.time() + 120)

    def test_presigned_headers_travel_in_the_query(self):
        """HmacV1QueryAuth moves x-amz-* and Content-Type into the query:
        they verify there, and become the request's headers."""
        m, path, query, sent = botocore_signed(
            "PUT", "http://h/bk/k", {"Content-Type": "text/x", "x-amz-meta-m": "v é"},
            presign_expires=60)
        self.assertIn("x-amz-meta-m=", query)
        verify_botocore(m, path, query, sent)
        self.assertEqual(sigv2.presigned_headers(sent, query),
                         {"content-type": "text/x",
                          "x-amz-meta-m": "v é".encode().decode("latin-1")})
        # The same header sent with another value is refused.
        self.assertRaises(errors.InvalidArgument, verify_botocore, m, path, query,
                          dict(sent, **{"x-amz-meta-m": "w"}))

    def test_copy_source_in_a_presigned_query_is_not_obeyed(self):
        m, path, query, sent = botocore_signed(
            "PUT", "http://h/bk/k", {"x-amz-copy-source": "/bk/secret"}, presign_expires=60)
        verify_botocore(m, path, query, sent)
        self.assertRaises(errors.NotImplemented, sigv2.presigned_headers, sent, query)

    @settings(max_examples=150, deadline=None)
    @given(key=_KEYS, meta=st.dictionaries(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
                                           _VALUES, max_size=3),
           sub=st.sampled_from(["", "acl", "tagging", "uploadId=u1&partNumber=3",
                                "versionId=v%2B1", "uploads", "response-expires=x"]),
           presign=st.booleans())
    def test_signed_verifies_and_tampering_does_not(self, key, meta, sub, presign):
        url = f"http://h/bk/{quote(key, safe='/~')}" + (f"?{sub}" if sub else "")
        headers = {f"x-amz-meta-{n}": v for n, v in meta.items()}
        m, path, query, sent = botocore_signed("PUT", url, headers,
                                               presign_expires=60 if presign else None)
        verify_botocore(m, path, query, sent)
        # An x-amz-* header added after signing.
        self.assertRaises(errors.SignatureDoesNotMatch, verify_botocore, m, path, query,
                          dict(sent, **{"x-amz-copy-source": "/bk/secret"}))
        # Another object.
        self.assertRaises(errors.SignatureDoesNotMatch, verify_botocore, m, path + "x",
                          query, sent)
        # Another method.
        self.assertRaises(errors.SignatureDoesNotMatch, verify_botocore, "DELETE", path,
                          query, sent)
        # Another version.
        self.assertRaises(errors.S3Error, verify_botocore, m, path,
                          query + "&versionId=other", sent)


class SubresourceTests(TestCase):
    """Query parameters that choose the operation must be signed."""

    def signed(self, method, path, resource, query, now=None):
        date = formatdate(now or time.time(), usegmt=True)
        data = f"{method}\n\n\n{date}\n".encode() + path.encode() + resource.encode()
        headers = {"date": date, "authorization": f"AWS {KEY}:{sigv2.sign(SECRET, data)}"}
        return method, path, query, headers

    def test_selector_left_unsigned_is_refused_by_name(self):
        """A client whose list lacks ?retention (AWS's own) signs without it:
        refused, naming it, not obeyed as a PutObject."""
        args = self.signed("PUT", "/bk/k", "", "retention")
        with self.assertRaises(errors.AccessDenied) as caught:
            verify_botocore(*args)
        self.assertEqual(caught.exception.extra, {"SubresourcesNotSigned": "retention"})
        args = self.signed("PUT", "/bk", "", "object-lock")
        self.assertRaises(errors.AccessDenied, verify_botocore, *args)

    def test_selector_signed_verifies(self):
        for resource in ("retention", "legal-hold", "object-lock", "encryption"):
            verify_botocore(*self.signed("PUT", "/bk/k", f"?{resource}", resource))

    def test_values_as_sent_and_bare_empty(self):
        """s3cmd signs values percent-encoded; some clients "?uploads" for
        "?uploads="."""
        verify_botocore(*self.signed("GET", "/bk/k", "?uploadId=a%2Bb", "uploadId=a%2Bb"))
        verify_botocore(*self.signed("POST", "/bk/k", "?uploads", "uploads="))

    def test_reencoded_path(self):
        verify_botocore(*self.signed("GET", "/bk/a%20b", "", ""))
        method, _, query, headers = self.signed("GET", "/bk/a%20b", "", "")
        verify_botocore(method, "/bk/a%20%62", query, headers)

    def test_listing_parameters_are_not_signed(self):
        method, path, _, headers = self.signed("GET", "/bk", "", "")
        verify_botocore(method, path, "prefix=x&list-type=2", headers)


class RefusalTests(TestCase):
    def test_time(self):
        now = time.time()
        data = f"GET\n\n\n{formatdate(now - 16 * 60, usegmt=True)}\n/bk".encode()
        headers = {"date": formatdate(now - 16 * 60, usegmt=True),
                   "authorization": f"AWS {KEY}:{sigv2.sign(SECRET, data)}"}
        self.assertRaises(errors.RequestTimeTooSkewed, verify_botocore, "GET", "/bk", "",
                          headers)
        with self.assertRaises(errors.AccessDenied) as caught:
            verify_botocore("GET", "/bk", "", {"authorization": f"AWS {KEY}:x"})
        self.assertIn("valid Date or x-amz-date", caught.exception.message)

    def test_x_amz_date_formats(self):
        self.assertEqual(sigv2.request_time({"x-amz-date": "20070327T193642Z"}),
                         _epoch("Tue, 27 Mar 2007 19:36:42 +0000"))
        self.assertEqual(sigv2.request_time({"x-amz-date": "Tue, 27 Mar 2007 19:36:42 GMT",
                                             "date": "garbage"}),
                         _epoch("Tue, 27 Mar 2007 19:36:42 +0000"))
        self.assertRaises(errors.AccessDenied, sigv2.request_time,
                          {"x-amz-date": "20071327T193642Z"})

    def test_malformed(self):
        for header in ("AWS ", "AWS nocolon", "AWS :sig", "AWS key:"):
            self.assertRaises(errors.InvalidArgument, sigv2.parse,
                              {"authorization": header}, "")
        for query in ("AWSAccessKeyId=k&Signature=s", "Signature=s&Expires=1",
                      "AWSAccessKeyId=k&Expires=1&Signature="):
            self.assertRaises(errors.AccessDenied, sigv2.parse, {}, query)
        with self.assertRaises(errors.AccessDenied) as caught:
            sigv2.parse({}, "AWSAccessKeyId=k&Signature=s&Expires=soon")
        self.assertIn("seconds since epoch", caught.exception.message)

    def test_detection(self):
        self.assertTrue(sigv2.is_sigv2({"authorization": "AWS k:s"}, ""))
        self.assertFalse(sigv2.is_sigv2({"authorization": "AWS4-HMAC-SHA256 x"}, ""))
        self.assertTrue(sigv2.is_sigv2({}, "AWSAccessKeyId=k&Expires=1&Signature=s"))
        self.assertFalse(sigv2.is_sigv2({}, "X-Amz-Signature=s"))
        self.assertFalse(sigv2.is_sigv2({}, "prefix=Signature"))

    def test_payload_modes(self):
        """Unsigned unless x-amz-content-sha256 (signed like every x-amz-*
        header) gives a digest; chunk signatures need SigV4."""
        digest = hashlib.sha256(b"x").hexdigest()
        date = formatdate(time.time(), usegmt=True)

        def verify(content_sha256):
            data = (f"PUT\n\n\n{date}\nx-amz-content-sha256:{content_sha256}\n/bk/k"
                    .encode())
            return verify_botocore("PUT", "/bk/k", "", {
                "date": date, "x-amz-content-sha256": content_sha256,
                "authorization": f"AWS {KEY}:{sigv2.sign(SECRET, data)}"})

        verified = verify(digest)
        self.assertEqual((verified.payload_mode, verified.content_sha256),
                         (PayloadMode.SHA256, digest))
        self.assertEqual(verify("UNSIGNED-PAYLOAD").payload_mode, PayloadMode.UNSIGNED)
        self.assertTrue(verify("STREAMING-UNSIGNED-PAYLOAD-TRAILER").is_streaming)
        self.assertRaises(errors.InvalidRequest, verify, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")


class PolicySignatureTests(TestCase):
    def test_policy_signature(self):
        policy = base64.b64encode(b'{"expiration": "2030-01-01T00:00:00Z"}').decode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), policy.encode(),
                                              hashlib.sha1).digest()).decode()
        sigv2.verify_policy(policy, signature, SECRET)
        self.assertRaises(errors.SignatureDoesNotMatch, sigv2.verify_policy, policy,
                          signature[::-1], SECRET)
        self.assertRaises(errors.SignatureDoesNotMatch, sigv2.verify_policy, policy + "x",
                          signature, SECRET)


class ConfigTests(TestCase):
    TEXT = ('metadata_dir = "/m"\ndata_dir = "/d"\nreplication_factor = 1\n'
            'rpc_secret = "' + "0" * 64 + '"\n'
            'rpc_bind_addr = "127.0.0.1:3901"\n[s3_api]\napi_bind_addr = "127.0.0.1:0"\n')

    def test_allow_sigv2(self):
        self.assertTrue(parse_config(self.TEXT, environ={}).s3_api.allow_sigv2)
        self.assertFalse(parse_config(self.TEXT + "allow_sigv2 = false\n",
                                      environ={}).s3_api.allow_sigv2)
        self.assertRaises(ConfigError, parse_config, self.TEXT + 'allow_sigv2 = "no"\n',
                          environ={})
