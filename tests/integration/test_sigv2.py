"""SigV2 against a real node: boto3 with ``signature_version="s3"``
(botocore's HmacV1Auth / HmacV1QueryAuth), s3cmd with ``signature_v2 =
True``, ``s3cmd signurl`` links fetched with curl, browser POST forms with a
SigV2 policy, virtual-host style, and ``[s3_api] allow_sigv2 = false``."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import treq
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import HTTPConnectionPool

from garage_twisted.api.s3.auth import SIGV2_DISABLED, SIGV2_REFUSED
from tests.support.node import NodeFixture, in_thread

S3CMD = os.path.join(os.path.dirname(os.path.abspath(__import__("sys").executable)), "s3cmd")


class _Node(NodeFixture):
    """A node with extra ``[s3_api]`` lines."""

    s3_api_lines = ""

    def admin_section(self) -> str:
        # The template puts this right after [s3_api]'s own keys.
        return self.s3_api_lines + super().admin_section()


class _VirtualHostNode(_Node):
    s3_api_lines = 'root_domain = ".s3.test"\n'


class _SigV2OffNode(_Node):
    s3_api_lines = "allow_sigv2 = false\n"


def sigv2_policy(secret, conditions, expires_in=timedelta(minutes=10)):
    """``(base64 policy, signature)`` as AWS's SigV2 POST guide builds them."""
    expiration = datetime.now(timezone.utc) + expires_in
    policy = base64.b64encode(json.dumps({
        "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": conditions}).encode())
    signature = base64.b64encode(hmac.new(secret.encode(), policy, hashlib.sha1).digest())
    return policy.decode(), signature.decode()


class _Base(TestCase):
    timeout = 120
    node_class = _Node

    async def setUp(self):
        self.fixture = await self.node_class.start(self, block_size=64 * 1024)
        self.key = await self.fixture.create_key()
        self.s3 = self.fixture.boto3_client(self.key)
        self.addCleanup(self.s3.close)
        await in_thread(self.s3.create_bucket, Bucket="bkt")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    def v2_client(self):
        client = self.fixture.boto3_client(self.key, signature_version="s3")
        self.addCleanup(client.close)
        return client

    async def send(self, method, url, headers=None, data=None):
        response = await treq.request(method, url, headers=headers, data=data,
                                      pool=self.pool)
        return response, await treq.content(response)

    async def post_form(self, bucket, fields, body=b"bar", filename="f.txt"):
        response = await treq.post(f"{self.fixture.endpoint}/{bucket}",
                                   data=list(fields.items()),
                                   files={"file": (filename, "text/plain", body)},
                                   pool=self.pool, allow_redirects=False)
        return response.code, await treq.content(response)

    async def read(self, key, bucket="bkt"):
        got = await in_thread(self.s3.get_object, Bucket=bucket, Key=key)
        return got, await in_thread(got["Body"].read)


