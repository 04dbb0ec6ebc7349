"""The S3 wire, exactly (issue 23, items 3, 4 and 6) against a real node.

- Presigned links live 1 to 604800 seconds: any other ``X-Amz-Expires``
  (zero, negative, beyond a week, not an integer) is 403 AccessDenied, and
  an expired presigned PUT stores nothing.
- ``x-amz-meta-*`` values come back as the bytes sent: a Latin-1 byte, UTF-8
  bytes, an RFC 2047 encoded-word; through PutObject, CopyObject,
  CreateMultipartUpload and browser POST forms. Raw HTTP (Python's
  http.client, which puts ``str`` header values on the wire as Latin-1)
  sends and reads the exact bytes; boto3 hides them.
- A request target that is not UTF-8 once percent-decoded is 400 InvalidURI,
  on the S3 endpoint and on the website endpoint.
"""

import hashlib
import http.client
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from twisted.trial.unittest import TestCase

from tests.support import signer
from tests.support.node import NodeFixture, in_thread, start_with_s3_client

BUCKET = "exact"
WEB = '[s3_web]\nbind_addr = "127.0.0.1:0"\nroot_domain = ".web.test"\n'


def fetch(method, url, body=b"", headers=None):
    """``(status, body)`` of one plain HTTP request (blocking: call it in a
    thread)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class _RawS3(TestCase):
    """A node, a key, its boto3 client, and raw HTTP with exact header bytes."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024, BUCKET)
        self.port = self.fixture.node.s3_listener.port

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    async def raw(self, method, path, headers=None, body=b"", sign=True, host=None):
        """``(status, [(name, value bytes)], body)`` of one request sent
        with http.client; ``headers`` are ``str`` put on the wire (and signed)
        as Latin-1, so ``"\\xe9"`` is the byte 0xE9 and UTF-8 is given as its
        bytes decoded as Latin-1."""
        headers = dict(headers or {})
        if host is not None:
            headers["host"] = host
        if sign:
            headers, *_ = signer.sign(method, self.url(path), self.key.key_id,
                                      self.key.params.secret_key, "garage",
                                      hashlib.sha256(body).hexdigest(), headers,
                                      charset="latin-1")
            if host is not None:
                headers["host"] = host

        def send():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                # http.client reads header values as Latin-1: encoding them
                # back gives the bytes received.
                return (response.status,
                        [(n.lower(), v.encode("latin-1")) for n, v in response.getheaders()],
                        data)
            finally:
                connection.close()

        return await in_thread(send)

    def header(self, headers, name):
        values = [v for n, v in headers if n == name]
        return values[0] if values else None

    async def assertObjectAbsent(self, key):
        bucket_id = await self.fixture.node.helper.resolve_global_alias(BUCKET)
        obj = await self.fixture.node.model.object_table.get(bucket_id, key.encode())
        self.assertTrue(obj is None or not obj.versions, obj)


class PresignedLimitTests(_RawS3):
    async def presigned(self, method, key, expires):
        """A link signed with ``X-Amz-Expires=expires``. botocore's classic
        signer put any ExpiresIn in the link; with awscrt installed (our
        CRC dependency), boto3 signs with CRT, which refuses out-of-range
        values itself: so the links are made by the tests' own signer."""
        http_method = {"get_object": "GET", "put_object": "PUT"}[method]
        return signer.presign(http_method, self.url(f"/{BUCKET}/{key}"), self.key.key_id,
                              self.key.params.secret_key, "garage", expires)

    async def get(self, url):
        return await in_thread(fetch, "GET", url)

    async def test_expires_outside_one_second_to_a_week_is_access_denied(self):
        """Links with X-Amz-Expires 0, -7, 604801 and 609901 are refused 403
        AccessDenied with AWS's words; 1, 100000 and 604800 work."""
        await in_thread(self.s3.put_object, Bucket=BUCKET, Key="foo", Body=b"bar")
        refused = {0: b"Request has expired", -7: b"X-Amz-Expires must be non-negative",
                   604801: b"X-Amz-Expires must be less than a week",
                   609901: b"X-Amz-Expires must be less than a week"}
        for expires, message in refused.items():
            status, body = await self.get(await self.presigned("get_object", "foo", expires))
            self.assertEqual(status, 403, (expires, body))
            self.assertIn(b"<Code>AccessDenied</Code>", body)
            self.assertIn(message, body)
        for expires in (1, 100000, 604800):
            answer = await self.get(await self.presigned("get_object", "foo", expires))
            self.assertEqual(answer, (200, b"bar"), expires)

    async def test_expires_not_an_integer_is_access_denied(self):
        """A correctly signed link whose X-Amz-Expires is not an integer
        (``abc``, ``1.5``, ``+60``, empty) is 403 AccessDenied."""
        await in_thread(self.s3.put_object, Bucket=BUCKET, Key="foo", Body=b"bar")
        for expires in ("abc", "1.5", "+60", ""):
            url = signer.presign("GET", self.url(f"/{BUCKET}/foo"), self.key.key_id,
                                 self.key.params.secret_key, "garage", expires)
            status, body = await self.get(url)
            self.assertEqual(status, 403, (expires, body))
            self.assertIn(b"<Code>AccessDenied</Code>", body)
            self.assertIn(b"X-Amz-Expires should be a number", body)

    async def test_expired_presigned_put_writes_nothing(self):
        """Presigned PUTs that expired (signed an hour ago for a minute;
        X-Amz-Expires -1000; 0) answer 403 AccessDenied and store
        neither an object nor a block, even for a multi-block body."""
        body = bytes(range(256)) * (3 * 1024 * 4)  # 3 MiB: 48 blocks
        stale = signer.presign("PUT", self.url(f"/{BUCKET}/late"), self.key.key_id,
                               self.key.params.secret_key, "garage", 60,
                               when=datetime.now(timezone.utc) - timedelta(hours=1))
        urls = {stale: b"Request has expired",
                await self.presigned("put_object", "late", 0): b"Request has expired",
                await self.presigned("put_object", "late", -1000):
                    b"X-Amz-Expires must be non-negative"}
        for url, message in urls.items():
            status, answer = await in_thread(fetch, "PUT", url, body)
            self.assertEqual(status, 403, answer)
            self.assertIn(b"<Code>AccessDenied</Code>", answer)
            self.assertIn(message, answer)
        await self.assertObjectAbsent("late")
        self.assertEqual(list(self.fixture.node.block_manager.store.iter_block_hashes()), [])
        good = await self.presigned("put_object", "late", 60)
        status, answer = await in_thread(fetch, "PUT", good, body)
        self.assertEqual(status, 200, answer)


