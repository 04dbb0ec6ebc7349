"""S3 operations through unmodified boto3 against a real node in this reactor."""

import hashlib
import os

from botocore.exceptions import ClientError
from twisted.trial.unittest import TestCase

from tests.support.node import in_thread, start_with_s3_client


class _Boto3Calls(TestCase):
    """boto3 calls (``self.s3``) made off the reactor thread."""

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def assertS3Error(self, code, method, **kwargs):
        try:
            await self.call(method, **kwargs)
        except ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], code, e.response)
            return e.response
        self.fail(f"{method} succeeded; expected {code}")


class S3Boto3Tests(_Boto3Calls):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024)

    async def test_bucket_lifecycle(self):
        """A bucket is created, listed, headed, located and deleted."""
        await self.call("create_bucket", Bucket="photos")
        listed = await self.call("list_buckets")
        self.assertEqual([b["Name"] for b in listed["Buckets"]], ["photos"])
        await self.call("head_bucket", Bucket="photos")
        location = await self.call("get_bucket_location", Bucket="photos")
        self.assertEqual(location["LocationConstraint"], "garage")
        again = await self.call("create_bucket", Bucket="photos")  # idempotent for its owner
        self.assertEqual(again["ResponseMetadata"]["HTTPStatusCode"], 200)
        await self.call("delete_bucket", Bucket="photos")
        await self.assertS3Error("404", "head_bucket", Bucket="photos")
        await self.assertS3Error("NoSuchBucket", "list_objects_v2", Bucket="photos")

    async def test_list_buckets_pages(self):
        """ListBuckets pages by max-buckets and continuation token, filters
        by prefix."""
        for name in ("pa-1", "pa-2", "pb-1"):
            await self.call("create_bucket", Bucket=name)
        seen, token = [], None
        while True:
            kwargs = {"ContinuationToken": token} if token else {}
            page = await self.call("list_buckets", MaxBuckets=2, **kwargs)
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if token is None:
                break
        self.assertEqual(seen, ["pa-1", "pa-2", "pb-1"])
        page = await self.call("list_buckets", Prefix="pa-")
        self.assertEqual([b["Name"] for b in page["Buckets"]], ["pa-1", "pa-2"])
        self.assertEqual(page["Buckets"][0]["BucketRegion"], "garage")
        page = await self.call("list_buckets", MaxBuckets=3)
        self.assertNotIn("ContinuationToken", page)

    async def test_put_get_sizes(self):
        """Empty, inline, one-block and multi-block objects round-trip byte for byte."""
        await self.call("create_bucket", Bucket="data")
        for size in (0, 1, 3071, 3072, 64 * 1024, 64 * 1024 + 1, 300_001):
            body = os.urandom(size)
            key = f"obj-{size}"
            put = await self.call("put_object", Bucket="data", Key=key, Body=body,
                                  ContentType="application/x-test", Metadata={"Who": "me"})
            self.assertEqual(put["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
            got = await self.call("get_object", Bucket="data", Key=key)
            data = await in_thread(got["Body"].read)
            self.assertEqual(data, body, key)
            self.assertEqual(got["ContentType"], "application/x-test")
            self.assertEqual(got["Metadata"], {"who": "me"})
            head = await self.call("head_object", Bucket="data", Key=key)
            self.assertEqual(head["ContentLength"], size)

    async def test_content_encoding(self):
        """Content-Encoding is stored as sent, less aws-chunked (the request's
        transport), as S3."""
        await self.call("create_bucket", Bucket="enc")
        for sent, stored in (("gzip", "gzip"), ("deflate, gzip", "deflate, gzip"),
                             ("gzip, aws-chunked", "gzip"), ("aws-chunked, gzip", "gzip"),
                             ("aws-chunked", None), ("aws-chunked, aws-chunked", None)):
            await self.call("put_object", Bucket="enc", Key="k", Body=b"x",
                            ContentEncoding=sent)
            head = await self.call("head_object", Bucket="enc", Key="k")
            self.assertEqual(head.get("ContentEncoding"), stored, sent)

    async def test_non_ascii_metadata(self):
        """A header value that is not ASCII (botocore sends and signs it as
        UTF-8) is accepted and read back byte for byte (which http.client
        decodes as Latin-1)."""
        await self.call("create_bucket", Bucket="uni")

        def set_header(params, **kwargs):
            params["headers"]["x-amz-meta-meta1"] = "Hello World\xe9"

        self.s3.meta.events.register("before-call.s3.PutObject", set_header)
        self.addCleanup(self.s3.meta.events.unregister, "before-call.s3.PutObject",
                        set_header)
        await self.call("put_object", Bucket="uni", Key="k", Body=b"bar")
        got = await self.call("get_object", Bucket="uni", Key="k")
        self.assertEqual(got["Metadata"]["meta1"].encode("latin-1").decode("utf-8"),
                         "Hello World\xe9")

    async def test_range_requests(self):
        """A single range answers 206 with the right bytes; out of range is 416."""
        await self.call("create_bucket", Bucket="rrr")
        body = os.urandom(200_000)
        await self.call("put_object", Bucket="rrr", Key="k", Body=body)
        for spec, lo, hi in (("bytes=0-9", 0, 10), ("bytes=65530-131080", 65530, 131081),
                             ("bytes=-5", 200_000 - 5, 200_000), ("bytes=199990-", 199990, 200_000)):
            got = await self.call("get_object", Bucket="rrr", Key="k", Range=spec)
            self.assertEqual(await in_thread(got["Body"].read), body[lo:hi], spec)
            self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 206)
        await self.assertS3Error("InvalidRange", "get_object", Bucket="rrr", Key="k",
                                 Range="bytes=300000-")

    async def test_delete_object(self):
        """A deleted object is gone; deleting a missing key is still 204."""
        await self.call("create_bucket", Bucket="ddd")
        await self.call("put_object", Bucket="ddd", Key="a", Body=b"x" * 100_000)
        await self.call("delete_object", Bucket="ddd", Key="a")
        await self.assertS3Error("NoSuchKey", "get_object", Bucket="ddd", Key="a")
        deleted = await self.call("delete_object", Bucket="ddd", Key="never")
        self.assertEqual(deleted["ResponseMetadata"]["HTTPStatusCode"], 204)
        await self.call("delete_bucket", Bucket="ddd")

    async def test_bucket_not_empty(self):
        """A bucket holding an object cannot be deleted."""
        await self.call("create_bucket", Bucket="full")
        await self.call("put_object", Bucket="full", Key="a", Body=b"x")
        await self.assertS3Error("BucketNotEmpty", "delete_bucket", Bucket="full")

    async def test_list_objects_v2(self):
        """Prefix, delimiter, pagination and start-after behave as S3."""
        await self.call("create_bucket", Bucket="lll")
        keys = ["a/1", "a/2", "a/b/3", "b", "c d", "é&+\"", "z/1"]
        for key in keys:
            await self.call("put_object", Bucket="lll", Key=key, Body=b"x")
        listed = await self.call("list_objects_v2", Bucket="lll")
        self.assertEqual([o["Key"] for o in listed["Contents"]], sorted(keys))
        listed = await self.call("list_objects_v2", Bucket="lll", Delimiter="/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["b", "c d", "é&+\""])
        self.assertEqual([p["Prefix"] for p in listed["CommonPrefixes"]], ["a/", "z/"])
        listed = await self.call("list_objects_v2", Bucket="lll", Prefix="a/", Delimiter="/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["a/1", "a/2"])
        self.assertEqual([p["Prefix"] for p in listed["CommonPrefixes"]], ["a/b/"])
        seen = []
        token = None
        while True:
            kwargs = {"ContinuationToken": token} if token else {}
            page = await self.call("list_objects_v2", Bucket="lll", MaxKeys=2, Delimiter="/",
                                   **kwargs)
            seen += [o["Key"] for o in page.get("Contents", [])]
            seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page["IsTruncated"]:
                break
            token = page["NextContinuationToken"]
        self.assertEqual(sorted(seen), ["a/", "b", "c d", "z/", "é&+\""])
        listed = await self.call("list_objects_v2", Bucket="lll", StartAfter="b")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["c d", "z/1", "é&+\""])
        listed = await self.call("list_objects", Bucket="lll", Marker="b", MaxKeys=1)
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["c d"])
        self.assertTrue(listed["IsTruncated"])
        # max-keys=0: an empty page, not truncated (as S3).
        for method in ("list_objects", "list_objects_v2"):
            listed = await self.call(method, Bucket="lll", MaxKeys=0)
            self.assertNotIn("Contents", listed, method)
            self.assertFalse(listed["IsTruncated"], method)

    async def test_wrong_secret_writes_nothing(self):
        """A request signed with a wrong secret gets 403 and creates nothing."""
        await self.call("create_bucket", Bucket="sss")
        bad = self.fixture.boto3_client(self.key)
        bad._request_signer._credentials.secret_key = "0" * 64
        self.addCleanup(bad.close)
        try:
            await in_thread(bad.put_object, Bucket="sss", Key="k", Body=b"x" * 5000)
        except ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "SignatureDoesNotMatch")
        else:
            self.fail("a bad signature was accepted")
        listed = await self.call("list_objects_v2", Bucket="sss")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_key_without_permission(self):
        """A key with no right on a bucket is denied and writes nothing."""
        await self.call("create_bucket", Bucket="mine")
        other = await self.fixture.create_key("other", allow_create_bucket=False)
        s3 = self.fixture.boto3_client(other)
        self.addCleanup(s3.close)
        for method, kwargs in (("put_object", {"Key": "k", "Body": b"x"}),
                               ("get_object", {"Key": "k"}),
                               ("list_objects_v2", {})):
            try:
                await in_thread(getattr(s3, method), Bucket="mine", **kwargs)
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "AccessDenied", method)
            else:
                self.fail(f"{method} without permission succeeded")
        listed = await self.call("list_objects_v2", Bucket="mine")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_unimplemented_operation(self):
        """An operation this node does not implement answers 501 NotImplemented."""
        await self.call("create_bucket", Bucket="nnn")
        await self.assertS3Error("NotImplemented", "get_bucket_replication", Bucket="nnn")

    async def test_presigned_get(self):
        """A presigned GET URL serves the object to a client without credentials."""
        import urllib.request

        await self.call("create_bucket", Bucket="ppp")
        await self.call("put_object", Bucket="ppp", Key="a b+c", Body=b"hello")
        url = await in_thread(self.s3.generate_presigned_url, "get_object",
                              Params={"Bucket": "ppp", "Key": "a b+c"}, ExpiresIn=60)
        data = await in_thread(lambda: urllib.request.urlopen(url).read())
        self.assertEqual(data, b"hello")