class Boto3SigV2Tests(_Base):
    async def test_object_operations(self):
        s3 = self.v2_client()
        body = os.urandom(100_000)
        await in_thread(s3.put_object, Bucket="bkt", Key="dir/a b+é.bin", Body=body,
                        ContentType="application/x-test", Metadata={"who": "me"})
        got = await in_thread(s3.get_object, Bucket="bkt", Key="dir/a b+é.bin",
                              Range="bytes=10-19", ResponseContentType="text/odd")
        self.assertEqual(await in_thread(got["Body"].read), body[10:20])
        self.assertEqual(got["ContentType"], "text/odd")
        head = await in_thread(s3.head_object, Bucket="bkt", Key="dir/a b+é.bin")
        self.assertEqual((head["Metadata"], head["ContentLength"]), ({"who": "me"}, 100_000))
        await in_thread(s3.copy_object, Bucket="bkt", Key="copy",
                        CopySource={"Bucket": "bkt", "Key": "dir/a b+é.bin"})
        listed = await in_thread(s3.list_objects_v2, Bucket="bkt", Prefix="dir/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["dir/a b+é.bin"])
        listed = await in_thread(s3.list_objects, Bucket="bkt")
        self.assertEqual(len(listed["Contents"]), 2)
        await in_thread(s3.put_object_tagging, Bucket="bkt", Key="copy",
                        Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})
        tags = await in_thread(s3.get_object_tagging, Bucket="bkt", Key="copy")
        self.assertEqual(tags["TagSet"], [{"Key": "t", "Value": "v"}])
        await in_thread(s3.delete_objects, Bucket="bkt",
                        Delete={"Objects": [{"Key": "copy"}, {"Key": "dir/a b+é.bin"}]})
        listed = await in_thread(s3.list_objects_v2, Bucket="bkt")
        self.assertEqual(listed["KeyCount"], 0)
        buckets = await in_thread(s3.list_buckets)
        self.assertEqual([b["Name"] for b in buckets["Buckets"]], ["bkt"])

    async def test_multipart(self):
        s3 = self.v2_client()
        upload = await in_thread(s3.create_multipart_upload, Bucket="bkt", Key="mp")
        parts = [os.urandom(5 * 1024 * 1024), b"tail"]
        etags = []
        for number, data in enumerate(parts, 1):
            part = await in_thread(s3.upload_part, Bucket="bkt", Key="mp", PartNumber=number,
                                   UploadId=upload["UploadId"], Body=data)
            etags.append({"PartNumber": number, "ETag": part["ETag"]})
        listed = await in_thread(s3.list_parts, Bucket="bkt", Key="mp",
                                 UploadId=upload["UploadId"])
        self.assertEqual(len(listed["Parts"]), 2)
        await in_thread(s3.complete_multipart_upload, Bucket="bkt", Key="mp",
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags})
        _, data = await self.read("mp")
        self.assertEqual(data, b"".join(parts))

    async def test_wrong_secret_and_unknown_key(self):
        for key_id, secret, code in ((self.key.key_id, "wrong", "SignatureDoesNotMatch"),
                                     ("GK" + "0" * 24, "x", "InvalidAccessKeyId")):
            client = self.fixture.boto3_client(self.key, signature_version="s3")
            self.addCleanup(client.close)
            client._request_signer._credentials = Credentials(key_id, secret)
            with self.assertRaises(ClientError) as caught:
                await in_thread(client.head_bucket, Bucket="bkt")
            self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"],
                             403)
            with self.assertRaises(ClientError) as caught:
                await in_thread(client.get_object, Bucket="bkt", Key="k")
            self.assertEqual(caught.exception.response["Error"]["Code"], code)

    async def test_presigned_get_and_put(self):
        s3 = self.v2_client()
        await in_thread(self.s3.put_object, Bucket="bkt", Key="a b", Body=b"shared")
        url = await in_thread(s3.generate_presigned_url, "get_object",
                              Params={"Bucket": "bkt", "Key": "a b"}, ExpiresIn=300)
        self.assertIn("AWSAccessKeyId=", url)
        response, content = await self.send("GET", url)
        self.assertEqual((response.code, content), (200, b"shared"))
        # An upload link whose Content-Type and metadata travel in its query
        # (botocore puts them there): they are signed, so they are obeyed.
        url = await in_thread(s3.generate_presigned_url, "put_object",
                              Params={"Bucket": "bkt", "Key": "up", "ContentType": "text/x",
                                      "Metadata": {"m": "v"}}, ExpiresIn=300)
        response, content = await self.send("PUT", url, data=b"uploaded")
        self.assertEqual(response.code, 200, content)
        head = await in_thread(self.s3.head_object, Bucket="bkt", Key="up")
        self.assertEqual((head["ContentType"], head["Metadata"]), ("text/x", {"m": "v"}))

    async def test_unsigned_selector_is_refused(self):
        """botocore's SigV2 signer leaves ?legal-hold out of what it signs:
        refused 403 naming it, rather than obeyed unsigned."""
        s3 = self.v2_client()
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.put_object_legal_hold, Bucket="bkt", Key="k",
                            LegalHold={"Status": "ON"})
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDenied")
        self.assertIn("legal-hold", caught.exception.response["Error"]["Message"])


class _S3cmd:
    """s3cmd with ``signature_v2 = True`` against the test's node."""

    def __init__(self, testcase):
        if not os.path.exists(S3CMD):
            raise SkipTest("s3cmd is not installed (pip install .[smoke])")
        self.testcase = testcase
        self.work = os.path.abspath(testcase.mktemp())
        os.makedirs(self.work)
        host = testcase.fixture.endpoint.split("//", 1)[1]
        self.config = os.path.join(self.work, "s3cmd.cfg")
        with open(self.config, "w") as f:
            f.write(f"[default]\naccess_key = {testcase.key.key_id}\n"
                    f"secret_key = {testcase.key.params.secret_key}\n"
                    f"host_base = {host}\nhost_bucket = {host}\nbucket_location = garage\n"
                    "use_https = False\nsignature_v2 = True\n")

    async def run(self, *args):
        """``(stdout, stderr)`` of a successful run."""
        result = await in_thread(subprocess.run, [S3CMD, "-c", self.config, *args],
                                 capture_output=True, timeout=60,
                                 env=dict(os.environ, HOME=self.work))
        if result.returncode != 0:
            self.testcase.fail(f"s3cmd {' '.join(args)}: {result.returncode}\n"
                               f"{result.stdout.decode()}\n{result.stderr.decode()}")
        return result.stdout.decode(), result.stderr.decode()


