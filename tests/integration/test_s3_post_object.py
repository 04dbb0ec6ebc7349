"""Browser POST uploads: policies built the way SDKs build them (boto3's
generate_presigned_post) and by hand, sent as multipart/form-data."""

import base64
import hashlib
import hmac
import json
import os
from datetime import datetime, timedelta, timezone

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import in_thread, start_with_s3_client
from tests.support.signer import signing_key


class PostObjectTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="drop")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def presigned(self, key, fields=None, conditions=None):
        return await in_thread(self.s3.generate_presigned_post, Bucket="drop", Key=key,
                               Fields=fields, Conditions=conditions, ExpiresIn=300)

    async def post(self, url, fields, filename, body, content_type="image/jpeg", headers=None):
        response = await treq.post(url, data=list(fields.items()),
                                   files={"file": (filename, content_type, body)},
                                   headers=headers, pool=self.pool, allow_redirects=False)
        return response, await treq.content(response)

    async def get(self, key):
        got = await in_thread(self.s3.get_object, Bucket="drop", Key=key)
        return got, await in_thread(got["Body"].read)

    async def test_sdk_policy_with_filename_and_length_range(self):
        post = await self.presigned("uploads/${filename}", conditions=[
            ["starts-with", "$key", "uploads/"], ["content-length-range", 1, 1_000_000]])
        body = os.urandom(200_000)
        response, _ = await self.post(post["url"], post["fields"], "cat é.jpg", body)
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders("etag"),
                         [f'"{hashlib.md5(body).hexdigest()}"'])
        got, data = await self.get("uploads/cat é.jpg")
        self.assertEqual(data, body)
        self.assertEqual(got["ContentType"], "image/jpeg")

    async def test_status_201_and_redirect(self):
        post = await self.presigned("a.txt", fields={"success_action_status": "201"},
                                    conditions=[{"success_action_status": "201"}])
        response, content = await self.post(post["url"], post["fields"], "a.txt", b"hello",
                                            "text/plain")
        self.assertEqual(response.code, 201)
        self.assertIn(b"<Key>a.txt</Key>", content)
        post = await self.presigned("b.txt", fields={
            "success_action_redirect": "https://app.example/done?x=1"},
            conditions=[["starts-with", "$success_action_redirect", "https://app.example/"]])
        response, _ = await self.post(post["url"], post["fields"], "b.txt", b"hi", "text/plain")
        self.assertEqual(response.code, 303)
        location = response.headers.getRawHeaders("location")[0]
        self.assertTrue(location.startswith("https://app.example/done?x=1&bucket=drop&key=b.txt"))
        _, data = await self.get("b.txt")
        self.assertEqual(data, b"hi")

    async def test_refusals_write_nothing(self):
        post = await self.presigned("small", conditions=[["content-length-range", 1, 10]])
        response, content = await self.post(post["url"], post["fields"], "f", b"x" * 100)
        self.assertEqual(response.code, 400)
        self.assertIn(b"EntityTooLarge", content)
        post = await self.presigned("tampered")
        fields = dict(post["fields"], key="elsewhere")
        response, content = await self.post(post["url"], fields, "f", b"x")
        self.assertEqual(response.code, 403)
        fields = dict(post["fields"], **{"x-amz-signature": "0" * 64})
        response, content = await self.post(post["url"], fields, "f", b"x")
        self.assertIn(b"SignatureDoesNotMatch", content)
        fields = dict(post["fields"], **{"x-amz-meta-extra": "not in the policy"})
        response, content = await self.post(post["url"], fields, "f", b"x")
        self.assertEqual(response.code, 403)
        self.assertIn(b"Extra input fields", content)
        listed = await in_thread(self.s3.list_objects_v2, Bucket="drop")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_encryption_asked_is_never_stored_in_clear(self):
        """A form asking for SSE-KMS or SSE-C is refused (501), not stored."""
        for field, value in (("x-amz-server-side-encryption", "aws:kms"),
                             ("x-amz-server-side-encryption-customer-algorithm", "AES256")):
            post = await self.presigned("enc", fields={field: value},
                                        conditions=[{field: value}])
            response, content = await self.post(post["url"], post["fields"], "f", b"x")
            self.assertEqual(response.code, 501, field)
            self.assertIn(b"NotImplemented", content)
        listed = await in_thread(self.s3.list_objects_v2, Bucket="drop")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_expired_policy_built_by_hand(self):
        now = datetime.now(timezone.utc)
        date = now.strftime("%Y%m%d")
        credential = f"{self.key.key_id}/{date}/garage/s3/aws4_request"
        policy = base64.b64encode(json.dumps({
            "expiration": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [{"bucket": "drop"}, {"key": "late"},
                           {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                           {"x-amz-credential": credential},
                           {"x-amz-date": now.strftime("%Y%m%dT%H%M%SZ")}],
        }).encode()).decode()
        key = signing_key(self.key.params.secret_key, date, "garage")
        fields = {"key": "late", "x-amz-algorithm": "AWS4-HMAC-SHA256",
                  "x-amz-credential": credential, "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
                  "policy": policy,
                  "x-amz-signature": hmac.new(key, policy.encode(), "sha256").hexdigest()}
        response, content = await self.post(f"{self.fixture.endpoint}/drop", fields, "f", b"x")
        self.assertEqual(response.code, 403)
        self.assertIn(b"Policy expired", content)

    async def test_cors_headers_on_the_answer(self):
        await in_thread(self.s3.put_bucket_cors, Bucket="drop", CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["https://app.example"],
                           "AllowedMethods": ["POST"]}]})
        post = await self.presigned("c")
        response, _ = await self.post(post["url"], post["fields"], "c", b"1",
                                      headers={"Origin": "https://app.example"})
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders("access-control-allow-origin"),
                         ["https://app.example"])
        with self.assertRaises(ClientError):
            await in_thread(self.s3.get_object, Bucket="drop", Key="missing")
