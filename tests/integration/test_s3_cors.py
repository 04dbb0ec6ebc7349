"""CORS: bucket rules through boto3, preflights and response headers over raw HTTP."""

import treq
from botocore.exceptions import ClientError
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import in_thread, start_with_s3_client

RULES = {"CORSRules": [
    {"AllowedOrigins": ["https://app.example.org", "https://*.photos.example"],
     "AllowedMethods": ["GET", "PUT", "POST"], "AllowedHeaders": ["Content-Type", "x-amz-*"],
     "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]}


class CorsTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="web")
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)

    async def raw(self, method, path, headers):
        response = await treq.request(method, f"{self.fixture.endpoint}{path}",
                                      headers=headers, pool=self.pool)
        await treq.content(response)
        return response

    async def test_rules_round_trip_and_delete(self):
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.get_bucket_cors, Bucket="web")
        self.assertEqual(caught.exception.response["Error"]["Code"], "NoSuchCORSConfiguration")
        await in_thread(self.s3.put_bucket_cors, Bucket="web", CORSConfiguration=RULES)
        got = await in_thread(self.s3.get_bucket_cors, Bucket="web")
        self.assertEqual(got["CORSRules"][0]["AllowedOrigins"], RULES["CORSRules"][0]["AllowedOrigins"])
        self.assertEqual(got["CORSRules"][0]["MaxAgeSeconds"], 600)
        self.assertEqual(got["CORSRules"][1]["AllowedMethods"], ["GET"])
        await in_thread(self.s3.delete_bucket_cors, Bucket="web")
        with self.assertRaises(ClientError):
            await in_thread(self.s3.get_bucket_cors, Bucket="web")

    async def test_bad_rules_refused(self):
        with self.assertRaises(ClientError) as caught:
            await in_thread(self.s3.put_bucket_cors, Bucket="web", CORSConfiguration={
                "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
        self.assertEqual(caught.exception.response["Error"]["Code"], "MalformedXML")

    async def test_preflight_without_credentials(self):
        await in_thread(self.s3.put_bucket_cors, Bucket="web", CORSConfiguration=RULES)
        response = await self.raw("OPTIONS", "/web/upload.jpg", {
            "Origin": "https://app.example.org", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-amz-date"})
        self.assertEqual(response.code, 200)
        h = response.headers
        self.assertEqual(h.getRawHeaders("access-control-allow-origin"),
                         ["https://app.example.org"])
        self.assertEqual(h.getRawHeaders("access-control-allow-methods"), ["GET, PUT, POST"])
        self.assertEqual(h.getRawHeaders("access-control-allow-headers"),
                         ["content-type, x-amz-date"])
        self.assertEqual(h.getRawHeaders("access-control-max-age"), ["600"])
        # A wildcard origin pattern.
        response = await self.raw("OPTIONS", "/web/k", {
            "Origin": "https://alice.photos.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(response.code, 200)
        # Not allowed: method, header or origin.
        for headers in ({"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
                        {"Origin": "https://app.example.org",
                         "Access-Control-Request-Method": "DELETE"},
                        {"Origin": "https://app.example.org",
                         "Access-Control-Request-Method": "PUT",
                         "Access-Control-Request-Headers": "x-secret"}):
            response = await self.raw("OPTIONS", "/web/k", headers)
            self.assertEqual(response.code, 403, headers)
        # Anyone may GET (second rule): answered with "*".
        response = await self.raw("OPTIONS", "/web/k", {
            "Origin": "https://other.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(response.headers.getRawHeaders("access-control-allow-origin"), ["*"])

    async def test_headers_on_signed_responses(self):
        await in_thread(self.s3.put_bucket_cors, Bucket="web", CORSConfiguration=RULES)
        await in_thread(self.s3.put_object, Bucket="web", Key="k", Body=b"data")
        url = await in_thread(self.s3.generate_presigned_url, "get_object",
                              Params={"Bucket": "web", "Key": "k"}, ExpiresIn=60)
        response = await treq.get(url, headers={"Origin": "https://app.example.org"},
                                  pool=self.pool)
        self.assertEqual(await treq.content(response), b"data")
        self.assertEqual(response.headers.getRawHeaders("access-control-allow-origin"),
                         ["https://app.example.org"])
        self.assertEqual(response.headers.getRawHeaders("access-control-expose-headers"),
                         ["ETag"])
        # Errors too (a missing key), so the page can read them.
        url = await in_thread(self.s3.generate_presigned_url, "get_object",
                              Params={"Bucket": "web", "Key": "missing"}, ExpiresIn=60)
        response = await treq.get(url, headers={"Origin": "https://app.example.org"},
                                  pool=self.pool)
        await treq.content(response)
        self.assertEqual(response.code, 404)
        self.assertEqual(response.headers.getRawHeaders("access-control-allow-origin"),
                         ["https://app.example.org"])
