"""Serving buckets as static websites, by Host (``[s3_web]``).

The bucket is named by the request's ``Host``: ``<bucket><root_domain>``
(``root_domain`` starts with a dot, as Garage's ``.web.example.org``), or
the whole host name as a bucket's global alias (a custom domain). Only
buckets with a website configuration are served, without authentication,
for GET, HEAD and OPTIONS (CORS preflights); anything else is 405.

For a path: ``RedirectAllRequestsTo`` answers 301 to the other host; a key
ending in ``/`` (or empty) gets the index document appended; routing rules
whose ``KeyPrefixEquals`` matches (and that have no error-code condition)
redirect before any lookup; an object with ``x-amz-website-redirect-location``
answers 301 there; a missing key whose ``key/`` + index exists answers 302
to ``/key/``; otherwise a routing rule for 404, or the error document with
status 404, or a plain 404 page. Objects are streamed as GetObject does
(ranges, conditional requests), with the bucket's CORS headers.

Access: the website flag makes a bucket's objects public, as in Garage; the
bucket's policy can still refuse a read with an explicit Deny (403), which
the access decision says (``api/s3/access.py``, action ``Website``).
"""

import itertools
import secrets
from urllib.parse import quote

from twisted.logger import Logger

from garage_twisted.api.s3 import access, authorization, cors, errors
from garage_twisted.api.s3 import get as get_ops
from garage_twisted.api.s3.context import RequestContext, respond
from garage_twisted.api.s3.metrics import RequestMetrics, body_bytes
from garage_twisted.api.s3.router import Endpoint, decode_path, split_target
from garage_twisted.api.streaming import ClientGone
from garage_twisted.util.errors import QuorumError
from garage_twisted.util.redact import redact_uri
from garage_twisted.util.time import now_msec

NOT_FOUND_PAGE = (b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                  b"<body><h1>404 Not Found</h1></body></html>")


def bucket_name_of(host: str | None, root_domain: str) -> str | None:
    if not host:
        return None
    host = host.lower()
    if host.startswith("["):
        host = host[:host.find("]") + 1]
    elif ":" in host:
        host = host.rsplit(":", 1)[0]
    if root_domain and host.endswith(root_domain.lower()) and \
            len(host) > len(root_domain):
        return host[:-len(root_domain)]
    return host


