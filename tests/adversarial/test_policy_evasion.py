"""Ways around a bucket policy that must not work.

- Another name: a bucket answers to every global alias it has; a Deny
  written for one name must hold under the others (the request's resource
  is matched under each of the bucket's names).
- No signature: an anonymous request gets only what is granted to
  everyone; a grant to one key does not leak to anonymous callers.
- Headers nobody signed: a presigned GET link of a key the policy lets
  read ``team/`` does not become a write by adding headers.
"""

import json

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import in_thread, start_with_s3_client


class PolicyEvasionTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 1 << 20,
                                                                     bucket="first")
        helper = self.fixture.node.helper
        self.bucket_id = await helper.resolve_global_alias("first")
        await helper.set_global_alias(self.bucket_id, "second")
        for key in ("secret/s.txt", "open/o.txt"):
            await in_thread(self.s3.put_object, Bucket="first", Key=key, Body=key.encode())
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def status(self, method: str, path: str, **kwargs) -> int:
        response = await treq.request(method, self.fixture.endpoint + path, pool=self.pool,
                                      **kwargs)
        await treq.content(response)
        return response.code

    async def test_a_deny_holds_under_every_name_of_the_bucket(self):
        await in_thread(self.s3.put_bucket_policy, Bucket="first", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::first/*"},
                {"Sid": "Hide", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::first/secret/*"}]}))
        self.assertEqual(await self.status("GET", "/first/open/o.txt"), 200)
        self.assertEqual(await self.status("GET", "/second/open/o.txt"), 200)
        for name in ("first", "second"):
            self.assertEqual(await self.status("GET", f"/{name}/secret/s.txt"), 403, name)
            # The owner key too: an explicit Deny wins over its permission.
            with self.assertRaises(Exception):
                await in_thread(self.s3.get_object, Bucket=name, Key="secret/s.txt")

    async def test_a_grant_to_a_key_is_not_a_grant_to_anonymous(self):
        other = await self.fixture.create_key("other", allow_create_bucket=False)
        await in_thread(self.s3.put_bucket_policy, Bucket="first", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": [other.key_id]},
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::first", "arn:aws:s3:::first/*"]}]}))
        self.assertEqual(await self.status("GET", "/first/open/o.txt"), 403)
        self.assertEqual(await self.status("GET", "/first?list-type=2"), 403)
        self.assertEqual(await self.status("PUT", "/first/open/new", data=b"x"), 403)
        # A made-up signature naming the key is not the key.
        forged = {"Authorization": f"AWS4-HMAC-SHA256 Credential={other.key_id}/20261206/"
                                   "garage/s3/aws4_request, SignedHeaders=host, "
                                   "Signature=" + "0" * 64,
                  "x-amz-date": "20261206T000000Z", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        self.assertEqual(await self.status("GET", "/first/open/o.txt", headers=forged), 403)
        listed = await in_thread(self.s3.list_objects_v2, Bucket="first")
        self.assertNotIn("open/new", [o["Key"] for o in listed["Contents"]])

    async def test_a_read_link_does_not_write(self):
        """A presigned GET link of a key allowed to read by policy, sent as
        a PUT or with a copy source added, is refused (signature), and the
        policy's read grant writes nothing."""
        other = await self.fixture.create_key("reader", allow_create_bucket=False)
        await in_thread(self.s3.put_bucket_policy, Bucket="first", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": other.key_id}, "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::first/open/*"}]}))
        client = self.fixture.boto3_client(other)
        self.addCleanup(client.close)
        url = await in_thread(client.generate_presigned_url, "get_object",
                              Params={"Bucket": "first", "Key": "open/o.txt"}, ExpiresIn=60)
        path = url[len(self.fixture.endpoint):]
        self.assertEqual(await self.status("GET", path), 200)
        self.assertEqual(await self.status("PUT", path, data=b"overwritten"), 403)
        self.assertEqual(await self.status(
            "GET", path, headers={"x-amz-copy-source": "/first/secret/s.txt"}), 403)
        got = await in_thread(self.s3.get_object, Bucket="first", Key="open/o.txt")
        self.assertEqual(await in_thread(got["Body"].read), b"open/o.txt")