class MultipartBoto3Tests(_Boto3Calls):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024, "mpu")

    async def test_upload_file_multipart(self):
        """boto3's managed transfer uploads in parts and reads back identical bytes."""
        from boto3.s3.transfer import TransferConfig

        body = os.urandom(12 * 1024 * 1024 + 12345)
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(body)
        config = TransferConfig(multipart_threshold=5 * 1024 * 1024,
                                multipart_chunksize=5 * 1024 * 1024)
        await in_thread(self.s3.upload_file, path, "mpu", "big", Config=config)
        head = await in_thread(self.s3.head_object, Bucket="mpu", Key="big")
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
        got = await in_thread(self.s3.get_object, Bucket="mpu", Key="big")
        self.assertEqual(await in_thread(got["Body"].read), body)
        uploads = await in_thread(self.s3.list_multipart_uploads, Bucket="mpu")
        self.assertEqual(uploads.get("Uploads", []), [])

    async def test_parts_out_of_order_and_retry(self):
        """Parts sent out of order, with a retried part, complete in part order."""
        created = await in_thread(self.s3.create_multipart_upload, Bucket="mpu", Key="k")
        upload_id = created["UploadId"]
        part1 = os.urandom(5 * 1024 * 1024)
        part3 = os.urandom(1000)
        tags = {}
        for number, body in ((3, part3), (1, b"x" * (5 * 1024 * 1024)), (1, part1)):
            answer = await in_thread(self.s3.upload_part, Bucket="mpu", Key="k",
                                     UploadId=upload_id, PartNumber=number, Body=body)
            tags[number] = answer["ETag"]
        listed = await in_thread(self.s3.list_parts, Bucket="mpu", Key="k", UploadId=upload_id)
        self.assertEqual([p["PartNumber"] for p in listed["Parts"]], [1, 3])
        uploads = await in_thread(self.s3.list_multipart_uploads, Bucket="mpu")
        self.assertEqual([u["UploadId"] for u in uploads["Uploads"]], [upload_id])
        await in_thread(self.s3.complete_multipart_upload, Bucket="mpu", Key="k",
                        UploadId=upload_id, MultipartUpload={"Parts": [
                            {"PartNumber": 1, "ETag": tags[1]},
                            {"PartNumber": 3, "ETag": tags[3]}]})
        got = await in_thread(self.s3.get_object, Bucket="mpu", Key="k")
        self.assertEqual(await in_thread(got["Body"].read), part1 + part3)

    async def test_completion_retried(self):
        """A completion sent again (its answer lost) gets the same answer, as
        S3 gives; other parts, or an upload that never was, get NoSuchUpload."""
        created = await in_thread(self.s3.create_multipart_upload, Bucket="mpu", Key="r")
        upload_id = created["UploadId"]
        part = await in_thread(self.s3.upload_part, Bucket="mpu", Key="r",
                               UploadId=upload_id, PartNumber=1, Body=b"once")
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        first = await in_thread(self.s3.complete_multipart_upload, Bucket="mpu", Key="r",
                                UploadId=upload_id, MultipartUpload=parts)
        again = await in_thread(self.s3.complete_multipart_upload, Bucket="mpu", Key="r",
                                UploadId=upload_id, MultipartUpload=parts)
        self.assertEqual(again["ETag"], first["ETag"])
        got = await in_thread(self.s3.get_object, Bucket="mpu", Key="r")
        self.assertEqual(await in_thread(got["Body"].read), b"once")
        await self.assertS3Error("NoSuchUpload", "complete_multipart_upload", Bucket="mpu",
                                 Key="r", UploadId=upload_id, MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": "0" * 32}]})
        # Unknown upload: 404 before the parts are looked at.
        await self.assertS3Error("NoSuchUpload", "complete_multipart_upload", Bucket="mpu",
                                 Key="r", UploadId="abc1234def", MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": "1234"}]})

    async def test_abort(self):
        """An aborted upload disappears and its id is refused afterwards."""
        created = await in_thread(self.s3.create_multipart_upload, Bucket="mpu", Key="a")
        upload_id = created["UploadId"]
        await in_thread(self.s3.upload_part, Bucket="mpu", Key="a", UploadId=upload_id,
                        PartNumber=1, Body=b"hello")
        await in_thread(self.s3.abort_multipart_upload, Bucket="mpu", Key="a",
                        UploadId=upload_id)
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.upload_part, Bucket="mpu", Key="a", UploadId=upload_id,
                            PartNumber=2, Body=b"again")
        self.assertEqual(caught.exception.response["Error"]["Code"], "NoSuchUpload")
        listed = await in_thread(self.s3.list_objects_v2, Bucket="mpu")
        self.assertEqual(listed["KeyCount"], 0)

    async def test_small_part_refused(self):
        """A part under 5 MiB that is not the last one fails the completion."""
        created = await in_thread(self.s3.create_multipart_upload, Bucket="mpu", Key="s")
        upload_id = created["UploadId"]
        tags = []
        for number in (1, 2):
            answer = await in_thread(self.s3.upload_part, Bucket="mpu", Key="s",
                                     UploadId=upload_id, PartNumber=number, Body=b"tiny")
            tags.append({"PartNumber": number, "ETag": answer["ETag"]})
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.complete_multipart_upload, Bucket="mpu", Key="s",
                            UploadId=upload_id, MultipartUpload={"Parts": tags})
        self.assertEqual(caught.exception.response["Error"]["Code"], "EntityTooSmall")


class LargeBlockBoto3Tests(TestCase):
    timeout = 120

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(
            self, 256 * 1024, "large")

    async def test_blocks_hashed_in_threads_keep_digest_order(self):
        """Bodies whose blocks are hashed in the pool, ending with a tiny block,
        keep their checksums and ETag right (digests see blocks in order)."""
        for size in (3 * 256 * 1024 + 7, 2 * 256 * 1024, 5 * 256 * 1024 + 100_000):
            body = os.urandom(size)
            put = await in_thread(self.s3.put_object, Bucket="large", Key=f"k{size}", Body=body,
                                  ChecksumAlgorithm="CRC32")
            self.assertEqual(put["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
            got = await in_thread(self.s3.get_object, Bucket="large", Key=f"k{size}")
            self.assertEqual(await in_thread(got["Body"].read), body)
