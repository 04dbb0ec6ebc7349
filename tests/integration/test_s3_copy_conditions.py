"""CopyObject and conditional GET/HEAD through boto3 against a real node."""

import hashlib
import os
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread, start_with_s3_client


class CopyObjectTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="src")
        await self.call("create_bucket", Bucket="dst")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def read(self, bucket, key):
        got = await self.call("get_object", Bucket=bucket, Key=key)
        return got, await in_thread(got["Body"].read)

    async def error(self, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        return caught.exception.response

    async def test_copy_multi_block_shares_blocks_and_survives_source_delete(self):
        body = os.urandom(300_000)  # 5 blocks of 64 KiB
        put = await self.call("put_object", Bucket="src", Key="photo é.jpg", Body=body,
                              ContentType="image/jpeg", Metadata={"Camera": "x100"})
        files_before = set(self.fixture.node._block_store.iter_block_hashes())
        result = await self.call("copy_object", Bucket="dst", Key="copy",
                                 CopySource={"Bucket": "src", "Key": "photo é.jpg"})
        self.assertEqual(result["CopyObjectResult"]["ETag"], put["ETag"])
        # No data copied: the same block files.
        self.assertEqual(set(self.fixture.node._block_store.iter_block_hashes()), files_before)
        await self.call("delete_object", Bucket="src", Key="photo é.jpg")
        got, data = await self.read("dst", "copy")
        self.assertEqual(hashlib.sha256(data).digest(), hashlib.sha256(body).digest())
        self.assertEqual(got["ContentType"], "image/jpeg")
        self.assertEqual(got["Metadata"], {"camera": "x100"})
        self.assertEqual(got["ETag"], put["ETag"])

    async def test_replace_metadata_and_copy_onto_itself(self):
        await self.call("put_object", Bucket="src", Key="small", Body=b"inline data",
                        ContentType="text/plain")
        response = await self.error("copy_object", Bucket="src", Key="small",
                                    CopySource="src/small")
        self.assertEqual(response["Error"]["Code"], "InvalidRequest")
        await self.call("copy_object", Bucket="src", Key="small", CopySource="src/small",
                        MetadataDirective="REPLACE", ContentType="text/markdown",
                        Metadata={"new": "1"})
        got, data = await self.read("src", "small")
        self.assertEqual((data, got["ContentType"], got["Metadata"]),
                         (b"inline data", "text/markdown", {"new": "1"}))

    async def test_source_conditions_and_errors(self):
        put = await self.call("put_object", Bucket="src", Key="c", Body=b"v1")
        response = await self.error("copy_object", Bucket="dst", Key="x", CopySource="src/c",
                                    CopySourceIfMatch='"0000"')
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 412)
        response = await self.error("copy_object", Bucket="dst", Key="x", CopySource="src/c",
                                    CopySourceIfNoneMatch=put["ETag"])
        self.assertEqual(response["Error"]["Code"], "PreconditionFailed")
        await self.call("copy_object", Bucket="dst", Key="x", CopySource="src/c",
                        CopySourceIfMatch=put["ETag"])
        response = await self.error("copy_object", Bucket="dst", Key="y",
                                    CopySource="src/missing")
        self.assertEqual(response["Error"]["Code"], "NoSuchKey")
        response = await self.error("copy_object", Bucket="dst", Key="y",
                                    CopySource="nope/c")
        self.assertEqual(response["Error"]["Code"], "NoSuchBucket")

    async def test_source_needs_read_permission(self):
        other = await self.fixture.create_key(name="other", allow_create_bucket=True)
        client = self.fixture.boto3_client(other)
        self.addCleanup(client.close)
        await in_thread(client.create_bucket, Bucket="theirs")
        await self.call("put_object", Bucket="src", Key="secret", Body=b"s")
        with self.assertRaises(ClientError) as caught:
            await in_thread(client.copy_object, Bucket="theirs", Key="stolen",
                            CopySource="src/secret")
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDenied")


class ConditionalGetTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="cond")
        self.put = await in_thread(self.s3.put_object, Bucket="cond", Key="k", Body=b"body")

    async def status(self, method, **kwargs):
        try:
            response = await in_thread(getattr(self.s3, method), Bucket="cond", Key="k",
                                       **kwargs)
            return response["ResponseMetadata"]["HTTPStatusCode"]
        except ClientError as e:
            return int(e.response["ResponseMetadata"]["HTTPStatusCode"])

    async def test_rfc7232_order(self):
        etag = self.put["ETag"]
        past = datetime.now(timezone.utc) - timedelta(days=1)
        future = datetime.now(timezone.utc) + timedelta(days=1)
        for method in ("get_object", "head_object"):
            self.assertEqual(await self.status(method, IfMatch=etag), 200)
            self.assertEqual(await self.status(method, IfMatch='"other"'), 412)
            self.assertEqual(await self.status(method, IfNoneMatch=etag), 304)
            self.assertEqual(await self.status(method, IfNoneMatch='"other"'), 200)
            self.assertEqual(await self.status(method, IfModifiedSince=future), 304)
            self.assertEqual(await self.status(method, IfModifiedSince=past), 200)
            self.assertEqual(await self.status(method, IfUnmodifiedSince=past), 412)
            # If-Match passing wins over a failing If-Unmodified-Since (RFC 7232 6).
            self.assertEqual(await self.status(method, IfMatch=etag,
                                               IfUnmodifiedSince=past), 200)
            # If-None-Match failing wins over a passing If-Modified-Since.
            self.assertEqual(await self.status(method, IfNoneMatch=etag,
                                               IfModifiedSince=past), 304)


class BucketInfoTests(TestCase):
    """GetBucketVersioning and GetBucketAcl answer as Garage; GetObjectAcl is 501."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="info")

    async def test_versioning_acl(self):
        versioning = await in_thread(self.s3.get_bucket_versioning, Bucket="info")
        self.assertNotIn("Status", versioning)
        acl = await in_thread(self.s3.get_bucket_acl, Bucket="info")
        self.assertEqual([(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]],
                         [(self.key.key_id, "FULL_CONTROL")])
        await in_thread(self.s3.put_object, Bucket="info", Key="o", Body=b"1")
        # Object ACLs are built (issue 26): a private object shows the key's
        # rights only.
        acl = await in_thread(self.s3.get_object_acl, Bucket="info", Key="o")
        self.assertEqual([(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]],
                         [(self.key.key_id, "FULL_CONTROL")])


class UploadPartCopyTests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="mpcopy")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def test_ranges_from_a_multi_block_source(self):
        source = os.urandom(6 * 1024 * 1024 + 77)
        await self.call("put_object", Bucket="mpcopy", Key="source", Body=source)
        upload = await self.call("create_multipart_upload", Bucket="mpcopy", Key="assembled")
        first = 1000  # unaligned with the 64 KiB blocks
        cut = first + 5 * 1024 * 1024
        etags = []
        for number, (lo, hi) in enumerate([(first, cut - 1), (cut, len(source) - 1)], 1):
            result = await self.call("upload_part_copy", Bucket="mpcopy", Key="assembled",
                                     UploadId=upload["UploadId"], PartNumber=number,
                                     CopySource="mpcopy/source", CopySourceRange=f"bytes={lo}-{hi}")
            etag = result["CopyPartResult"]["ETag"]
            self.assertEqual(etag.strip('"'), hashlib.md5(source[lo:hi + 1]).hexdigest())
            etags.append({"PartNumber": number, "ETag": etag})
        await self.call("complete_multipart_upload", Bucket="mpcopy", Key="assembled",
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags})
        got = await self.call("get_object", Bucket="mpcopy", Key="assembled")
        data = await in_thread(got["Body"].read)
        self.assertEqual(hashlib.sha256(data).digest(), hashlib.sha256(source[first:]).digest())

    async def test_bad_ranges(self):
        await self.call("put_object", Bucket="mpcopy", Key="s", Body=b"0123456789")
        upload = await self.call("create_multipart_upload", Bucket="mpcopy", Key="x")
        for value, code in (("bytes=5-100", "InvalidRange"), ("5-6", "InvalidArgument"),
                            ("bytes=7-3", "InvalidRange")):
            with self.assertRaises(ClientError) as caught:
                await self.call("upload_part_copy", Bucket="mpcopy", Key="x",
                                UploadId=upload["UploadId"], PartNumber=1,
                                CopySource="mpcopy/s", CopySourceRange=value)
            self.assertEqual(caught.exception.response["Error"]["Code"], code, value)
        result = await self.call("upload_part_copy", Bucket="mpcopy", Key="x",
                                 UploadId=upload["UploadId"], PartNumber=1, CopySource="mpcopy/s",
                                 CopySourceRange="bytes=2-4")
        self.assertEqual(result["CopyPartResult"]["ETag"].strip('"'),
                         hashlib.md5(b"234").hexdigest())


class StoredChecksumTests(TestCase):
    """x-amz-checksum-* kept with the object, returned with checksum mode."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="sums")

    async def test_put_then_get_and_head_with_checksum_mode(self):
        for key, body, algorithm in (("small", b"tiny body", "CRC32"),
                                     ("large", os.urandom(200_000), "SHA256"),
                                     ("sha1", os.urandom(5000), "SHA1")):
            put = await in_thread(self.s3.put_object, Bucket="sums", Key=key, Body=body,
                                  ChecksumAlgorithm=algorithm)
            field = f"Checksum{algorithm}"
            head = await in_thread(self.s3.head_object, Bucket="sums", Key=key,
                                   ChecksumMode="ENABLED")
            self.assertEqual(head[field], put[field])
            got = await in_thread(self.s3.get_object, Bucket="sums", Key=key,
                                  ChecksumMode="ENABLED")
            self.assertEqual(got[field], put[field])
            self.assertEqual(await in_thread(got["Body"].read), body)
            plain = await in_thread(self.s3.head_object, Bucket="sums", Key=key)
            self.assertNotIn(field, plain)


