"""Authentication failures are S3 errors and write nothing; every SigV4 form works."""

import base64
import zlib

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support import signer
from tests.support.node import NodeFixture


class S3AuthTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self, block_size=64 * 1024)
        self.key = await self.fixture.create_key()
        await self.fixture.create_bucket("auth", self.key)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.secret = self.key.params.secret_key

    def url(self, key="obj"):
        return f"{self.fixture.endpoint}/auth/{key}"

    async def request(self, method, url, headers=None, data=None):
        response = await treq.request(method, url, headers=headers, data=data, pool=self.pool)
        return response.code, await treq.content(response)

    async def put_signed(self, body, payload_hash=None, **kwargs):
        import hashlib

        payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
        headers, *_ = signer.sign("PUT", self.url(), self.key.key_id,
                                  kwargs.pop("secret", self.secret),
                                  kwargs.pop("region", "garage"), payload_hash, **kwargs)
        return await self.request("PUT", self.url(), headers, body)

    async def assertNothingWritten(self):
        obj = await self.fixture.node.model.object_table.get(
            (await self.fixture.node.helper.resolve_global_alias("auth")), b"obj")
        self.assertTrue(obj is None or obj.last_data_version() is None)

    async def test_signed_sha256_payload(self):
        """A header-signed PUT with a hex payload hash is stored."""
        code, _ = await self.put_signed(b"hello")
        self.assertEqual(code, 200)

    async def test_payload_hash_mismatch(self):
        """A body that does not match its x-amz-content-sha256 is refused."""
        code, body = await self.put_signed(b"hello", payload_hash="0" * 64)
        self.assertEqual(code, 400)
        self.assertIn(b"<Code>XAmzContentSHA256Mismatch</Code>", body)
        await self.assertNothingWritten()

    async def test_wrong_secret(self):
        """A wrong secret gets 403 SignatureDoesNotMatch and writes nothing."""
        code, body = await self.put_signed(b"hello", secret="1" * 64)
        self.assertEqual(code, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        await self.assertNothingWritten()

    async def test_one_connection_over_its_request_rate_gets_slow_down(self):
        """Requests beyond a connection's rate are 503 SlowDown; another
        connection has its own allowance."""
        self.fixture.node.s3_api.connection_rate = (0.001, 3)
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 1
        self.addCleanup(pool.closeCachedConnections)
        codes = []
        for _ in range(5):
            response = await treq.get(self.url(), pool=pool)
            body = await treq.content(response)
            codes.append(response.code)
        self.assertEqual(codes, [403, 403, 403, 503, 503])
        self.assertIn(b"<Code>SlowDown</Code>", body)
        code, _ = await self.request("GET", self.url())  # a new connection
        self.assertEqual(code, 403)

    async def test_wrong_region(self):
        """A request signed for another region gets 400 naming the expected one."""
        code, body = await self.put_signed(b"hello", region="us-east-1")
        self.assertEqual(code, 400)
        self.assertIn(b"<Code>AuthorizationHeaderMalformed</Code>", body)
        self.assertIn(b"expecting &apos;garage&apos;", body.replace(b"'", b"&apos;"))
        await self.assertNothingWritten()

    async def test_skewed_clock(self):
        """A request dated two hours ago is refused with RequestTimeTooSkewed."""
        code, body = await self.put_signed(b"hello", when=signer.past(2))
        self.assertEqual(code, 403)
        self.assertIn(b"<Code>RequestTimeTooSkewed</Code>", body)

    async def test_unknown_key(self):
        """An unknown access key gets InvalidAccessKeyId."""
        headers, *_ = signer.sign("GET", self.url(), "GK000000000000000000000000", "x" * 64,
                                  "garage", signer.EMPTY)
        code, body = await self.request("GET", self.url(), headers)
        self.assertEqual(code, 403)
        self.assertIn(b"<Code>InvalidAccessKeyId</Code>", body)

    async def test_anonymous(self):
        """An unsigned request gets AccessDenied."""
        code, body = await self.request("GET", self.url())
        self.assertEqual(code, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)

    async def _streaming_put(self, tamper_index=None):
        chunks = [b"a" * 70000, b"b" * 1000]
        total = sum(map(len, chunks))
        import hashlib  # noqa: F401

        probe_headers = {"content-encoding": "aws-chunked",
                         "x-amz-decoded-content-length": str(total)}
        headers, seed, key, scope, amz_date = signer.sign(
            "PUT", self.url(), self.key.key_id, self.secret, "garage",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", probe_headers)
        body = signer.signed_chunks(chunks, seed, key, scope, amz_date, tamper_index)
        return await self.request("PUT", self.url(), headers, body), b"".join(chunks)

    async def test_streaming_signed_payload(self):
        """A signed aws-chunked body is decoded and stored."""
        (code, _), data = await self._streaming_put()
        self.assertEqual(code, 200)
        bucket_id = await self.fixture.node.helper.resolve_global_alias("auth")
        obj = await self.fixture.node.model.object_table.get(bucket_id, b"obj")
        self.assertEqual(obj.last_data_version().data.meta.size, len(data))

    async def test_tampered_chunk_signature(self):
        """A chunk whose data does not match its signature is refused; nothing is written."""
        (code, body), _ = await self._streaming_put(tamper_index=1)
        self.assertEqual(code, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        await self.assertNothingWritten()

    async def test_unsigned_trailer_checksum(self):
        """STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer is checked."""
        data = b"x" * 5000
        good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        for value, expected in ((good, 200), ("AAAAAA==", 400)):
            headers, *_ = signer.sign(
                "PUT", self.url(), self.key.key_id, self.secret, "garage",
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                {"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                 "x-amz-decoded-content-length": str(len(data))})
            body = signer.unsigned_chunks_with_trailer([data], "x-amz-checksum-crc32", value)
            code, answer = await self.request("PUT", self.url(), headers, body)
            self.assertEqual(code, expected, answer)

    async def test_presigned_expired(self):
        """An expired presigned URL gets 403 AccessDenied."""
        url = signer.presign("GET", self.url(), self.key.key_id, self.secret, "garage", 60,
                             when=signer.past(1))
        code, body = await self.request("GET", url)
        self.assertEqual(code, 403)
        self.assertIn(b"Request has expired", body)

    async def test_presigned_too_long(self):
        """A presigned URL valid for more than 7 days is refused 403
        AccessDenied (issue 23: as S3 conformance suites expect)."""
        url = signer.presign("GET", self.url(), self.key.key_id, self.secret, "garage",
                             8 * 24 * 3600)
        code, body = await self.request("GET", url)
        self.assertEqual(code, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)

    async def test_presigned_put(self):
        """A presigned PUT URL uploads without credentials."""
        url = signer.presign("PUT", self.url(), self.key.key_id, self.secret, "garage", 300)
        code, _ = await self.request("PUT", url, data=b"presigned body")
        self.assertEqual(code, 200)
        get = signer.presign("GET", self.url(), self.key.key_id, self.secret, "garage", 300)
        code, body = await self.request("GET", get)
        self.assertEqual((code, body), (200, b"presigned body"))

    async def test_content_md5(self):
        """A wrong Content-MD5 is BadDigest; a malformed one InvalidDigest."""
        code, body = await self.put_signed(
            b"hello", headers={"content-md5": base64.b64encode(b"0" * 16).decode()})
        self.assertIn(b"<Code>BadDigest</Code>", body)
        code, body = await self.put_signed(b"hello", headers={"content-md5": "nope"})
        self.assertIn(b"<Code>InvalidDigest</Code>", body)
        await self.assertNothingWritten()


class LayoutNotReadyTests(TestCase):
    timeout = 30

    async def test_s3_unavailable_without_layout(self):
        """Before a layout gives the node a role, S3 answers 503 with a hint."""
        fixture = await NodeFixture.start(self, apply_layout=False)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        response = await treq.get(f"{fixture.endpoint}/", pool=pool)
        body = await treq.content(response)
        self.assertEqual(response.code, 503)
        self.assertIn(b"garage layout assign", body)
