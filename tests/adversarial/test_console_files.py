"""The console at / of the admin endpoint gives nothing away (issue 27).

- No file outside its list is served, however the path is written (``..``,
  encoded, doubled slashes, the module's own name): the list is built once
  from ``static/``, and a request names an entry of it or nothing.
- Every answer carries the strict Content-Security-Policy and ``nosniff``,
  with the right content type (a module script served as text/plain would
  not run; a JSON or text answer sniffed as HTML would).
- ``/s3/`` takes SigV4 presigned requests only: an anonymous one (to a
  public bucket), a header-signed one and a SigV2 one are refused before S3
  sees them, so the admin port opens nothing the S3 port does not. What it
  serves is sandboxed: an HTML object uploaded by anyone with write access,
  opened in the browser, runs in no origin and cannot read the console's
  token.
- The API routes beside it still answer as before.
"""

import http.client
import json

from twisted.trial.unittest import TestCase

from tests.support import signer
from tests.support.node import in_thread, start_with_s3_client

REQUIRED_CSP = ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                "frame-ancestors 'none'", "form-action 'none'")


def raw_request(port, method, path, headers=None, body=None):
    """One HTTP request with ``path`` sent exactly as given (no client-side
    normalization); ``(status, headers dict, body)``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


class ConsoleFilesTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.fixture, self.key, self.s3 = await start_with_s3_client(self, 64 * 1024,
                                                                     bucket="site")
        self.port = self.fixture.node.admin_listener.port

    def get(self, path, method="GET", headers=None, body=None):
        return in_thread(raw_request, self.port, method, path, headers, body)

    async def test_no_path_reaches_outside_the_list(self):
        for path in ("/../serve.py", "/%2e%2e/serve.py", "/%2E%2E/__init__.py",
                     "/..%2fserve.py", "/static/../serve.py", "/pages/../../serve.py",
                     "/pages/%2e%2e/%2e%2e/serve.py", "//etc/passwd", "/serve.py",
                     "/__init__.py", "/static/index.html", "/index.html/", "/app.js%00.html",
                     "/.%2e/.%2e/setup.cfg", "/%5c..%5cserve.py", "/pages/", "/pages"):
            status, headers, body = await self.get(path)
            self.assertEqual(status, 404, path)
            self.assertNotIn(b"import", body, path)
            self.assertEqual(headers["x-content-type-options"], "nosniff", path)

    async def test_files_have_their_type_and_the_policy(self):
        for path, content_type in (("/", "text/html; charset=utf-8"),
                                   ("/index.html", "text/html; charset=utf-8"),
                                   ("/app.js", "text/javascript; charset=utf-8"),
                                   ("/pages/objects.js", "text/javascript; charset=utf-8"),
                                   ("/console.css", "text/css; charset=utf-8"),
                                   ("/favicon.svg", "image/svg+xml"),
                                   ("/settings.json", "application/json")):
            status, headers, body = await self.get(path)
            self.assertEqual((status, headers["content-type"]), (200, content_type), path)
            self.assertEqual(headers["x-content-type-options"], "nosniff")
            for directive in REQUIRED_CSP:
                self.assertIn(directive, headers["content-security-policy"], path)
            self.assertNotIn("unsafe-inline", headers["content-security-policy"])
        status, headers, body = await self.get("/")
        # No inline script or style in the page itself: the policy would
        # block it, and the console must not need it.
        self.assertNotIn(b"<script>", body)
        self.assertNotIn(b"style=", body)
        self.assertNotIn(b"<style", body)
        status, headers, body = await self.get("/", "POST", body=b"x")
        self.assertEqual(status, 405)
        self.assertEqual(json.loads((await self.get("/settings.json"))[2]),
                         {"s3Region": "garage", "s3Path": "/s3"})

    async def test_api_routes_still_answer(self):
        token = {"Authorization": f"Bearer {self.fixture.admin_token}"}
        self.assertEqual((await self.get("/health"))[0], 200)
        self.assertEqual((await self.get("/metrics"))[0], 200)
        status, _, body = await self.get("/v2/GetClusterHealth", headers=token)
        self.assertEqual(status, 200)
        self.assertIn("status", json.loads(body))
        status, _, body = await self.get("/v2/GetClusterHealth")
        self.assertEqual(status, 403)
        status, _, body = await self.get("/v2/NoSuchThing", headers=token)
        self.assertEqual((status, json.loads(body)["code"]), (404, "NoSuchEndpoint"))
        status, headers, _ = await self.get("/v2/ListBuckets", "OPTIONS")
        self.assertEqual((status, headers["access-control-allow-origin"]), (200, "*"))
        status, _, body = await self.get("/check?domain=nothing.example")
        self.assertEqual(status, 400)

    def presigned(self, method, path, expires=300):
        url = signer.presign(method, f"http://127.0.0.1:{self.port}{path}", self.key.key_id,
                             self.key.params.secret_key, "garage", expires)
        return url.split(f":{self.port}", 1)[1].replace(path, "/s3" + path, 1)

    async def test_s3_path_takes_presigned_v4_only(self):
        await in_thread(self.s3.put_object, Bucket="site", Key="page.html",
                        Body=b"<script>alert(sessionStorage.length)</script>",
                        ContentType="text/html")
        await in_thread(self.s3.put_bucket_policy, Bucket="site", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::site/*"}]}))
        # Public on the S3 port; refused here.
        status, _, body = await self.get("/s3/site/page.html")
        self.assertEqual(status, 403)
        self.assertIn(b"presigned", body)
        # A header-signed request, valid for S3, is refused here too.
        headers, *_ = signer.sign("GET", f"http://127.0.0.1:{self.port}/site/page.html",
                                  self.key.key_id, self.key.params.secret_key, "garage",
                                  signer.EMPTY)
        status, _, _ = await self.get("/s3/site/page.html", headers=headers)
        self.assertEqual(status, 403)
        # SigV2 query authentication.
        status, _, _ = await self.get(
            f"/s3/site/page.html?AWSAccessKeyId={self.key.key_id}&Expires=4102444800"
            "&Signature=abc")
        self.assertEqual(status, 403)
        # SigV4 parameters whose names are percent-encoded: S3 reads the raw
        # query, takes the request as anonymous and would serve the public
        # object; and SigV2 parameters behind dummy SigV4 ones.
        for query in ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Si%67nature=x"
                      "&X-Amz-Cr%65dential=x",
                      f"AWSAccessKeyId={self.key.key_id}&Expires=4102444800&Signature=abc"
                      "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=x"
                      "&X-Amz-Credential=x"):
            status, _, _ = await self.get(f"/s3/site/page.html?{query}")
            self.assertEqual(status, 403, query)
        # A presigned SigV4 URL signed for another path fails S3's check.
        wrong = self.presigned("GET", "/site/other.html").replace("other.html", "page.html")
        status, _, body = await self.get(wrong)
        self.assertEqual(status, 403)
        self.assertIn(b"SignatureDoesNotMatch", body)
        # The right one is served, sandboxed: no origin, no script.
        status, headers, body = await self.get(self.presigned("GET", "/site/page.html"))
        self.assertEqual(status, 200)
        self.assertEqual(body, b"<script>alert(sessionStorage.length)</script>")
        self.assertTrue(headers["content-security-policy"].startswith("sandbox"))
        self.assertEqual(headers["x-content-type-options"], "nosniff")