class S3cmdTests(_Base):
    async def setUp(self):
        await super().setUp()
        self.client = _S3cmd(self)
        self.work = self.client.work

    async def s3cmd(self, *args):
        stdout, _ = await self.client.run(*args)
        return stdout

    def local(self, name, data):
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    async def test_put_get_ls_cp_del(self):
        small, big = os.urandom(1000), os.urandom(6 * 1024 * 1024)
        await self.s3cmd("put", self.local("small", small), "s3://bkt/dir/small file")
        await self.s3cmd("put", "--multipart-chunk-size-mb=5", self.local("big", big),
                         "s3://bkt/dir/big")
        out = os.path.join(self.work, "out")
        await self.s3cmd("get", "--force", "s3://bkt/dir/small file", out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), small)
        await self.s3cmd("get", "--force", "s3://bkt/dir/big", out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), big)
        await self.s3cmd("cp", "s3://bkt/dir/small file", "s3://bkt/copied")
        listed = await self.s3cmd("ls", "s3://bkt/dir/")
        self.assertIn("s3://bkt/dir/small file", listed)
        self.assertIn("s3://bkt/dir/big", listed)
        await self.s3cmd("del", "s3://bkt/dir/small file")
        listed = await self.s3cmd("ls", "-r", "s3://bkt")
        self.assertNotIn("small file", listed)
        self.assertIn("s3://bkt/copied", listed)
        _, data = await self.read("copied")
        self.assertEqual(data, small)
        await self.s3cmd("mb", "s3://made-by-s3cmd")
        self.assertIn("s3://made-by-s3cmd", await self.s3cmd("ls"))
        # SigV2 it was, with no fallback to SigV4.
        _, debug = await self.client.run("--debug", "ls", "s3://bkt")
        self.assertIn("Using signature v2", debug)
        self.assertNotIn("signature v4", debug)

    async def test_signurl_fetched_with_curl(self):
        await in_thread(self.s3.put_object, Bucket="bkt", Key="shared file", Body=b"hello")
        url = (await self.s3cmd("signurl", "s3://bkt/shared file", "+300")).strip()
        self.assertIn("Signature=", url)
        response, content = await self.send("GET", url)
        self.assertEqual((response.code, content), (200, b"hello"))
        if shutil.which("curl") is None:
            raise SkipTest("curl is not installed")
        result = await in_thread(subprocess.run, ["curl", "-sS", "-w", "\n%{http_code}", url],
                                 capture_output=True, timeout=30)
        self.assertEqual(result.stdout, b"hello\n200")
        # The same link for another object is refused.
        response, content = await self.send("GET", url.replace("shared%20file", "other"))
        self.assertEqual(response.code, 403)
        self.assertIn(b"SignatureDoesNotMatch", content)


class VirtualHostTests(_Base):
    node_class = _VirtualHostNode

    async def test_botocore_signed_virtual_host_request(self):
        await in_thread(self.s3.put_object, Bucket="bkt", Key="a/b", Body=b"vhost")
        port = self.fixture.node.s3_listener.port
        for path, auth_path, expected in (("/a/b", "/bkt/a/b", b"vhost"),
                                          ("/?list-type=2", "/bkt/", b"<Key>a/b</Key>")):
            request = AWSRequest(method="GET", url=f"http://bkt.s3.test:{port}{path}")
            request.auth_path = auth_path
            HmacV1Auth(Credentials(self.key.key_id, self.key.params.secret_key)).add_auth(
                request)
            headers = dict(request.headers.items(), Host=f"bkt.s3.test:{port}")
            response, content = await self.send(
                "GET", f"http://127.0.0.1:{port}{path}", headers=headers)
            self.assertEqual(response.code, 200, content)
            self.assertIn(expected, content)


