"""Error responses carry only error headers; ``?partNumber=`` reads as AWS.

A GET that fails after the object's headers were chosen (a condition, a
range, a part number) must not keep them: boto3 (default settings, which
ask for checksums) would wrap the error's body as a checksummed stream and
crash instead of raising ClientError. Checked with boto3 and, for the exact
headers, with raw signed requests.
"""

import os

from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from tests.support import signer
from tests.support.node import in_thread, start_with_s3_client

KEY = os.urandom(32)

# What an error response may carry: what every response carries, its own
# body's headers, and the bucket's CORS headers.
ERROR_HEADERS = {"x-amz-request-id", "x-amz-id-2", "server", "date", "content-type",
                 "content-length", "connection", "vary"}


def sse(key=KEY):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


class ErrorHeadersTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="edges")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def error(self, method, **kwargs):
        """``(status, code)`` of the ClientError a call raises."""
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        response = caught.exception.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]

    async def raw(self, method, key, query="", headers=None):
        """A signed request: ``(status, headers as {lower name: [values]}, body)``."""
        url = f"{self.fixture.endpoint}/edges/{key}" + (f"?{query}" if query else "")
        signed, *_ = signer.sign(method, url, self.key.key_id, self.key.params.secret_key,
                                 "garage", signer.EMPTY, headers=headers)
        # A bare Agent: treq's would rewrite Content-Encoding.
        agent = Agent(reactor, pool=self.pool)
        response = await agent.request(method.encode(), url.encode(), Headers(
            {name.encode(): [value.encode()] for name, value in signed.items()}))
        body = await readBody(response) if method != "HEAD" else b""
        raw = {name.decode("latin-1").lower(): [v.decode("latin-1") for v in values]
               for name, values in response.headers.getAllRawHeaders()}
        return response.code, raw, body

    async def put_with_everything(self, key, body=b"hello world", **extra):
        await self.call("put_object", Bucket="edges", Key=key, Body=body,
                        ChecksumAlgorithm="CRC32", Metadata={"colour": "blue"},
                        ContentType="text/plain", CacheControl="no-cache", **extra)

    async def test_boto3_raises_client_errors_after_headers_were_chosen(self):
        """With checksummed, metadata-carrying objects, boto3's GETs that
        fail late raise ClientError (not TypeError on StreamingChecksumBody)."""
        await self.put_with_everything("obj")
        self.assertEqual(await self.error("get_object", Bucket="edges", Key="obj",
                                          IfMatch='"0123"'), (412, "PreconditionFailed"))
        self.assertEqual(await self.error("get_object", Bucket="edges", Key="obj",
                                          Range="bytes=500-600"), (416, "InvalidRange"))
        self.assertEqual(await self.error("get_object", Bucket="edges", Key="obj",
                                          PartNumber=2), (416, "InvalidPartNumber"))
        self.assertEqual(await self.error("get_object", Bucket="edges", Key="obj",
                                          PartNumber=1, Range="bytes=0-1"),
                         (400, "InvalidRequest"))
        await self.put_with_everything("enc", **sse())
        self.assertEqual(await self.error("get_object", Bucket="edges", Key="enc",
                                          PartNumber=2, **sse()), (416, "InvalidPartNumber"))
        self.assertEqual(await self.error("get_object", Bucket="edges", Key="enc",
                                          Range="bytes=500-", **sse()), (416, "InvalidRange"))

    async def test_raw_error_responses_carry_only_error_headers(self):
        """GET and HEAD failing after the object was found: no ETag,
        Last-Modified, checksum, x-amz-meta-*, Content-Range or the
        object's Content-Type in the answer."""
        await self.put_with_everything("obj")
        mode = {"x-amz-checksum-mode": "ENABLED"}
        cases = [
            ("GET", "", {"if-match": '"0123"', **mode}, 412),
            ("GET", "", {"range": "bytes=500-600", **mode}, 416),
            ("GET", "partNumber=2", mode, 416),
            ("GET", "partNumber=1", {"range": "bytes=0-1", **mode}, 400),
            ("HEAD", "", {"if-match": '"0123"', **mode}, 412),
            ("HEAD", "partNumber=3", mode, 416),
        ]
        for method, query, headers, status in cases:
            code, got, body = await self.raw(method, "obj", query, headers)
            self.assertEqual(code, status, (method, query, headers, body))
            self.assertEqual(set(got).difference(ERROR_HEADERS), set(),
                             (method, query, headers, got))
            self.assertEqual(got["content-type"], ["application/xml"])
            if method == "GET":
                self.assertIn(b"<RequestId>", body)
        code, got, body = await self.raw("GET", "obj", "partNumber=2", mode)
        self.assertIn(b"<Code>InvalidPartNumber</Code>", body)
        # A success still carries them.
        code, got, _ = await self.raw("GET", "obj", "", mode)
        self.assertEqual(code, 200)
        self.assertIn("x-amz-meta-colour", got)
        self.assertIn("x-amz-checksum-crc32", got)

    async def test_cors_headers_stay_on_errors(self):
        """A browser reads no error without the bucket's CORS headers: they stay."""
        await self.call("put_bucket_cors", Bucket="edges", CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET", "HEAD"]}]})
        await self.put_with_everything("obj")
        code, got, _ = await self.raw("GET", "obj", "partNumber=2",
                                      {"origin": "https://app.example"})
        self.assertEqual(code, 416)
        self.assertEqual(got["access-control-allow-origin"], ["https://app.example"])
        self.assertNotIn("x-amz-meta-colour", got)
        self.assertNotIn("etag", got)


class PartNumberReadTests(TestCase):
    """``?partNumber=`` on plain, empty, multipart and SSE-C objects."""

    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="parts")

    async def call(self, method, **kwargs):
        return await in_thread(getattr(self.s3, method), **kwargs)

    async def error(self, method, **kwargs):
        with self.assertRaises(ClientError) as caught:
            await self.call(method, **kwargs)
        response = caught.exception.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]

    async def multipart(self, key, bodies, **extra):
        upload = await self.call("create_multipart_upload", Bucket="parts", Key=key, **extra)
        etags = []
        for number, body in enumerate(bodies, 1):
            result = await self.call("upload_part", Bucket="parts", Key=key, Body=body,
                                     UploadId=upload["UploadId"], PartNumber=number, **extra)
            etags.append({"PartNumber": number, "ETag": result["ETag"]})
        await self.call("complete_multipart_upload", Bucket="parts", Key=key,
                        UploadId=upload["UploadId"], MultipartUpload={"Parts": etags}, **extra)

    async def test_part_one_of_a_plain_object_is_the_whole_object(self):
        """206 with the whole range, without x-amz-mp-parts-count (only
        multipart objects have it); part 2 is 416 InvalidPartNumber."""
        await self.call("put_object", Bucket="parts", Key="plain", Body=b"whole")
        got = await self.call("get_object", Bucket="parts", Key="plain", PartNumber=1)
        self.assertEqual(await in_thread(got["Body"].read), b"whole")
        self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(got["ContentRange"], "bytes 0-4/5")
        self.assertNotIn("PartsCount", got)
        head = await self.call("head_object", Bucket="parts", Key="plain", PartNumber=1)
        self.assertEqual(head["ContentLength"], 5)
        self.assertNotIn("PartsCount", head)
        self.assertEqual(await self.error("get_object", Bucket="parts", Key="plain",
                                          PartNumber=2), (416, "InvalidPartNumber"))
        self.assertEqual((await self.error("head_object", Bucket="parts", Key="plain",
                                          PartNumber=2))[0], 416)

    async def test_part_one_of_an_empty_object(self):
        """An empty object's part 1 is empty: 200 and no Content-Range (no
        byte range of an empty object exists)."""
        await self.call("put_object", Bucket="parts", Key="empty", Body=b"")
        got = await self.call("get_object", Bucket="parts", Key="empty", PartNumber=1)
        self.assertEqual(await in_thread(got["Body"].read), b"")
        self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertNotIn("ContentRange", got)
        head = await self.call("head_object", Bucket="parts", Key="empty", PartNumber=1)
        self.assertEqual((head["ResponseMetadata"]["HTTPStatusCode"], head["ContentLength"]),
                         (200, 0))

    async def test_parts_beyond_a_multipart_object(self):
        part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(70_000)
        await self.multipart("mp", [part1, part2])
        got = await self.call("get_object", Bucket="parts", Key="mp", PartNumber=2)
        self.assertEqual(await in_thread(got["Body"].read), part2)
        self.assertEqual(got["PartsCount"], 2)
        self.assertEqual(await self.error("get_object", Bucket="parts", Key="mp",
                                          PartNumber=3), (416, "InvalidPartNumber"))
        self.assertEqual((await self.error("head_object", Bucket="parts", Key="mp",
                                          PartNumber=3))[0], 416)

    async def test_sse_c_objects(self):
        """The same with SSE-C objects, read with their key."""
        await self.call("put_object", Bucket="parts", Key="enc", Body=b"secret body", **sse())
        got = await self.call("get_object", Bucket="parts", Key="enc", PartNumber=1, **sse())
        self.assertEqual(await in_thread(got["Body"].read), b"secret body")
        self.assertEqual(got["ContentRange"], "bytes 0-10/11")
        self.assertNotIn("PartsCount", got)
        self.assertEqual(await self.error("get_object", Bucket="parts", Key="enc",
                                          PartNumber=2, **sse()), (416, "InvalidPartNumber"))
        self.assertEqual(await self.error("get_object", Bucket="parts", Key="enc",
                                          PartNumber=1), (400, "InvalidRequest"))
        part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(70_000)
        await self.multipart("encmp", [part1, part2], **sse())
        for number, body, start in ((1, part1, 0), (2, part2, len(part1))):
            got = await self.call("get_object", Bucket="parts", Key="encmp",
                                  PartNumber=number, **sse())
            self.assertEqual(await in_thread(got["Body"].read), body)
            self.assertEqual(got["PartsCount"], 2)
            self.assertEqual(got["ContentRange"], f"bytes {start}-{start + len(body) - 1}/"
                                                  f"{len(part1) + len(part2)}")
            head = await self.call("head_object", Bucket="parts", Key="encmp",
                                   PartNumber=number, **sse())
            self.assertEqual((head["ContentLength"], head["PartsCount"]), (len(body), 2))
        self.assertEqual(await self.error("get_object", Bucket="parts", Key="encmp",
                                          PartNumber=3, **sse()), (416, "InvalidPartNumber"))