class WebApi:
    """The website endpoint of one node.

    :param s3: the node's ``S3Api`` (model, blocks, streaming).
    :param root_domain: ``[s3_web] root_domain``.
    """

    log = Logger()

    def __init__(self, s3, root_domain: str):
        self.s3 = s3
        self.root_domain = root_domain
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self.metrics = RequestMetrics("api_web")

    def _page(self, request, status: int, body: bytes = NOT_FOUND_PAGE) -> bytes:
        return respond(request, body, status, content_type=b"text/html; charset=utf-8")

    def _redirect(self, request, code: int, location: str) -> bytes:
        request.setHeader(b"location", location.encode("utf-8"))
        return respond(request, b"", code)

    async def handle(self, request):
        started = self.s3.clock.seconds()
        rest = None
        try:
            rest = await self._handle(request)
            return rest
        finally:
            self.metrics.record(request.method.decode("ascii", "replace")
                                if request.method in (b"GET", b"HEAD", b"OPTIONS") else "Other",
                                request.code, self.s3.clock.seconds() - started,
                                *body_bytes(request, rest))

    async def _handle(self, request):
        request_id = f"{self._prefix}{next(self._counter):08x}"
        request.setHeader(b"x-amz-request-id", request_id.encode())
        request.setHeader(b"server", b"garage-twisted")
        method = request.method.decode("ascii", "replace")
        try:
            problem = self.s3.layout_problem()
            if problem is not None:
                return self._page(request, 503, b"Service unavailable: " + problem.encode())
            host = request.getHeader(b"host")
            name = bucket_name_of(None if host is None else host.decode("latin-1"),
                                  self.root_domain)
            helper = self.s3.helper
            bucket_id = None if name is None else await helper.resolve_bucket(name, None)
            bucket = None if bucket_id is None else await helper.get_bucket(bucket_id)
            config = None if bucket is None or bucket.params is None else \
                bucket.params.website_config.value
            if not config:
                return self._page(request, 404, b"<!DOCTYPE html><html><body><h1>404 Not Found"
                                  b"</h1><p>No website is configured for this host.</p>"
                                  b"</body></html>")
            if method == "OPTIONS":
                return await cors.preflight(self.s3, request, name)
            if method not in ("GET", "HEAD"):
                request.setHeader(b"allow", b"GET, HEAD, OPTIONS")
                return self._page(request, 405, b"Method not allowed")
            cors.add_response_headers(request, bucket)
            raw_path, _ = split_target(request.uri)
            # Not UTF-8 once decoded: 400, not a 404 for a key that cannot exist.
            path = decode_path(raw_path)
            return await self._serve(request, method, name, bucket, config, path,
                                     request_id)
        except ClientGone:
            # Nobody is left to answer.
            self.log.info("web {uri}: client went away", uri=redact_uri(request.uri))
            return None
        except QuorumError as e:
            self.log.warn("web {uri}: {error}", uri=redact_uri(request.uri), error=str(e))
            return self._page(request, 503, b"Service unavailable")
        except errors.S3Error as e:
            if e.status != 304:
                # The page answers an error: not the object's headers.
                errors.keep_error_headers(request.responseHeaders)
            if e.status == 304 or e.status in (412, 416):
                return respond(request, b"", e.status)
            self.log.info("web {uri}: {code} {error}", uri=redact_uri(request.uri),
                          code=e.code, error=str(e))
            return self._page(request, e.status, str(e).encode("utf-8", "replace"))

    def _check_not_denied(self, request, bucket, name: str, key: str) -> None:
        """403 when the bucket's policy explicitly denies an anonymous read
        of ``key``: the website flag makes a bucket public (as Garage), and
        nothing but a Deny takes that back (``api/s3/access.py``)."""
        if bucket.params.policy.value is None:
            return
        address = request.getClientAddress()
        context = {"aws:SourceIp": getattr(address, "host", None),
                   "aws:SecureTransport": bool(request.isSecure()),
                   "aws:CurrentTime": now_msec(self.s3.clock),
                   "aws:Referer": _header(request, b"referer"),
                   "aws:UserAgent": _header(request, b"user-agent")}
        decision = access.decide(access.ANONYMOUS, False,
                                 access.AccessRequest("Website", name, key, context),
                                 authorization.bucket_access(bucket))
        if decision.explicit_deny:
            raise errors.AccessDenied(f"Access Denied ({decision.reason})")

    async def _serve(self, request, method, name, bucket, config, path, request_id):
        bucket_id = bucket.bucket_id
        redirect_all = config.get("redirect_all")
        if redirect_all:
            protocol = redirect_all.get("protocol") or "http"
            return self._redirect(request, 301,
                                  f"{protocol}://{redirect_all['host']}{quote(path)}")
        index = config.get("index_document") or "index.html"
        key = path.lstrip("/")
        if key == "" or key.endswith("/"):
            key += index
        rule = self._rule(config, key, None)
        if rule is not None:
            return self._apply_rule(request, rule, key)
        table = self.s3.model.object_table
        obj = await table.get(bucket_id, key.encode())
        version = None if obj is None else obj.last_data_version()
        if version is not None:
            target = dict(version.data.meta.headers).get("x-amz-website-redirect-location")
            if target:
                return self._redirect(request, 301, target)
            self._check_not_denied(request, bucket, name, key)
            ctx = self._context(request, name, key, bucket_id, request_id)
            if method == "HEAD":
                return await get_ops.head_object(ctx, version=version)
            return await get_ops.get_object(ctx, version=version)
        if not key.endswith(index):
            folder = await table.get(bucket_id, f"{key}/{index}".encode())
            if folder is not None and folder.last_data_version() is not None:
                return self._redirect(request, 302, "/" + quote(key) + "/")
        rule = self._rule(config, key, "404")
        if rule is not None:
            return self._apply_rule(request, rule, key)
        error_key = config.get("error_document")
        if error_key:
            error_obj = await table.get(bucket_id, error_key.encode())
            error_version = None if error_obj is None else error_obj.last_data_version()
            if error_version is not None:
                self._check_not_denied(request, bucket, name, error_key)
                ctx = self._context(request, name, error_key, bucket_id, request_id)
                if method == "HEAD":
                    await get_ops.head_object(ctx, version=error_version)
                    request.setResponseCode(404)
                    return b""
                return await get_ops.get_object(ctx, status=404, version=error_version)
        return self._page(request, 404)

    def _context(self, request, bucket, key, bucket_id, request_id):
        ctx = RequestContext(self.s3, request, Endpoint("GetObject", bucket, key, {}), None,
                             None, request_id)
        ctx.bucket_id = bucket_id
        return ctx

    @staticmethod
    def _rule(config: dict, key: str, error_code: str | None):
        for rule in config.get("routing_rules") or ():
            if rule.get("error_code") != error_code:
                continue
            if rule.get("prefix") is not None and not key.startswith(rule["prefix"]):
                continue
            return rule
        return None

    def _apply_rule(self, request, rule: dict, key: str) -> bytes:
        if rule.get("replace_key") is not None:
            new_key = rule["replace_key"]
        elif rule.get("replace_prefix") is not None:
            prefix = rule.get("prefix") or ""
            new_key = rule["replace_prefix"] + key[len(prefix):]
        else:
            new_key = key
        location = "/" + quote(new_key)
        if rule.get("host"):
            location = f"{rule.get('protocol') or 'http'}://{rule['host']}{location}"
        return self._redirect(request, int(rule.get("code") or 301), location)


def _header(request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")
