"""The website endpoint: buckets served by Host, index and error documents,
redirects, routing rules, CORS; configured through boto3 and the admin API."""

import json

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from tests.support.node import NodeFixture, in_thread

WEB = '[s3_web]\nbind_addr = "127.0.0.1:0"\nroot_domain = ".web.test"\n'


class WebsiteTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture = await NodeFixture.start(self, block_size=64 * 1024, extra=WEB)
        key = await self.fixture.create_key()
        self.s3 = self.fixture.boto3_client(key)
        self.addCleanup(self.s3.close)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        await in_thread(self.s3.create_bucket, Bucket="site")
        for name, body in (("index.html", b"<h1>home</h1>"), ("about/index.html", b"about"),
                           ("404.html", b"custom not found"), ("big.bin", b"z" * 200_000)):
            await in_thread(self.s3.put_object, Bucket="site", Key=name, Body=body,
                            ContentType="text/html")
        await in_thread(self.s3.put_object, Bucket="site", Key="moved", Body=b"",
                        WebsiteRedirectLocation="https://elsewhere.example/x")
        self.web = f"http://127.0.0.1:{self.fixture.node.web_listener.port}"

    async def get(self, path, host="site.web.test", method="GET", headers=None):
        response = await treq.request(method, self.web + path, headers={
            "Host": host, **(headers or {})}, pool=self.pool, allow_redirects=False)
        return response, await treq.content(response)

    async def test_not_served_until_configured(self):
        response, _ = await self.get("/")
        self.assertEqual(response.code, 404)

    async def test_site(self):
        await in_thread(self.s3.put_bucket_website, Bucket="site", WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"},
            "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"},
                              "Redirect": {"ReplaceKeyPrefixWith": "new/"}}]})
        got = await in_thread(self.s3.get_bucket_website, Bucket="site")
        self.assertEqual(got["ErrorDocument"]["Key"], "404.html")
        response, body = await self.get("/")
        self.assertEqual((response.code, body), (200, b"<h1>home</h1>"))
        response, body = await self.get("/about")
        self.assertEqual(response.code, 302)
        self.assertEqual(response.headers.getRawHeaders("location"), ["/about/"])
        response, body = await self.get("/about/")
        self.assertEqual(body, b"about")
        response, body = await self.get("/nothing/here")
        self.assertEqual((response.code, body), (404, b"custom not found"))
        response, _ = await self.get("/old/page.html")
        self.assertEqual((response.code, response.headers.getRawHeaders("location")),
                         (301, ["/new/page.html"]))
        response, _ = await self.get("/moved")
        self.assertEqual(response.headers.getRawHeaders("location"),
                         ["https://elsewhere.example/x"])
        response, body = await self.get("/big.bin", headers={"Range": "bytes=10-19"})
        self.assertEqual((response.code, body), (206, b"z" * 10))
        response, body = await self.get("/index.html", method="HEAD")
        self.assertEqual((response.code, body), (200, b""))
        response, _ = await self.get("/", method="POST")
        self.assertEqual(response.code, 405)
        # The bucket's global alias as the whole host name (a custom domain).
        response, body = await self.get("/", host="site")
        self.assertEqual(body, b"<h1>home</h1>")
        await in_thread(self.s3.delete_bucket_website, Bucket="site")
        response, _ = await self.get("/")
        self.assertEqual(response.code, 404)

    async def test_redirect_all_and_cors(self):
        await in_thread(self.s3.put_bucket_website, Bucket="site", WebsiteConfiguration={
            "RedirectAllRequestsTo": {"HostName": "www.example.org", "Protocol": "https"}})
        response, _ = await self.get("/a b")
        self.assertEqual(response.headers.getRawHeaders("location"),
                         ["https://www.example.org/a%20b"])
        await in_thread(self.s3.put_bucket_website, Bucket="site", WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"}})
        await in_thread(self.s3.put_bucket_cors, Bucket="site", CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
        response, _ = await self.get("/", headers={"Origin": "https://x.example"})
        self.assertEqual(response.headers.getRawHeaders("access-control-allow-origin"), ["*"])
        response, _ = await self.get("/", method="OPTIONS", headers={
            "Origin": "https://x.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(response.code, 200)

    async def test_admin_website_access(self):
        helper = self.fixture.node.helper
        bucket_id = await helper.resolve_bucket("site", None)
        response = await treq.post(
            f"{self.fixture.admin_url}/v2/UpdateBucket?id={bucket_id.hex()}",
            data=json.dumps({"websiteAccess": {"enabled": True, "indexDocument": "index.html",
                                               "errorDocument": "404.html"}}).encode(),
            headers={"Authorization": f"Bearer {self.fixture.admin_token}"}, pool=self.pool)
        self.assertEqual(response.code, 200, await treq.content(response))
        response, body = await self.get("/missing")
        self.assertEqual((response.code, body), (404, b"custom not found"))