class MetadataBytesTests(_RawS3):
    # Values as the bytes on the wire (decoded as Latin-1 to be str).
    LATIN1 = "Hello World\xe9"  # the single byte 0xE9
    UTF8 = "caf\u00e9 \u20ac".encode("utf-8").decode("latin-1")
    RFC2047 = "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="

    META = {"x-amz-meta-latin": LATIN1, "x-amz-meta-utf": UTF8,
            "x-amz-meta-rfc": RFC2047}

    def assertMetaBytes(self, headers, expected=None):
        for name, value in (expected or self.META).items():
            self.assertEqual(self.header(headers, name), value.encode("latin-1"), name)

    async def assertRoundTrip(self, key, expected=None):
        for method in ("GET", "HEAD"):
            status, headers, _ = await self.raw(method, f"/{BUCKET}/{key}")
            self.assertEqual(status, 200)
            self.assertMetaBytes(headers, expected)

    async def test_put_then_get_and_head_give_the_bytes_sent(self):
        """PutObject with a Latin-1 byte, UTF-8 bytes and an RFC 2047 word:
        GetObject and HeadObject answer the same bytes."""
        status, _, body = await self.raw("PUT", f"/{BUCKET}/k", self.META, b"data")
        self.assertEqual(status, 200, body)
        await self.assertRoundTrip("k")

    async def test_boto3_reads_what_it_wrote(self):
        """boto3 reads back ASCII and RFC 2047 values as it set them."""
        meta = {"plain": "value", "rfc": self.RFC2047}
        await in_thread(self.s3.put_object, Bucket=BUCKET, Key="b", Body=b"x", Metadata=meta)
        head = await in_thread(self.s3.head_object, Bucket=BUCKET, Key="b")
        self.assertEqual(head["Metadata"], meta)

    async def test_copy_keeps_or_replaces_the_bytes(self):
        """CopyObject keeps the source's bytes (COPY) or stores the request's
        (REPLACE), exactly."""
        await self.raw("PUT", f"/{BUCKET}/src", self.META, b"data")
        status, _, body = await self.raw("PUT", f"/{BUCKET}/copied",
                                         {"x-amz-copy-source": f"/{BUCKET}/src"})
        self.assertEqual(status, 200, body)
        await self.assertRoundTrip("copied")
        replaced = {"x-amz-meta-new": "na\xefve"}
        status, _, body = await self.raw("PUT", f"/{BUCKET}/replaced", {
            "x-amz-copy-source": f"/{BUCKET}/src",
            "x-amz-metadata-directive": "REPLACE", **replaced})
        self.assertEqual(status, 200, body)
        await self.assertRoundTrip("replaced", replaced)

    async def test_multipart_upload_keeps_the_bytes(self):
        """CreateMultipartUpload's metadata is the completed object's, byte
        for byte."""
        status, _, body = await self.raw("POST", f"/{BUCKET}/mpu?uploads", self.META)
        self.assertEqual(status, 200, body)
        upload_id = body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
        part = await in_thread(self.s3.upload_part, Bucket=BUCKET, Key="mpu",
                               UploadId=upload_id, PartNumber=1, Body=b"part")
        await in_thread(self.s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu",
                        UploadId=upload_id,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
        await self.assertRoundTrip("mpu")

    async def test_post_form_fields_keep_their_bytes(self):
        """A browser POST's ``x-amz-meta-*`` form fields (UTF-8, as browsers
        send them, and bytes that are not UTF-8) come back as those bytes."""
        utf8 = "caf\u00e9 \u20ac".encode("utf-8")
        not_utf8 = b"Hello World\xe9"
        post = await in_thread(self.s3.generate_presigned_post, Bucket=BUCKET, Key="posted",
                               Conditions=[["starts-with", "$x-amz-meta-utf", ""],
                                           ["starts-with", "$x-amz-meta-latin", ""]])
        fields = dict(post["fields"])
        boundary = b"----exactness"
        parts = [(name.encode(), value.encode()) for name, value in fields.items()]
        parts += [(b"x-amz-meta-utf", utf8), (b"x-amz-meta-latin", not_utf8)]
        body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                        % (boundary, name, value) for name, value in parts)
        body += (b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n"
                 b"Content-Type: text/plain\r\n\r\nform body\r\n--%s--\r\n"
                 % (boundary, boundary))
        path = urlsplit(post["url"]).path
        status, _, answer = await self.raw(
            "POST", path, {"content-type": f"multipart/form-data; boundary={boundary.decode()}"},
            body, sign=False)
        self.assertEqual(status, 204, answer)
        await self.assertRoundTrip("posted", {"x-amz-meta-utf": utf8.decode("latin-1"),
                                              "x-amz-meta-latin": not_utf8.decode("latin-1")})