class PartNumberTests(TestCase):
    """GET and HEAD with ?partNumber= on multipart and plain objects."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="parts")

    async def test_parts(self):
        part1, part3 = os.urandom(5 * 1024 * 1024), os.urandom(70_000)
        upload = await in_thread(self.s3.create_multipart_upload, Bucket="parts", Key="mp")
        etags = []
        for number, body in ((1, part1), (3, part3)):
            result = await in_thread(self.s3.upload_part, Bucket="parts", Key="mp",
                                     UploadId=upload["UploadId"], PartNumber=number, Body=body)
            etags.append({"PartNumber": number, "ETag": result["ETag"]})
        await in_thread(self.s3.complete_multipart_upload, Bucket="parts", Key="mp",
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags})
        got = await in_thread(self.s3.get_object, Bucket="parts", Key="mp", PartNumber=3)
        self.assertEqual(await in_thread(got["Body"].read), part3)
        self.assertEqual(got["PartsCount"], 2)
        self.assertEqual(got["ContentRange"],
                         f"bytes {len(part1)}-{len(part1) + len(part3) - 1}/"
                         f"{len(part1) + len(part3)}")
        head = await in_thread(self.s3.head_object, Bucket="parts", Key="mp", PartNumber=1)
        self.assertEqual((head["ContentLength"], head["PartsCount"]), (len(part1), 2))
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.get_object, Bucket="parts", Key="mp", PartNumber=2)
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidPartNumber")
        await in_thread(self.s3.put_object, Bucket="parts", Key="plain", Body=b"whole")
        got = await in_thread(self.s3.get_object, Bucket="parts", Key="plain", PartNumber=1)
        self.assertEqual(await in_thread(got["Body"].read), b"whole")
