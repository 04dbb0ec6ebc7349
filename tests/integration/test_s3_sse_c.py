"""SSE-C through boto3: encrypted at rest, readable only with the key."""

import hashlib
import os

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread, start_with_s3_client

KEY = os.urandom(32)
OTHER = os.urandom(32)


def sse(key=KEY):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


class SseCTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="secret")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def code(self, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        return int(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"])

    async def test_put_get_and_range_with_the_key_only(self):
        for key, body in (("small", b"secret note"), ("large", os.urandom(300_000))):
            put = await self.call("put_object", Bucket="secret", Key=key, Body=body, **sse())
            self.assertNotEqual(put["ETag"].strip('"'), hashlib.md5(body).hexdigest())
            got = await self.call("get_object", Bucket="secret", Key=key, **sse())
            self.assertEqual(await in_thread(got["Body"].read), body)
            self.assertEqual(got["SSECustomerAlgorithm"], "AES256")
            got = await self.call("get_object", Bucket="secret", Key=key, Range="bytes=3-7",
                                  **sse())
            self.assertEqual(await in_thread(got["Body"].read), body[3:8])
            head = await self.call("head_object", Bucket="secret", Key=key, **sse())
            self.assertEqual(head["ContentLength"], len(body))
            self.assertEqual(await self.code("get_object", Bucket="secret", Key=key), 400)
            self.assertEqual(await self.code("get_object", Bucket="secret", Key=key,
                                             **sse(OTHER)), 400)
        # The bytes on disk are not the plain ones.
        for hash_ in self.fixture.node._block_store.iter_block_hashes():
            stored = self.fixture.node._block_store.read_and_verify_now(hash_)
            self.assertNotIn(body[:1000], stored)

    async def test_copy_between_keys_and_to_plain(self):
        body = os.urandom(150_000)
        await self.call("put_object", Bucket="secret", Key="src", Body=body, **sse())
        await self.call("copy_object", Bucket="secret", Key="re-keyed", CopySource="secret/src",
                        CopySourceSSECustomerAlgorithm="AES256",
                        CopySourceSSECustomerKey=KEY, **sse(OTHER))
        got = await self.call("get_object", Bucket="secret", Key="re-keyed", **sse(OTHER))
        self.assertEqual(await in_thread(got["Body"].read), body)
        await self.call("copy_object", Bucket="secret", Key="plain", CopySource="secret/src",
                        CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY)
        got = await self.call("get_object", Bucket="secret", Key="plain")
        self.assertEqual(await in_thread(got["Body"].read), body)
        self.assertEqual(await self.code("copy_object", Bucket="secret", Key="x",
                                         CopySource="secret/src"), 400)

    async def test_multipart_needs_the_key_on_every_part(self):
        part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(1000)
        upload = await self.call("create_multipart_upload", Bucket="secret", Key="mp", **sse())
        etags = []
        for number, body in ((1, part1), (2, part2)):
            result = await self.call("upload_part", Bucket="secret", Key="mp", PartNumber=number,
                                     UploadId=upload["UploadId"], Body=body, **sse())
            etags.append({"PartNumber": number, "ETag": result["ETag"]})
        self.assertEqual(await self.code("upload_part", Bucket="secret", Key="mp",
                                         PartNumber=3, UploadId=upload["UploadId"],
                                         Body=b"x"), 400)
        await self.call("complete_multipart_upload", Bucket="secret", Key="mp",
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags})
        got = await self.call("get_object", Bucket="secret", Key="mp", **sse())
        self.assertEqual(await in_thread(got["Body"].read), part1 + part2)
        self.assertEqual(await self.code("head_object", Bucket="secret", Key="mp"), 400)

    async def test_server_managed_encryption_requests(self):
        """SSE-KMS, and SSE-S3 (AES256) on a node without its secret, are
        refused (501) rather than stored in clear; AES256 with SSE-C is
        AWS's 400; nothing is written."""
        with self.assertRaises(ClientError) as caught:
            await self.call("put_object", Bucket="secret", Key="k", Body=b"x",
                            ServerSideEncryption="aws:kms")
        self.assertEqual(caught.exception.response["Error"]["Code"], "NotImplemented")
        with self.assertRaises(ClientError) as caught:
            await self.call("create_multipart_upload", Bucket="secret", Key="k",
                            ServerSideEncryption="aws:kms")
        self.assertEqual(caught.exception.response["Error"]["Code"], "NotImplemented")
        # SSE-S3 on a node without its secret (test_s3_sse_s3.py has one).
        self.assertEqual(await self.code("put_object", Bucket="secret", Key="k", Body=b"x",
                                         ServerSideEncryption="AES256"), 501)
        # Both kinds at once: AWS's 400.
        self.assertEqual(await self.code("put_object", Bucket="secret", Key="k", Body=b"x",
                                         ServerSideEncryption="AES256", **sse()), 400)
        listed = await self.call("list_objects_v2", Bucket="secret")
        self.assertEqual(listed["KeyCount"], 0)
