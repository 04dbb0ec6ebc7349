"""Nothing is obeyed that was not signed (issue 22, defect 1).

A header-signed request or a presigned URL with an ``x-amz-*`` header its
signature does not cover is refused (403 AccessDenied, the unsigned names in
``HeadersNotSigned``) before anything is done: once, an unsigned
``x-amz-copy-source`` turned a signed PUT (or an upload link) into a copy of
any object the key could read. A browser POST form obeys only fields its
signed policy allows, in the bucket the policy names.
"""

import hashlib

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support import signer
from tests.support.node import in_thread, start_with_s3_client

SECRET = b"the other bucket's secret"


class UnsignedHeaderTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="bkt1")
        await in_thread(self.s3.create_bucket, Bucket="bkt2")
        await in_thread(self.s3.put_object, Bucket="bkt1", Key="secret.txt", Body=SECRET)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    def url(self, bucket="bkt2", key="target"):
        return f"{self.fixture.endpoint}/{bucket}/{key}"

    async def send(self, method, url, headers, data=None):
        response = await treq.request(method, url, headers=headers, data=data,
                                      pool=self.pool)
        return response.code, await treq.content(response)

    async def signed_put(self, body, signed_headers=None, unsigned_headers=None):
        """A PUT of ``body`` to bkt2/target, signed over ``signed_headers``
        only; ``unsigned_headers`` are added after signing."""
        headers, *_ = signer.sign("PUT", self.url(), self.key.key_id,
                                  self.key.params.secret_key, "garage",
                                  hashlib.sha256(body).hexdigest(), signed_headers)
        headers.update(unsigned_headers or {})
        return await self.send("PUT", self.url(), headers, body)

    def assertRefusedUnsigned(self, code, body, *names):
        self.assertEqual(code, 403, body)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertIn(b"There were headers present in the request which were not signed",
                      body)
        self.assertIn(f"<HeadersNotSigned>{', '.join(names)}</HeadersNotSigned>".encode(),
                      body)

    async def assertTargetAbsent(self):
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.head_object, Bucket="bkt2", Key="target")
        self.assertEqual(caught.exception.response["Error"]["Code"], "404")

    async def test_unsigned_copy_source_on_header_auth(self):
        """A PUT signed with its body, sent with an unsigned x-amz-copy-source,
        copies nothing: 403 and the target does not exist."""
        code, body = await self.signed_put(
            b"mine", unsigned_headers={"x-amz-copy-source": "/bkt1/secret.txt"})
        self.assertRefusedUnsigned(code, body, "x-amz-copy-source")
        await self.assertTargetAbsent()

    async def test_unsigned_copy_source_on_presigned_put(self):
        """An upload link (signing only host) is not a copy link."""
        url = signer.presign("PUT", self.url(), self.key.key_id,
                             self.key.params.secret_key, "garage", 300)
        code, body = await self.send("PUT", url,
                                     {"x-amz-copy-source": "/bkt1/secret.txt"}, b"mine")
        self.assertRefusedUnsigned(code, body, "x-amz-copy-source")
        await self.assertTargetAbsent()
        # The same link without the extra header still uploads.
        code, body = await self.send("PUT", url, {}, b"mine")
        self.assertEqual(code, 200, body)

    async def test_unsigned_metadata_and_acl_headers(self):
        """Unsigned x-amz-meta-* and x-amz-acl are refused, each named; signed
        ones are stored."""
        code, body = await self.signed_put(
            b"mine", unsigned_headers={"x-amz-meta-owner": "mallory",
                                       "x-amz-acl": "public-read"})
        self.assertRefusedUnsigned(code, body, "x-amz-acl", "x-amz-meta-owner")
        await self.assertTargetAbsent()
        code, body = await self.signed_put(
            b"mine", signed_headers={"x-amz-meta-owner": "alice"})
        self.assertEqual(code, 200, body)
        head = await in_thread(self.s3.head_object, Bucket="bkt2", Key="target")
        self.assertEqual(head["Metadata"], {"owner": "alice"})

    async def test_unsigned_header_on_presigned_get(self):
        """A GET link with an unsigned x-amz-* header is refused too."""
        url = signer.presign("GET", self.url("bkt1", "secret.txt"), self.key.key_id,
                             self.key.params.secret_key, "garage", 300)
        code, body = await self.send(
            "GET", url, {"x-amz-server-side-encryption-customer-algorithm": "AES256"})
        self.assertRefusedUnsigned(code, body,
                                   "x-amz-server-side-encryption-customer-algorithm")
        code, body = await self.send("GET", url, {})
        self.assertEqual((code, body), (200, SECRET))


class PostFormTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="drop")
        await in_thread(self.s3.create_bucket, Bucket="private")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def post(self, url, fields, body=b"x"):
        response = await treq.post(url, data=list(fields.items()),
                                   files={"file": ("f", "text/plain", body)},
                                   pool=self.pool, allow_redirects=False)
        return response.code, await treq.content(response)

    async def count(self, bucket):
        listed = await in_thread(self.s3.list_objects_v2, Bucket=bucket)
        return listed["KeyCount"]

    async def test_field_not_in_the_policy(self):
        """A form field no policy condition allows is refused; nothing is
        written."""
        post = await in_thread(self.s3.generate_presigned_post, Bucket="drop", Key="k",
                               ExpiresIn=300)
        for name, value in (("x-amz-meta-owner", "mallory"),
                            ("x-amz-storage-class", "STANDARD"),
                            ("success_action_status", "201"),
                            ("content-type", "text/html")):
            code, body = await self.post(post["url"], dict(post["fields"], **{name: value}))
            self.assertEqual(code, 403, (name, body))
            self.assertIn(b"<Code>AccessDenied</Code>", body)
            self.assertIn(b"Extra input fields: " + name.encode(), body)
        # x-ignore-* fields are exempt, as on AWS.
        code, body = await self.post(post["url"],
                                     dict(post["fields"], **{"x-ignore-note": "hi"}))
        self.assertEqual(code, 204, body)
        self.assertEqual(await self.count("drop"), 1)

    async def test_policy_for_one_bucket_does_not_open_another(self):
        """A policy whose condition names bucket "drop" does not write into
        another bucket the key can write, whatever the form's bucket field."""
        post = await in_thread(self.s3.generate_presigned_post, Bucket="drop", Key="k",
                               ExpiresIn=300)
        other = f"{self.fixture.endpoint}/private"
        code, body = await self.post(other, post["fields"])
        self.assertEqual(code, 403, body)
        code, body = await self.post(other, dict(post["fields"], bucket="drop"))
        self.assertEqual(code, 400, body)
        self.assertIn(b"<Code>InvalidArgument</Code>", body)
        self.assertEqual(await self.count("private"), 0)
        code, body = await self.post(post["url"], post["fields"])
        self.assertEqual(code, 204, body)
