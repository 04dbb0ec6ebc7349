"""The operator console at ``/`` of the admin endpoint: its static files,
and the same-origin path its object transfers take to S3.

Static files are read once from ``static/`` beside this module and served
by exact name from that list: no file path is ever built from the request,
so nothing outside the list can be named (``..``, encoded or not, is just
a name that is not in it). Each answer has its content type,
``X-Content-Type-Options: nosniff`` and a strict Content-Security-Policy:
scripts, styles and connections to this origin only, no inline script or
style, no plugin, no framing, no form submission (the sign-in form is
handled by script: if the script did not run, the token is not sent in a
URL). The console then talks to the admin API (``/v2/``, a bearer token
from ``sessionStorage``) and to ``/metrics``, on this origin.

``/s3/<path>`` hands a request to the node's own S3 resource with the
``/s3`` prefix taken off and nothing else changed: the browser presigns
the request as S3 sees it (this endpoint's host, the path without the
prefix) with an access key's secret, and S3 checks the signature, the
key's rights and the bucket's policy as for any client. Only SigV4
presigned requests pass (``X-Amz-Algorithm=AWS4-HMAC-SHA256`` and an
``X-Amz-Signature`` in the query, no ``Authorization`` header); any other,
anonymous ones included, is refused (403) before S3 sees it, so the admin
port gives no access the S3 port does not. Its answers carry
``Content-Security-Policy: sandbox``: an object opened in the browser (an
HTML page uploaded by anyone who may write to a bucket) runs in no origin
and cannot read the console's token. Why this path rather than CORS on the
S3 endpoint: docs/operations.rst, "The console".
"""

import json
import os
from urllib.parse import parse_qsl

from twisted.logger import Logger

from garage_twisted.api.s3 import authorization, sigv2

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
S3_PREFIX = b"/s3"

CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
}

CONSOLE_CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; "
               b"img-src 'self' data:; connect-src 'self'; font-src 'self'; "
               b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# An object served through /s3/ is data, never a page of this origin.
S3_CSP = b"sandbox; default-src 'none'; frame-ancestors 'none'"

COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def load_static(directory: str = STATIC_DIR) -> dict:
    """``{url path: (body, content type)}`` for every file of ``directory``
    whose suffix has a known content type (read once, at start)."""
    files = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            content_type = CONTENT_TYPES.get(os.path.splitext(name)[1])
            if content_type is None:
                continue
            path = os.path.join(root, name)
            relative = os.path.relpath(path, directory).replace(os.sep, "/")
            with open(path, "rb") as f:
                files["/" + relative] = (f.read(), content_type)
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


def _is_presigned_v4(request, raw_query: bytes) -> bool:
    """Whether S3 will check this request as a SigV4 presigned URL: its
    parameters say so, and S3's own tests (which read the raw query) take
    it neither as anonymous nor as SigV2. Decoded parameters alone passed
    ``X-Amz-Si%67nature=``, which S3 then served as an anonymous request."""
    query = raw_query.decode("latin-1")
    params = dict(parse_qsl(query, keep_blank_values=True))
    return (params.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256"
            and bool(params.get("X-Amz-Signature")) and bool(params.get("X-Amz-Credential"))
            and not authorization.is_anonymous(request, query)
            and not sigv2.is_sigv2({}, query))


class Console:
    """Answers every admin endpoint request that no API route takes.

    :param s3_resource: the node's S3 resource (a twisted.web leaf), or
        ``None``: ``/s3/`` then answers 501 and the console says object
        transfers are not available on this node.
    :param region: the S3 region, which the browser needs to presign.
    :param files: the static files (:func:`load_static` by default).
    """

    log = Logger()

    def __init__(self, s3_resource=None, region: str = "garage", files: dict | None = None):
        self.s3_resource = s3_resource
        self.region = region
        self.files = load_static() if files is None else files

    @staticmethod
    def _security_headers(request, csp: bytes) -> None:
        request.setHeader(b"content-security-policy", csp)
        for name, value in COMMON_HEADERS:
            request.setHeader(name, value)

    def _plain(self, request, status: int, text: str) -> bytes:
        body = text.encode() + b"\n"
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"content-length", b"%d" % len(body))
        return body

    def render(self, request):
        """Bytes to answer, or the S3 resource to render the request."""
        raw_path, _, raw_query = request.uri.partition(b"?")
        if raw_path == S3_PREFIX or raw_path.startswith(S3_PREFIX + b"/"):
            return self._to_s3(request, raw_path, raw_query)
        self._security_headers(request, CONSOLE_CSP)
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            return self._plain(request, 405, "the console's files are read with GET")
        if raw_path == b"/settings.json":
            return self._settings(request)
        found = self.files.get(raw_path.decode("latin-1"))
        if found is None:
            return self._plain(request, 404, "no such file in the console")
        body, content_type = found
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"content-length", b"%d" % len(body))
        # Files change with the package: the browser asks again each time
        # (they are small, and a stale module next to a new one breaks).
        request.setHeader(b"cache-control", b"no-cache")
        return body

    def _settings(self, request) -> bytes:
        # Nothing secret: the region is in every admin API error answer.
        body = json.dumps({"s3Region": self.region,
                           "s3Path": None if self.s3_resource is None else "/s3"}).encode()
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"content-length", b"%d" % len(body))
        request.setHeader(b"cache-control", b"no-store")
        return body

    def _to_s3(self, request, raw_path: bytes, raw_query: bytes):
        self._security_headers(request, S3_CSP)
        if self.s3_resource is None:
            return self._plain(request, 501, "this node's admin endpoint has no S3 path")
        if request.getHeader(b"authorization") is not None or \
                not _is_presigned_v4(request, raw_query):
            return self._plain(request, 403, "only SigV4 presigned S3 requests are taken here")
        # Exactly what the browser signed: the path without the prefix.
        request.uri = (raw_path[len(S3_PREFIX):] or b"/") + (
            b"?" + raw_query if raw_query else b"")
        return self.s3_resource
