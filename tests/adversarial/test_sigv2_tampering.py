"""A SigV2 signature covers what the request does, and only while it is
fresh (issue 26).

Someone who sees a SigV2 request or link (a log, a proxy, a shared URL) may
replay it, add headers or query parameters to it. Each attempt here is
refused and changes nothing: an ``x-amz-*`` header or query parameter added
(``x-amz-copy-source`` would turn an upload link into a copy of any object
the key can read), an expired link, a request older than 15 minutes, and a
sub-resource added that the client's SigV2 list does not sign
(``?object-lock`` would turn a signed ``PUT /bucket`` into locking the
bucket for good; ``?versionId`` a delete marker into a permanent delete).
"""

import base64
import hashlib
import hmac
import time
from email.utils import formatdate

import treq
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import in_thread, start_with_s3_client

SECRET = b"the other bucket's secret"


class SigV2TamperingTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="bkt1")
        await in_thread(self.s3.create_bucket, Bucket="bkt2")
        await in_thread(self.s3.put_object, Bucket="bkt1", Key="secret.txt", Body=SECRET)
        self.credentials = Credentials(self.key.key_id, self.key.params.secret_key)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    def url(self, path):
        return f"{self.fixture.endpoint}{path}"

    async def send(self, method, url, headers=None, data=None):
        response = await treq.request(method, url, headers=headers, data=data,
                                      pool=self.pool)
        return response.code, await treq.content(response)

    def signed_headers(self, method, path, headers=None):
        request = AWSRequest(method=method, url=self.url(path), headers=headers or {})
        HmacV1Auth(self.credentials).add_auth(request)
        return dict(request.headers.items())

    def presigned(self, method, path, expires=300):
        request = AWSRequest(method=method, url=self.url(path))
        HmacV1QueryAuth(self.credentials, expires=expires).add_auth(request)
        return request.url

    def signed_by_hand(self, method, path, resource, date):
        """Signed as a client whose sub-resource list lacks what the request
        carries: over ``path + resource`` only."""
        data = f"{method}\n\n\n{date}\n{path}{resource}".encode()
        signature = base64.b64encode(hmac.new(self.key.params.secret_key.encode(), data,
                                              hashlib.sha1).digest()).decode()
        return {"Date": date, "Authorization": f"AWS {self.key.key_id}:{signature}"}

    async def assertAbsent(self, bucket, key):
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.head_object, Bucket=bucket, Key=key)
        self.assertEqual(caught.exception.response["Error"]["Code"], "404")

    async def test_copy_source_added_to_an_upload_link(self):
        url = self.presigned("PUT", "/bkt2/target")
        code, body = await self.send("PUT", url, {"x-amz-copy-source": "/bkt1/secret.txt"},
                                     b"mine")
        self.assertEqual(code, 403, body)
        self.assertIn(b"SignatureDoesNotMatch", body)
        code, body = await self.send("PUT", url + "&x-amz-copy-source=/bkt1/secret.txt",
                                     data=b"mine")
        self.assertEqual(code, 403, body)
        await self.assertAbsent("bkt2", "target")
        # The link itself still works, as an upload.
        code, body = await self.send("PUT", url, data=b"mine")
        self.assertEqual(code, 200, body)

    async def test_header_added_to_a_signed_request(self):
        headers = self.signed_headers("PUT", "/bkt2/target")
        code, body = await self.send("PUT", self.url("/bkt2/target"),
                                     dict(headers, **{"x-amz-copy-source": "/bkt1/secret.txt"}),
                                     b"mine")
        self.assertEqual(code, 403, body)
        self.assertIn(b"SignatureDoesNotMatch", body)
        await self.assertAbsent("bkt2", "target")

    async def test_expired_link_replayed(self):
        url = self.presigned("GET", "/bkt1/secret.txt", expires=-1)
        code, body = await self.send("GET", url)
        self.assertEqual(code, 403)
        self.assertIn(b"Request has expired", body)
        self.assertNotIn(SECRET, body)

    async def test_old_request_replayed(self):
        date = formatdate(time.time() - 20 * 60, usegmt=True)
        headers = self.signed_by_hand("GET", "/bkt1/secret.txt", "", date)
        code, body = await self.send("GET", self.url("/bkt1/secret.txt"), headers)
        self.assertEqual(code, 403)
        self.assertIn(b"RequestTimeTooSkewed", body)
        self.assertNotIn(SECRET, body)

    async def test_object_lock_added_to_a_signed_put_bucket(self):
        """A replayed CreateBucket (200 for its owner) with ?object-lock
        and a configuration body is not PutObjectLockConfiguration."""
        await in_thread(self.s3.put_bucket_versioning, Bucket="bkt2",
                        VersioningConfiguration={"Status": "Enabled"})
        date = formatdate(time.time(), usegmt=True)
        headers = self.signed_by_hand("PUT", "/bkt2", "", date)
        config = (b'<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>'
                  b'<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>100</Years>'
                  b'</DefaultRetention></Rule></ObjectLockConfiguration>')
        code, body = await self.send("PUT", self.url("/bkt2?object-lock"), headers, config)
        self.assertEqual(code, 403, body)
        self.assertIn(b"<SubresourcesNotSigned>object-lock</SubresourcesNotSigned>", body)
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.get_object_lock_configuration, Bucket="bkt2")
        self.assertEqual(caught.exception.response["Error"]["Code"],
                         "ObjectLockConfigurationNotFoundError")

    async def test_version_added_to_a_signed_delete(self):
        """A signed DELETE (a delete marker) replayed with ?versionId does
        not delete that version for good."""
        await in_thread(self.s3.put_bucket_versioning, Bucket="bkt1",
                        VersioningConfiguration={"Status": "Enabled"})
        put = await in_thread(self.s3.put_object, Bucket="bkt1", Key="doc", Body=b"v1")
        headers = self.signed_headers("DELETE", "/bkt1/doc")
        code, body = await self.send(
            "DELETE", self.url(f"/bkt1/doc?versionId={put['VersionId']}"), headers)
        self.assertEqual(code, 403, body)
        got = await in_thread(self.s3.get_object, Bucket="bkt1", Key="doc",
                              VersionId=put["VersionId"])
        self.assertEqual(await in_thread(got["Body"].read), b"v1")