class PostPolicyTests(_Base):
    """Browser uploads with a SigV2 policy, and each way one is refused."""

    def form(self, key="uploads/${filename}", conditions=None, secret=None, access_key=None,
             expires_in=timedelta(minutes=10), **fields):
        conditions = conditions if conditions is not None else [
            {"bucket": "bkt"}, ["starts-with", "$key", "uploads/"], {"acl": "private"},
            ["starts-with", "$Content-Type", "text/"], ["content-length-range", 1, 1024]]
        policy, signature = sigv2_policy(secret or self.key.params.secret_key, conditions,
                                         expires_in)
        return {"key": key, "AWSAccessKeyId": access_key or self.key.key_id,
                "acl": "private", "signature": signature, "policy": policy,
                "Content-Type": "text/plain", **fields}

    async def assertRefused(self, status, code, fields, bucket="bkt", body=b"bar"):
        got, content = await self.post_form(bucket, fields, body)
        self.assertEqual(got, status, content)
        self.assertIn(f"<Code>{code}</Code>".encode(), content)
        listed = await in_thread(self.s3.list_objects_v2, Bucket="bkt")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_upload(self):
        status, content = await self.post_form("bkt", self.form(), filename="cat.txt")
        self.assertEqual(status, 204, content)
        got, data = await self.read("uploads/cat.txt")
        self.assertEqual((data, got["ContentType"]), (b"bar", "text/plain"))

    async def test_expired(self):
        await self.assertRefused(403, "AccessDenied",
                                 self.form(expires_in=timedelta(minutes=-1)))

    async def test_wrong_bucket(self):
        await in_thread(self.s3.create_bucket, Bucket="other")
        await self.assertRefused(403, "AccessDenied", self.form(), bucket="other")
        listed = await in_thread(self.s3.list_objects_v2, Bucket="other")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_key_outside_starts_with(self):
        await self.assertRefused(403, "AccessDenied", self.form(key="elsewhere/x"))

    async def test_size_outside_content_length_range(self):
        await self.assertRefused(400, "EntityTooLarge", self.form(), body=b"x" * 1025)
        await self.assertRefused(400, "EntityTooSmall", self.form(), body=b"")

    async def test_field_without_condition(self):
        await self.assertRefused(403, "AccessDenied",
                                 self.form(**{"x-amz-meta-extra": "not in the policy"}))

    async def test_condition_without_field(self):
        conditions = [{"bucket": "bkt"}, ["starts-with", "$key", "uploads/"],
                      {"acl": "private"}, ["starts-with", "$Content-Type", "text/"],
                      ["starts-with", "$x-amz-meta-foo", "bar"]]
        await self.assertRefused(403, "AccessDenied", self.form(conditions=conditions))

    async def test_bad_signature(self):
        fields = self.form()
        fields["signature"] = fields["signature"][::-1]
        await self.assertRefused(403, "SignatureDoesNotMatch", fields)
        await self.assertRefused(403, "SignatureDoesNotMatch", self.form(secret="wrong"))

    async def test_unknown_access_key(self):
        await self.assertRefused(403, "InvalidAccessKeyId",
                                 self.form(access_key="GK" + "0" * 24))

    async def test_missing_signature(self):
        fields = self.form()
        del fields["signature"]
        await self.assertRefused(400, "InvalidArgument", fields)


class SigV2DisabledTests(_Base):
    node_class = _SigV2OffNode

    async def test_refused_with_400_sigv4_served(self):
        await in_thread(self.s3.put_object, Bucket="bkt", Key="k", Body=b"v4")
        s3 = self.v2_client()
        with self.assertRaises(ClientError) as caught:
            await in_thread(s3.get_object, Bucket="bkt", Key="k")
        error = caught.exception.response
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(error["Error"]["Code"], "InvalidRequest")
        self.assertEqual(error["Error"]["Message"], SIGV2_REFUSED)
        self.assertEqual(error["Error"]["Detail"], SIGV2_DISABLED)
        url = await in_thread(s3.generate_presigned_url, "get_object",
                              Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=300)
        response, content = await self.send("GET", url)
        self.assertEqual(response.code, 400)
        self.assertIn(b"allow_sigv2 = false", content)
        policy, signature = sigv2_policy(self.key.params.secret_key,
                                         [{"bucket": "bkt"}, {"key": "posted"}])
        status, content = await self.post_form("bkt", {
            "key": "posted", "AWSAccessKeyId": self.key.key_id, "policy": policy,
            "signature": signature})
        self.assertEqual(status, 400)
        self.assertIn(b"allow_sigv2 = false", content)
        _, data = await self.read("k")
        self.assertEqual(data, b"v4")

    async def test_s3cmd_switches_to_sigv4(self):
        """AWS's words for a refused SigV2 make s3cmd sign with SigV4."""
        client = _S3cmd(self)
        await in_thread(self.s3.put_object, Bucket="bkt", Key="k", Body=b"v4")
        stdout, debug = await client.run("--debug", "ls", "s3://bkt")
        self.assertIn("s3://bkt/k", stdout)
        self.assertIn("Endpoint requires signature v4", debug)
