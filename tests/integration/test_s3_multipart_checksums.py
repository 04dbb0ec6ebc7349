"""Multipart uploads with x-amz-checksum-algorithm, through boto3: part
checksums, the object's COMPOSITE or FULL_OBJECT checksum, and what is refused."""

import base64
import hashlib
import os
import zlib

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread, start_with_s3_client

PART = 5 * 1024 * 1024


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class MultipartChecksumTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024, "cks")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def error_code(self, method, **kwargs) -> str:
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        return caught.exception.response["Error"]["Code"]

    async def upload(self, key, bodies, **create):
        created = await self.call("create_multipart_upload", Bucket="cks", Key=key, **create)
        parts = []
        for number, body in enumerate(bodies, 1):
            extra = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if create else {}
            answer = await self.call("upload_part", Bucket="cks", Key=key,
                                     UploadId=created["UploadId"], PartNumber=number,
                                     Body=body, **extra)
            parts.append((number, answer))
        return created, parts

    async def test_composite_sha256(self):
        bodies = [os.urandom(PART), os.urandom(1000)]
        created, parts = await self.upload("c", bodies, ChecksumAlgorithm="SHA256")
        self.assertEqual((created["ChecksumAlgorithm"], created["ChecksumType"]),
                         ("SHA256", "COMPOSITE"))
        digests = [hashlib.sha256(body).digest() for body in bodies]
        self.assertEqual([a["ChecksumSHA256"] for _, a in parts], [b64(d) for d in digests])
        listed = await self.call("list_parts", Bucket="cks", Key="c",
                                 UploadId=created["UploadId"])
        self.assertEqual(listed["ChecksumAlgorithm"], "SHA256")
        self.assertEqual([p["ChecksumSHA256"] for p in listed["Parts"]],
                         [b64(d) for d in digests])
        expected = b64(hashlib.sha256(b"".join(digests)).digest()) + "-2"
        listing = {"Parts": [{"PartNumber": n, "ETag": a["ETag"],
                              "ChecksumSHA256": a["ChecksumSHA256"]} for n, a in parts]}
        wrong = b64(hashlib.sha256(b"other").digest()) + "-2"
        self.assertEqual(await self.error_code(
            "complete_multipart_upload", Bucket="cks", Key="c", UploadId=created["UploadId"],
            MultipartUpload=listing, ChecksumSHA256=wrong), "BadDigest")
        done = await self.call("complete_multipart_upload", Bucket="cks", Key="c",
                               UploadId=created["UploadId"], MultipartUpload=listing,
                               ChecksumSHA256=expected)
        self.assertEqual((done["ChecksumSHA256"], done["ChecksumType"]),
                         (expected, "COMPOSITE"))
        head = await self.call("head_object", Bucket="cks", Key="c", ChecksumMode="ENABLED")
        self.assertEqual((head["ChecksumSHA256"], head["ChecksumType"]),
                         (expected, "COMPOSITE"))
        # A part comes with its own checksum.
        for number, digest in ((1, digests[0]), (2, digests[1])):
            got = await self.call("get_object", Bucket="cks", Key="c", PartNumber=number,
                                  ChecksumMode="ENABLED")
            self.assertEqual((got["ChecksumSHA256"], got["ChecksumType"]),
                             (b64(digest), "COMPOSITE"))
            self.assertEqual(await in_thread(got["Body"].read), bodies[number - 1])
        head = await self.call("head_object", Bucket="cks", Key="c", PartNumber=2,
                               ChecksumMode="ENABLED")
        self.assertEqual(head["ChecksumSHA256"], b64(digests[1]))
        head = await self.call("head_object", Bucket="cks", Key="c")
        self.assertNotIn("ChecksumSHA256", head)
        # The object keeps no trace of the upload's bookkeeping headers.
        self.assertEqual(head["Metadata"], {})

    async def test_full_object_crc32(self):
        bodies = [os.urandom(PART), os.urandom(PART), os.urandom(77)]
        created, parts = await self.upload("f", bodies, ChecksumAlgorithm="CRC32",
                                           ChecksumType="FULL_OBJECT")
        self.assertEqual(created["ChecksumType"], "FULL_OBJECT")
        listing = {"Parts": [{"PartNumber": n, "ETag": a["ETag"]} for n, a in parts]}
        whole = zlib.crc32(b"".join(bodies)).to_bytes(4, "big")
        self.assertEqual(await self.error_code(
            "complete_multipart_upload", Bucket="cks", Key="f", UploadId=created["UploadId"],
            MultipartUpload=listing, ChecksumCRC32=b64(bytes(4))), "BadDigest")
        done = await self.call("complete_multipart_upload", Bucket="cks", Key="f",
                               UploadId=created["UploadId"], MultipartUpload=listing,
                               ChecksumCRC32=b64(whole))
        self.assertEqual((done["ChecksumCRC32"], done["ChecksumType"]),
                         (b64(whole), "FULL_OBJECT"))
        again = await self.call("complete_multipart_upload", Bucket="cks", Key="f",
                                UploadId=created["UploadId"], MultipartUpload=listing)
        self.assertEqual((again["ETag"], again["ChecksumCRC32"]),
                         (done["ETag"], done["ChecksumCRC32"]))
        got = await self.call("get_object", Bucket="cks", Key="f", ChecksumMode="ENABLED")
        self.assertEqual(got["ChecksumCRC32"], b64(whole))
        self.assertEqual(await in_thread(got["Body"].read), b"".join(bodies))
        # A part comes with its own CRC, not the whole object's (the client
        # checks the part's bytes against it).
        got = await self.call("get_object", Bucket="cks", Key="f", PartNumber=3,
                              ChecksumMode="ENABLED")
        self.assertEqual(got["ChecksumCRC32"], b64(zlib.crc32(bodies[2]).to_bytes(4, "big")))
        self.assertEqual(await in_thread(got["Body"].read), bodies[2])
        # A copy shares the blocks and keeps the checksums, the parts' too.
        await self.call("copy_object", Bucket="cks", Key="f2", CopySource="cks/f")
        got = await self.call("get_object", Bucket="cks", Key="f2", PartNumber=3,
                              ChecksumMode="ENABLED")
        self.assertEqual(got["ChecksumCRC32"], b64(zlib.crc32(bodies[2]).to_bytes(4, "big")))
        await in_thread(got["Body"].read)

    async def test_refused(self):
        """A type the algorithm has not, a part checksummed otherwise than
        its upload, and an object checksum for an upload without algorithm
        are InvalidRequest; a wrong part checksum at completion is BadDigest."""
        self.assertEqual(await self.error_code(
            "create_multipart_upload", Bucket="cks", Key="r", ChecksumAlgorithm="SHA1",
            ChecksumType="FULL_OBJECT"), "InvalidRequest")
        plain = await self.call("create_multipart_upload", Bucket="cks", Key="p")
        part = await self.call("upload_part", Bucket="cks", Key="p", PartNumber=1,
                               UploadId=plain["UploadId"], Body=b"p")
        self.assertEqual(await self.error_code(
            "complete_multipart_upload", Bucket="cks", Key="p", UploadId=plain["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
            ChecksumCRC32=b64(bytes(4))), "InvalidRequest")
        created, parts = await self.upload("r", [b"one"], ChecksumAlgorithm="SHA256")
        self.assertEqual(await self.error_code(
            "upload_part", Bucket="cks", Key="r", UploadId=created["UploadId"], PartNumber=2,
            Body=b"two", ChecksumAlgorithm="CRC32"), "InvalidRequest")
        self.assertEqual(await self.error_code(
            "complete_multipart_upload", Bucket="cks", Key="r", UploadId=created["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0][1]["ETag"],
                                        "ChecksumSHA256": b64(bytes(32))}]}), "BadDigest")

    async def test_object_attributes(self):
        """GetObjectAttributes of a multipart object with a checksum, and of
        a plain one."""
        bodies = [os.urandom(PART), os.urandom(10)]
        created, parts = await self.upload("a", bodies, ChecksumAlgorithm="SHA256")
        done = await self.call("complete_multipart_upload", Bucket="cks", Key="a",
                               UploadId=created["UploadId"], MultipartUpload={"Parts": [
                                   {"PartNumber": n, "ETag": a["ETag"]} for n, a in parts]})
        got = await self.call("get_object_attributes", Bucket="cks", Key="a",
                              ObjectAttributes=["ETag", "Checksum", "ObjectParts",
                                                "StorageClass", "ObjectSize"])
        self.assertEqual(got["ETag"], done["ETag"].strip('"'))
        self.assertEqual(got["Checksum"], {"ChecksumSHA256": done["ChecksumSHA256"],
                                           "ChecksumType": "COMPOSITE"})
        self.assertEqual(got["ObjectSize"], PART + 10)
        self.assertEqual(got["StorageClass"], "STANDARD")
        self.assertEqual(got["ObjectParts"]["TotalPartsCount"], 2)
        self.assertEqual([(p["PartNumber"], p["Size"], p["ChecksumSHA256"])
                          for p in got["ObjectParts"]["Parts"]],
                         [(1, PART, b64(hashlib.sha256(bodies[0]).digest())),
                          (2, 10, b64(hashlib.sha256(bodies[1]).digest()))])
        paged = await self.call("get_object_attributes", Bucket="cks", Key="a",
                                ObjectAttributes=["ObjectParts"], MaxParts=1)
        self.assertTrue(paged["ObjectParts"]["IsTruncated"])
        self.assertEqual([p["PartNumber"] for p in paged["ObjectParts"]["Parts"]], [1])
        await self.call("put_object", Bucket="cks", Key="plain", Body=b"xyz")
        got = await self.call("get_object_attributes", Bucket="cks", Key="plain",
                              ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"])
        self.assertEqual((got["ETag"], got["ObjectSize"]), (hashlib.md5(b"xyz").hexdigest(), 3))
        self.assertNotIn("ObjectParts", got)
        self.assertEqual(await self.error_code(
            "get_object_attributes", Bucket="cks", Key="missing", ObjectAttributes=["ETag"]),
            "NoSuchKey")
