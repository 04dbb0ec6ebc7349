"""Bucket policies through the admin API (Put/Get/DeleteBucketPolicy, ours:
Garage has no policies) against a real node whose bucket is also used
through S3: GetBucketInfo says whether the bucket is public and why, a
policy is checked as S3's PutBucketPolicy checks it, and the admin API,
unbound by the policy, undoes one that locks every key out."""

import json

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import in_thread, start_with_s3_client

BLOCK = 1 << 20
BUCKET = "pol"


def public_read(prefix: str, bucket: str = BUCKET, sid: str = "PublicRead") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"}]}, indent=2)


DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "NobodyAnything", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]})


class AdminPolicyTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.client = await start_with_s3_client(self, BLOCK, BUCKET)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.bucket_id = (await self.fixture.node.helper.resolve_global_alias(BUCKET)).hex()
        await self.s3("put_object", Key="public/a.txt", Body=b"a")
        await self.s3("put_object", Key="private/b.txt", Body=b"b")

    async def admin(self, name, query=None, body=None, raw=None):
        url = f"{self.fixture.admin_url}/v2/{name}"
        headers = {b"authorization": [f"Bearer {self.fixture.admin_token}".encode()]}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        method = "POST" if data is not None else "GET"
        response = await treq.request(method, url, params=query, headers=headers, data=data,
                                      pool=self.pool)
        content = await treq.content(response)
        return response.code, (json.loads(content) if content.strip() else None)

    async def put(self, text, bucket_id=None):
        return await self.admin("PutBucketPolicy", {"id": bucket_id or self.bucket_id},
                                {"policy": text})

    async def info(self) -> dict:
        code, info = await self.admin("GetBucketInfo", {"id": self.bucket_id})
        self.assertEqual(code, 200, info)
        return info

    async def s3(self, method, **kwargs):
        return await in_thread(getattr(self.client, method), Bucket=BUCKET, **kwargs)

    async def s3_refused(self, method, **kwargs) -> str:
        with self.assertRaises(ClientError) as caught:
            await self.s3(method, **kwargs)
        return caught.exception.response["Error"]["Code"]

    async def anonymous_get(self, key: str) -> int:
        response = await treq.get(f"{self.fixture.endpoint}/{BUCKET}/{key}", pool=self.pool)
        await treq.content(response)
        return response.code

    async def test_info_of_a_bucket_without_rules(self):
        """A new bucket: no policy, ACL nor PublicAccessBlock, not public."""
        info = await self.info()
        self.assertEqual((info["policy"], info["acl"], info["publicAccessBlock"]),
                         (None, None, None))
        self.assertEqual(info["public"], {"isPublic": False, "reasons": []})

    async def test_put_get_delete(self):
        """A public policy put by the admin API is the bucket's, byte for byte
        (admin and S3 GetBucketPolicy), makes it public (with the statement
        as the reason) and serves anonymous reads; deleting it undoes all
        that, and deleting it again is no error."""
        text = public_read("public/")
        code, info = await self.put(text)
        self.assertEqual(code, 200, info)
        self.assertEqual(info["policy"], text)
        self.assertTrue(info["public"]["isPublic"])
        self.assertEqual(info["public"]["reasons"], [
            "bucket policy statement 'PublicRead' allows s3:GetObject to everyone"])
        self.assertEqual(await self.admin("GetBucketPolicy", {"id": self.bucket_id}),
                         (200, {"id": self.bucket_id, "policy": text}))
        self.assertEqual((await self.s3("get_bucket_policy"))["Policy"], text)
        self.assertEqual(await self.anonymous_get("public/a.txt"), 200)
        self.assertEqual(await self.anonymous_get("private/b.txt"), 403)
        self.assertEqual((await self.info())["public"]["isPublic"], True)

        code, info = await self.admin("DeleteBucketPolicy", {"id": self.bucket_id}, {})
        self.assertEqual(code, 200, info)
        self.assertIsNone(info["policy"])
        self.assertEqual(info["public"], {"isPublic": False, "reasons": []})
        self.assertEqual(await self.anonymous_get("public/a.txt"), 403)
        code, error = await self.admin("GetBucketPolicy", {"id": self.bucket_id})
        self.assertEqual((code, error["code"]), (404, "NoSuchBucketPolicy"))
        self.assertEqual(await self.s3_refused("get_bucket_policy"), "NoSuchBucketPolicy")
        code, info = await self.admin("DeleteBucketPolicy", {"id": self.bucket_id}, {})
        self.assertEqual((code, info["policy"]), (200, None))

    async def test_a_policy_put_through_s3_shows(self):
        await self.s3("put_bucket_policy", Policy=public_read("", sid="Everything"))
        info = await self.info()
        self.assertEqual(json.loads(info["policy"])["Statement"][0]["Sid"], "Everything")
        self.assertEqual(info["public"]["reasons"], [
            "bucket policy statement 'Everything' allows s3:GetObject to everyone"])

    async def test_refused_policies_change_nothing(self):
        """What S3's PutBucketPolicy refuses, the admin API refuses with 400
        MalformedPolicy naming it; a wrong body is 400 BadRequest; an unknown
        bucket 404. The policy in place stays."""
        kept = public_read("public/")
        await self.put(kept)
        statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{BUCKET}/*"}
        malformed = [
            ("{not json", "invalid Json"),
            (json.dumps({"Statement": [dict(statement, NotPrincipal={"AWS": "*"})]}),
             "NotPrincipal is not supported"),
            (json.dumps({"Statement": [dict(statement, Condition={
                "ArnLike": {"aws:SourceArn": "arn:aws:sns:*"}})]}),
             "Condition operator ArnLike is not supported"),
            (json.dumps({"Statement": [dict(statement, Condition={
                "StringEquals": {"aws:PrincipalOrgID": "o-1"}})]}),
             "Condition key aws:PrincipalOrgID is not supported"),
            (json.dumps({"Statement": [dict(statement, Action="ec2:RunInstances")]}),
             "ec2:RunInstances"),
            (json.dumps({"Statement": [dict(statement, Resource="arn:aws:s3:::other/*")]}),
             "invalid resource"),
            (json.dumps({"Statement": [dict(statement, Principal={
                "AWS": "GK" + "0" * 24})]}), "no access key GK" + "0" * 24),
            ("{" + " " * (41 * 1024) + "}", "20 KB"),
        ]
        for text, named in malformed:
            code, error = await self.put(text)
            self.assertEqual((code, (error or {}).get("code")), (400, "MalformedPolicy"),
                             f"{text[:80]}: {error}")
            self.assertIn(named.lower(), error["message"].lower(), text[:80])
        for body in ({}, {"policy": json.loads(kept)}, {"policy": None}, {"policy": 3}):
            code, error = await self.admin("PutBucketPolicy", {"id": self.bucket_id}, body)
            self.assertEqual((code, error["code"]), (400, "BadRequest"), body)
            self.assertIn('{"policy": "<the policy document>"}', error["message"])
        code, error = await self.admin("PutBucketPolicy", {"id": self.bucket_id},
                                       raw=b'{"policy": "{\\"Statement\\": \\"\\ud800\\"}"}')
        self.assertEqual((code, error["code"]), (400, "MalformedPolicy"))
        code, error = await self.admin("PutBucketPolicy", {}, {"policy": kept})
        self.assertEqual((code, error["code"]), (400, "BadRequest"))
        code, error = await self.put(kept, bucket_id="ab" * 32)
        self.assertEqual((code, error["code"]), (404, "NoSuchBucket"))
        code, error = await self.admin("GetBucketPolicy", {"id": "nothex"})
        self.assertEqual((code, error["code"]), (400, "BadRequest"))
        self.assertEqual((await self.info())["policy"], kept)

    async def test_a_named_key_is_accepted(self):
        """A policy naming an existing key (plain id or an ARN form) is put,
        and is not public."""
        reader = await self.fixture.create_key("reader", allow_create_bucket=False)
        text = json.dumps({"Statement": [{
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
            "Principal": {"AWS": [reader.key_id, f"arn:aws:iam::{reader.key_id}:root"]},
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/team/*"]}]})
        code, info = await self.put(text)
        self.assertEqual(code, 200, info)
        self.assertEqual(info["public"], {"isPublic": False, "reasons": []})

    async def test_public_access_block(self):
        """GetBucketInfo shows the PublicAccessBlock flags; BlockPublicPolicy
        refuses a public policy (409, saying why) but not a private one;
        RestrictPublicBuckets and IgnorePublicAcls hold back what would make
        the bucket public, and GetBucketInfo says so."""
        await self.s3("put_bucket_acl", ACL="public-read")
        info = await self.info()
        self.assertEqual(info["acl"], "public-read")
        self.assertEqual(info["public"]["reasons"],
                         ["bucket ACL public-read lets everyone list it"])
        await self.put(public_read("public/"))
        self.assertEqual(len((await self.info())["public"]["reasons"]), 2)
        await self.admin("DeleteBucketPolicy", {"id": self.bucket_id}, {})

        await self.s3("put_public_access_block", PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False})
        info = await self.info()
        self.assertEqual(info["publicAccessBlock"], {
            "blockPublicAcls": False, "ignorePublicAcls": True, "blockPublicPolicy": True,
            "restrictPublicBuckets": False})
        self.assertEqual(info["public"], {"isPublic": False, "reasons": []})
        code, error = await self.put(public_read("public/"))
        self.assertEqual((code, error["code"]), (409, "InvalidBucketState"))
        self.assertIn("BlockPublicPolicy", error["message"])
        self.assertIn("'PublicRead'", error["message"])
        self.assertIsNone((await self.info())["policy"])
        code, info = await self.put(DENY_ALL)
        self.assertEqual(code, 200, info)

    async def test_restrict_public_buckets_holds_a_public_policy_back(self):
        await self.put(public_read("public/"))
        await self.s3("put_public_access_block", PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True})
        info = await self.info()
        self.assertEqual(info["public"], {"isPublic": False, "reasons": []})
        self.assertEqual(await self.anonymous_get("public/a.txt"), 403)

    async def test_the_way_out_of_a_lockout(self):
        """A policy denying everyone everything refuses the owner key every S3
        request, its own DeleteBucketPolicy included; the admin API still
        reads the bucket and deletes the policy, and the owner key acts
        again through S3."""
        code, info = await self.put(DENY_ALL)
        self.assertEqual(code, 200, info)
        self.assertEqual(info["public"], {"isPublic": False, "reasons": []})
        for method, kwargs in (("get_object", {"Key": "public/a.txt"}),
                               ("put_object", {"Key": "new", "Body": b"n"}),
                               ("list_objects_v2", {}),
                               ("get_bucket_policy", {}),
                               ("delete_bucket_policy", {}),
                               ("put_bucket_policy", {"Policy": public_read("")})):
            self.assertEqual(await self.s3_refused(method, **kwargs), "AccessDenied", method)
        code, got = await self.admin("GetBucketPolicy", {"id": self.bucket_id})
        self.assertEqual((code, got["policy"]), (200, DENY_ALL))
        self.assertEqual((await self.info())["objects"], 2)

        code, info = await self.admin("DeleteBucketPolicy", {"id": self.bucket_id}, {})
        self.assertEqual((code, info["policy"]), (200, None))
        await self.s3("put_object", Key="new", Body=b"n")
        body = await self.s3("get_object", Key="new")
        self.assertEqual(await in_thread(body["Body"].read), b"n")
        self.assertEqual((await self.s3("list_objects_v2"))["KeyCount"], 3)
