"""Public and shared access against real nodes: bucket policies, canned ACLs,
PublicAccessBlock and anonymous requests (issue 26), each also through
another node of a three-node cluster."""

import json
import shutil
import subprocess

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import NodeFixture, in_thread

BUCKET = "shared"


def _public_prefix_policy(bucket: str, prefix: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"}]})


class AccessTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixtures, self.nodes = await start_cluster(self, count=3)
        self.owner = await self.fixtures[0].create_key("owner")
        self.reader = await self.fixtures[0].create_key("reader", allow_create_bucket=False)
        self.s3, self.s3_other = boto3_clients(self, self.fixtures[:2], self.owner)
        self.reader_s3, = boto3_clients(self, self.fixtures[1:2], self.reader)
        await self.call("create_bucket", Bucket=BUCKET)
        for key in ("public/a.txt", "public/b.txt", "private/c.txt", "team/d.txt",
                    "other/e.txt"):
            await self.call("put_object", Bucket=BUCKET, Key=key, Body=key.encode())
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def call(self, method, client=None, **kwargs):
        return await in_thread(getattr(client or self.s3, method), **kwargs)

    async def assertDenied(self, method, client, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, client, **kwargs)
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDenied", method)

    async def anonymous(self, path: str, node: int = 0, method: str = "GET"):
        """``(status, body)`` of an unsigned request to node ``node``."""
        url = self.fixtures[node].endpoint + path
        response = await treq.request(method, url, pool=self.pool)
        return response.code, await treq.content(response)

    async def test_anonymous_reads_where_a_policy_allows_only(self):
        """No policy: anonymous requests are refused. A policy making
        ``public/`` readable: anonymous GETs there work (curl-like, on every
        node), elsewhere 403; listing, writing and ListBuckets stay 403."""
        status, body = await self.anonymous(f"/{BUCKET}/public/a.txt")
        self.assertEqual(status, 403, body)
        await self.call("put_bucket_policy", Bucket=BUCKET,
                        Policy=_public_prefix_policy(BUCKET, "public/"))
        for node in range(3):
            self.assertEqual(await self.anonymous(f"/{BUCKET}/public/a.txt", node),
                             (200, b"public/a.txt"))
            status, body = await self.anonymous(f"/{BUCKET}/private/c.txt", node)
            self.assertEqual(status, 403)
            self.assertIn(b"<Code>AccessDenied</Code>", body)
        if shutil.which("curl") is not None:
            # As a user would fetch it (curl is in Debian's base tools).
            result = await in_thread(subprocess.run, [
                "curl", "-sS", "-w", "\n%{http_code}",
                f"{self.fixtures[1].endpoint}/{BUCKET}/public/b.txt"],
                capture_output=True, timeout=30)
            self.assertEqual(result.stdout, b"public/b.txt\n200")
        self.assertEqual((await self.anonymous(f"/{BUCKET}?list-type=2"))[0], 403)
        self.assertEqual((await self.anonymous("/"))[0], 403)
        self.assertEqual((await self.anonymous(f"/{BUCKET}/public/new", method="PUT"))[0],
                         403)
        status = await self.call("get_bucket_policy_status", Bucket=BUCKET)
        self.assertTrue(status["PolicyStatus"]["IsPublic"])
        self.assertEqual(json.loads((await self.call("get_bucket_policy", Bucket=BUCKET))
                                    ["Policy"])["Statement"][0]["Sid"], "PublicRead")

    async def test_public_access_block_turns_public_access_off_at_once(self):
        await self.call("put_bucket_policy", Bucket=BUCKET,
                        Policy=_public_prefix_policy(BUCKET, "public/"))
        self.assertEqual((await self.anonymous(f"/{BUCKET}/public/a.txt", 1))[0], 200)
        await self.call("put_public_access_block", Bucket=BUCKET,
                        PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
        for node in range(3):
            self.assertEqual((await self.anonymous(f"/{BUCKET}/public/a.txt", node))[0], 403)
        # BlockPublicPolicy refuses a new public policy; removing the block
        # restores access.
        await self.call("put_public_access_block", Bucket=BUCKET,
                        PublicAccessBlockConfiguration={"RestrictPublicBuckets": True,
                                                        "BlockPublicPolicy": True})
        await self.assertDenied("put_bucket_policy", None, Bucket=BUCKET,
                                Policy=_public_prefix_policy(BUCKET, "other/"))
        await self.call("delete_public_access_block", Bucket=BUCKET)
        self.assertEqual((await self.anonymous(f"/{BUCKET}/public/a.txt", 2))[0], 200)

    async def test_key_granted_read_only_on_a_prefix_by_policy(self):
        """A key without permissions on the bucket, allowed by policy to list
        and read ``team/``: it lists and reads there, nothing else."""
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "List", "Effect": "Allow", "Principal": {"AWS": [self.reader.key_id]},
             "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}",
             "Condition": {"StringLike": {"s3:prefix": "team/*"}}},
            {"Sid": "Read", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::123456789012:user/{self.reader.key_id}"},
             "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/team/*"}]}
        await self.call("put_bucket_policy", Bucket=BUCKET, Policy=json.dumps(policy))
        listed = await self.call("list_objects_v2", self.reader_s3, Bucket=BUCKET,
                                 Prefix="team/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["team/d.txt"])
        got = await self.call("get_object", self.reader_s3, Bucket=BUCKET, Key="team/d.txt")
        self.assertEqual(await in_thread(got["Body"].read), b"team/d.txt")
        await self.assertDenied("list_objects_v2", self.reader_s3, Bucket=BUCKET)
        await self.assertDenied("list_objects_v2", self.reader_s3, Bucket=BUCKET,
                                Prefix="other/")
        await self.assertDenied("get_object", self.reader_s3, Bucket=BUCKET,
                                Key="other/e.txt")
        await self.assertDenied("put_object", self.reader_s3, Bucket=BUCKET,
                                Key="team/new", Body=b"x")
        await self.assertDenied("delete_object", self.reader_s3, Bucket=BUCKET,
                                Key="team/d.txt")
        await self.assertDenied("get_bucket_policy", self.reader_s3, Bucket=BUCKET)

    async def test_explicit_deny_beats_the_owner_key(self):
        """A Deny of DeleteObject on ``public/*`` for everyone stops even
        the owner key (DeleteObjects per key too); elsewhere it deletes."""
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Keep", "Effect": "Deny", "Principal": "*",
             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
             "Resource": f"arn:aws:s3:::{BUCKET}/public/*"}]}
        await self.call("put_bucket_policy", Bucket=BUCKET, Policy=json.dumps(policy))
        await self.assertDenied("delete_object", self.s3_other, Bucket=BUCKET,
                                Key="public/a.txt")
        result = await self.call("delete_objects", Bucket=BUCKET, Delete={"Objects": [
            {"Key": "public/b.txt"}, {"Key": "other/e.txt"}]})
        self.assertEqual([d["Key"] for d in result["Deleted"]], ["other/e.txt"])
        self.assertEqual([(e["Key"], e["Code"]) for e in result["Errors"]],
                         [("public/b.txt", "AccessDenied")])
        await self.call("head_object", Bucket=BUCKET, Key="public/b.txt")
        await self.call("delete_bucket_policy", Bucket=BUCKET)
        await self.call("delete_object", Bucket=BUCKET, Key="public/a.txt")

    async def test_public_read_acl_on_one_object(self):
        """``x-amz-acl: public-read`` on PutObject makes that object, and
        only it, readable anonymously; GetObjectAcl shows it; the grant goes
        with PutObjectAcl private; IgnorePublicAcls voids it."""
        await self.call("put_object", Bucket=BUCKET, Key="shown.txt", Body=b"shown",
                        ACL="public-read")
        for node in range(3):
            self.assertEqual(await self.anonymous(f"/{BUCKET}/shown.txt", node),
                             (200, b"shown"))
        self.assertEqual((await self.anonymous(f"/{BUCKET}/public/a.txt"))[0], 403)
        grants = (await self.call("get_object_acl", Bucket=BUCKET, Key="shown.txt"))["Grants"]
        self.assertIn({"Grantee": {"Type": "Group",
                                   "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                       "Permission": "READ"}, grants)
        await self.call("put_public_access_block", Bucket=BUCKET,
                        PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
        self.assertEqual((await self.anonymous(f"/{BUCKET}/shown.txt"))[0], 403)
        await self.call("delete_public_access_block", Bucket=BUCKET)
        await self.call("put_object_acl", Bucket=BUCKET, Key="shown.txt", ACL="private")
        self.assertEqual((await self.anonymous(f"/{BUCKET}/shown.txt", 2))[0], 403)

    async def test_public_read_bucket_acl_lists_and_blocked_acls(self):
        await self.call("put_bucket_acl", Bucket=BUCKET, ACL="public-read")
        status, body = await self.anonymous(f"/{BUCKET}?list-type=2&prefix=public/")
        self.assertEqual(status, 200, body)
        self.assertIn(b"<Key>public/a.txt</Key>", body)
        # A bucket ACL lists, it does not read objects (AWS's mapping).
        self.assertEqual((await self.anonymous(f"/{BUCKET}/public/a.txt"))[0], 403)
        await self.call("put_public_access_block", Bucket=BUCKET,
                        PublicAccessBlockConfiguration={"BlockPublicAcls": True})
        await self.assertDenied("put_bucket_acl", None, Bucket=BUCKET, ACL="public-read")
        await self.assertDenied("put_object", None, Bucket=BUCKET, Key="x", Body=b"x",
                                ACL="public-read")
        await self.call("put_object", Bucket=BUCKET, Key="x", Body=b"x", ACL="private")

    async def test_unsupported_policy_and_grants_are_refused(self):
        with self.assertRaises(ClientError) as caught:
            await self.call("put_bucket_policy", Bucket=BUCKET, Policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "s3:*",
                    "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
        self.assertEqual(caught.exception.response["Error"]["Code"], "MalformedPolicy")
        with self.assertRaises(ClientError) as caught:
            await self.call("put_object", Bucket=BUCKET, Key="g", Body=b"g",
                            GrantRead='id="someone-else"')
        self.assertEqual(caught.exception.response["Error"]["Code"], "NotImplemented")
        with self.assertRaises(ClientError) as caught:
            await self.call("get_bucket_policy", Bucket=BUCKET)
        self.assertEqual(caught.exception.response["Error"]["Code"], "NoSuchBucketPolicy")


class WebsiteDenyTests(TestCase):
    """The website endpoint serves a bucket with a website as public (as
    Garage), except what the bucket's policy explicitly denies."""

    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(
            self, block_size=1 << 20,
            extra='[s3_web]\nbind_addr = "127.0.0.1:0"\nroot_domain = ".web.test"\n')
        key = await self.fixture.create_key()
        self.s3 = self.fixture.boto3_client(key)
        self.addCleanup(self.s3.close)
        await in_thread(self.s3.create_bucket, Bucket="site")
        await in_thread(self.s3.put_bucket_website, Bucket="site", WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"}})
        for key in ("index.html", "secret/x.html"):
            await in_thread(self.s3.put_object, Bucket="site", Key=key, Body=key.encode())
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def get(self, path: str) -> int:
        port = self.fixture.node.web_listener.port
        response = await treq.get(f"http://127.0.0.1:{port}{path}",
                                  headers={"Host": "site"}, pool=self.pool)
        await treq.content(response)
        return response.code

    async def test_a_deny_statement_closes_part_of_a_website(self):
        self.assertEqual((await self.get("/"), await self.get("/secret/x.html")), (200, 200))
        await in_thread(self.s3.put_bucket_policy, Bucket="site", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "Hide", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::site/secret/*"}]}))
        self.assertEqual((await self.get("/"), await self.get("/secret/x.html")), (200, 403))


class VirtualHostAnonymousTests(TestCase):
    """Anonymous requests addressed virtual-host style (``bucket.root``)
    are decided as path-style ones."""

    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self, block_size=1 << 20,
                                               s3_extra='root_domain = ".s3.test"')
        key = await self.fixture.create_key()
        self.s3 = self.fixture.boto3_client(key)
        self.addCleanup(self.s3.close)
        await in_thread(self.s3.create_bucket, Bucket="vhost")
        for name in ("public/p", "private/q"):
            await in_thread(self.s3.put_object, Bucket="vhost", Key=name, Body=b"x")
        await in_thread(self.s3.put_bucket_policy, Bucket="vhost",
                        Policy=_public_prefix_policy("vhost", "public/"))
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def status(self, path: str) -> int:
        response = await treq.get(self.fixture.endpoint + path,
                                  headers={"Host": "vhost.s3.test"}, pool=self.pool)
        await treq.content(response)
        return response.code

    async def test_public_prefix_by_virtual_host(self):
        self.assertEqual((await self.status("/public/p"), await self.status("/private/q")),
                         (200, 403))