class InvalidUriTests(_RawS3):
    async def assertInvalidUri(self, method, path, **kwargs):
        status, _, body = await self.raw(method, path, **kwargs)
        self.assertEqual(status, 400, body)
        self.assertIn(b"<Code>InvalidURI</Code>", body)
        self.assertIn(b"<Message>Couldn&apos;t parse the specified URI.</Message>"
                      if b"&apos;" in body else
                      b"<Message>Couldn't parse the specified URI.</Message>", body)

    async def test_key_not_utf8_is_invalid_uri(self):
        """GET, PUT and DELETE of key ``%AE%8A-`` answer 400
        InvalidURI, signed or not, and store nothing."""
        for method in ("GET", "PUT", "DELETE"):
            await self.assertInvalidUri(method, f"/{BUCKET}/%AE%8A-",
                                        body=b"x" if method == "PUT" else b"")
        await self.assertInvalidUri("GET", f"/{BUCKET}/%AE%8A-", sign=False)
        await self.assertInvalidUri("GET", "/%FF%FE/key")
        self.assertEqual(list(self.fixture.node.block_manager.store.iter_block_hashes()), [])

    async def test_query_not_utf8_is_invalid_uri(self):
        """A listing whose prefix is not UTF-8 once decoded is 400 InvalidURI,
        not a 500."""
        await self.assertInvalidUri("GET", f"/{BUCKET}?list-type=2&prefix=%AE%8A")

    async def test_utf8_keys_still_work(self):
        """A key that is UTF-8 once decoded (``é``) is stored and read."""
        status, _, _ = await self.raw("PUT", f"/{BUCKET}/%C3%A9", body=b"e")
        self.assertEqual(status, 200)
        status, _, body = await self.raw("GET", f"/{BUCKET}/%C3%A9")
        self.assertEqual((status, body), (200, b"e"))


class WebsiteInvalidUriTests(TestCase):
    timeout = 60

    async def test_website_key_not_utf8_is_400(self):
        """On the website endpoint, a path not UTF-8 once decoded is a 400
        page, not the site's 404 document; a UTF-8 path is served."""
        fixture = await NodeFixture.start(self, block_size=64 * 1024, extra=WEB)
        s3 = fixture.boto3_client(await fixture.create_key())
        self.addCleanup(s3.close)
        await in_thread(s3.create_bucket, Bucket="site")
        for name, body in (("\u00e9.html", b"accent"), ("404.html", b"custom not found")):
            await in_thread(s3.put_object, Bucket="site", Key=name, Body=body,
                            ContentType="text/html")
        await in_thread(s3.put_bucket_website, Bucket="site", WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
        web = f"http://127.0.0.1:{fixture.node.web_listener.port}"

        async def get(path):
            return await in_thread(fetch, "GET", web + path, headers={"Host": "site.web.test"})

        status, body = await get("/%AE%8A-")
        self.assertEqual(status, 400, body)
        self.assertIn(b"Couldn't parse the specified URI.", body)
        self.assertEqual(await get("/%C3%A9.html"), (200, b"accent"))
        self.assertEqual(await get("/missing"), (404, b"custom not found"))
