"""GetObjectAttributes, CopyObject and UploadPartCopy on SSE-C objects, as AWS
documents them: the source's key is needed (``x-amz-copy-source-server-side-
encryption-customer-*`` for copies, the SSE-C headers for attributes), and
parts and ranges are those of the plain bytes."""

import base64
import hashlib
import os

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread, start_with_s3_client

KEY = os.urandom(32)
OTHER = os.urandom(32)
PART1 = 5 * 1024 * 1024


def sse(key=KEY):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def attr_sse(key=KEY):
    """SSE-C parameters as GetObjectAttributes takes them (boto3 neither
    encodes its key nor adds the MD5)."""
    return {"SSECustomerAlgorithm": "AES256",
            "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}


def copy_sse(key=KEY):
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


class SseCSourceTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="src")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def error(self, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        response = caught.exception.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]

    async def multipart(self, key, bodies, **extra):
        upload = await self.call("create_multipart_upload", Bucket="src", Key=key, **extra)
        part_extra = dict(extra)
        extra.pop("ChecksumAlgorithm", None)
        etags = []
        for number, body in enumerate(bodies, 1):
            result = await self.call("upload_part", Bucket="src", Key=key, Body=body,
                                     UploadId=upload["UploadId"], PartNumber=number,
                                     **part_extra)
            etags.append({"PartNumber": number, "ETag": result["ETag"]})
            etags[-1].update({k: v for k, v in result.items() if k.startswith("Checksum")})
        await self.call("complete_multipart_upload", Bucket="src", Key=key,
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags}, **extra)

    async def test_attributes_of_an_sse_c_object_need_its_key(self):
        """Without the key (or with another) 400; with it, the plain size and
        the parts of a multipart object."""
        body = os.urandom(100_000)
        await self.call("put_object", Bucket="src", Key="one", Body=body, **sse())
        wanted = ["ETag", "ObjectSize", "StorageClass", "ObjectParts"]
        self.assertEqual(await self.error("get_object_attributes", Bucket="src", Key="one",
                                          ObjectAttributes=wanted), (400, "InvalidRequest"))
        self.assertEqual(await self.error("get_object_attributes", Bucket="src", Key="one",
                                          ObjectAttributes=wanted, **attr_sse(OTHER)),
                         (400, "InvalidRequest"))
        got = await self.call("get_object_attributes", Bucket="src", Key="one",
                              ObjectAttributes=wanted, **attr_sse())
        self.assertEqual(got["ObjectSize"], len(body))
        self.assertNotIn("ObjectParts", got)
        part2 = os.urandom(70_000)
        await self.multipart("mp", [os.urandom(PART1), part2], ChecksumAlgorithm="SHA256",
                             **sse())
        got = await self.call("get_object_attributes", Bucket="src", Key="mp",
                              ObjectAttributes=wanted + ["Checksum"], **attr_sse())
        self.assertEqual(got["ObjectSize"], PART1 + len(part2))
        self.assertEqual(got["ObjectParts"]["TotalPartsCount"], 2)
        self.assertEqual([(p["PartNumber"], p["Size"]) for p in got["ObjectParts"]["Parts"]],
                         [(1, PART1), (2, len(part2))])
        self.assertTrue(all("ChecksumSHA256" in p for p in got["ObjectParts"]["Parts"]))
        self.assertEqual(await self.error("get_object_attributes", Bucket="src", Key="mp",
                                          ObjectAttributes=wanted), (400, "InvalidRequest"))

    async def test_parts_without_a_checksum_are_only_counted(self):
        """AWS: without an additional checksum, ObjectParts has the parts'
        count and no Part elements."""
        await self.multipart("mp", [os.urandom(PART1), b"tail"])
        got = await self.call("get_object_attributes", Bucket="src", Key="mp",
                              ObjectAttributes=["ObjectParts", "ObjectSize"])
        self.assertEqual(got["ObjectParts"]["TotalPartsCount"], 2)
        self.assertNotIn("Parts", got["ObjectParts"])
        self.assertEqual(got["ObjectSize"], PART1 + 4)

    async def test_copy_object_needs_the_source_key(self):
        body = os.urandom(150_000)
        await self.call("put_object", Bucket="src", Key="enc", Body=body, **sse())
        await self.call("put_object", Bucket="src", Key="plain", Body=b"plain")
        self.assertEqual(await self.error("copy_object", Bucket="src", Key="x",
                                          CopySource="src/enc"), (400, "InvalidRequest"))
        self.assertEqual(await self.error("copy_object", Bucket="src", Key="x",
                                          CopySource="src/enc", **copy_sse(OTHER)),
                         (400, "InvalidRequest"))
        # The key given as the destination's is not the source's.
        self.assertEqual(await self.error("copy_object", Bucket="src", Key="x",
                                          CopySource="src/enc", **sse()),
                         (400, "InvalidRequest"))
        self.assertEqual(await self.error("copy_object", Bucket="src", Key="x",
                                          CopySource="src/plain", **copy_sse()),
                         (400, "InvalidRequest"))
        with self.assertRaises(ClientError):
            await self.call("head_object", Bucket="src", Key="x")
        copied = await self.call("copy_object", Bucket="src", Key="re-keyed",
                                 CopySource="src/enc", **copy_sse(), **sse(OTHER))
        self.assertEqual(copied["SSECustomerAlgorithm"], "AES256")
        got = await self.call("get_object", Bucket="src", Key="re-keyed", **sse(OTHER))
        self.assertEqual(await in_thread(got["Body"].read), body)

    async def test_upload_part_copy_ranges_of_an_sse_c_source(self):
        """Ranges of an encrypted multipart source, across its part and block
        boundaries, into a plain upload and into an SSE-C one."""
        part1, part2 = os.urandom(PART1), os.urandom(70_000)
        await self.multipart("srcmp", [part1, part2], **sse())
        whole = part1 + part2
        for dest_sse in ({}, sse(OTHER)):
            upload = await self.call("create_multipart_upload", Bucket="src", Key="dest",
                                     **dest_sse)
            common = {"Bucket": "src", "Key": "dest", "UploadId": upload["UploadId"],
                      "CopySource": "src/srcmp", **dest_sse}
            self.assertEqual(await self.error("upload_part_copy", PartNumber=1,
                                              CopySourceRange="bytes=0-9", **common),
                             (400, "InvalidRequest"))
            self.assertEqual(await self.error("upload_part_copy", PartNumber=1,
                                              CopySourceRange="bytes=0-9", **common,
                                              **copy_sse(OTHER)), (400, "InvalidRequest"))
            first = (1_000, PART1 + 9_999)   # from inside part 1 into part 2
            second = (PART1 + 10_000, len(whole) - 1)
            etags = []
            for number, (start, end) in enumerate((first, second), 1):
                result = await self.call("upload_part_copy", PartNumber=number,
                                         CopySourceRange=f"bytes={start}-{end}", **common,
                                         **copy_sse())
                if dest_sse:
                    self.assertEqual(result["SSECustomerAlgorithm"], "AES256")
                etags.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
            await self.call("complete_multipart_upload", Bucket="src", Key="dest",
                            UploadId=upload["UploadId"], MultipartUpload={"Parts": etags},
                            **dest_sse)
            got = await self.call("get_object", Bucket="src", Key="dest", **dest_sse)
            self.assertEqual(await in_thread(got["Body"].read),
                             whole[first[0]:first[1] + 1] + whole[second[0]:second[1] + 1])
            got = await self.call("get_object", Bucket="src", Key="dest", PartNumber=2,
                                  **dest_sse)
            self.assertEqual(await in_thread(got["Body"].read), whole[second[0]:second[1] + 1])
