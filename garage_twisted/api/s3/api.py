"""The S3 front end: one catch-all resource, dispatch, error rendering.

For each request: parse the raw target into an :class:`Endpoint`, verify the
signature and find the caller's key, resolve the bucket and check the key's
rights on it, then call the operation's handler. Every error leaves as S3
XML through :func:`~garage_twisted.api.s3.errors.render_error_xml`; an
unexpected exception is logged with its traceback and answered 500
InternalError. Operations S3 defines but this node does not implement get 501
NotImplemented.

The resource is a plain twisted.web leaf, not a Klein app: S3 routes from
the raw method, host, path and query (:mod:`.router`), so Klein's URL map
had nothing to route, and binding it cost about 12% of the reactor's time
under small requests. (The admin API, which has real routes, uses Klein.)
"""

import itertools
import secrets

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from garage_twisted.api.s3 import acl as acl_ops
from garage_twisted.api.s3 import attributes as attributes_ops
from garage_twisted.api.s3 import authorization
from garage_twisted.api.s3 import bucket as bucket_ops
from garage_twisted.api.s3 import bucket_encryption as encryption_ops
from garage_twisted.api.s3 import bucket_policy as policy_ops
from garage_twisted.api.s3 import copy as copy_ops
from garage_twisted.api.s3 import cors as cors_ops
from garage_twisted.api.s3 import delete as delete_ops
from garage_twisted.api.s3 import lifecycle as lifecycle_ops
from garage_twisted.api.s3 import errors
from garage_twisted.api.s3 import get as get_ops
from garage_twisted.api.s3 import listing as list_ops
from garage_twisted.api.s3 import multipart as mpu_ops
from garage_twisted.api.s3 import object_lock as lock_ops
from garage_twisted.api.s3 import post as post_ops
from garage_twisted.api.s3 import put as put_ops
from garage_twisted.api.s3 import tagging as tagging_ops
from garage_twisted.api.s3 import unbuilt
from garage_twisted.api.s3 import versioning as versioning_ops
from garage_twisted.api.s3 import versions as versions_ops
from garage_twisted.api.s3 import website as website_ops
from garage_twisted.api.s3.auth import authenticate
from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import OWNER, READ, WRITE, RequestContext
from garage_twisted.api.s3.metrics import RequestMetrics, body_bytes
from garage_twisted.api.streaming import BodyIncomplete, ClientGone
from garage_twisted.block.errors import BlockWriteRefused
from garage_twisted.db.errors import MetadataStoreFailed
from garage_twisted.api.s3.router import (
    locate, parse_endpoint, parse_query, split_target, with_copy_source,
)
from garage_twisted.model.errors import ModelError
from garage_twisted.util.errors import QuorumError
from garage_twisted.util.ratelimit import TokenBucket
from garage_twisted.util.redact import redact_uri

# How much of a refused upload's body is read and dropped before answering.
DRAIN_LIMIT = 8 * 1024 * 1024
# Per client connection: requests per second, burst.
CONNECTION_RATE = (1000.0, 2000.0)

# endpoint name -> (handler, right needed on the bucket)
HANDLERS = {
    "HeadBucket": (bucket_ops.head_bucket, READ),
    "GetBucketLocation": (bucket_ops.get_bucket_location, READ),
    "GetBucketVersioning": (versioning_ops.get_bucket_versioning, READ),
    "PutBucketVersioning": (versioning_ops.put_bucket_versioning, OWNER),
    "GetObjectLockConfiguration": (lock_ops.get_object_lock_configuration, READ),
    "PutObjectLockConfiguration": (lock_ops.put_object_lock_configuration, OWNER),
    "GetObjectRetention": (lock_ops.get_object_retention, READ),
    "PutObjectRetention": (lock_ops.put_object_retention, WRITE),
    "GetObjectLegalHold": (lock_ops.get_object_legal_hold, READ),
    "PutObjectLegalHold": (lock_ops.put_object_legal_hold, WRITE),
    "GetBucketAcl": (acl_ops.get_bucket_acl, READ),
    "PutBucketAcl": (acl_ops.put_bucket_acl, OWNER),
    "GetObjectAcl": (acl_ops.get_object_acl, READ),
    "PutObjectAcl": (acl_ops.put_object_acl, WRITE),
    "GetPublicAccessBlock": (acl_ops.get_public_access_block, OWNER),
    "PutPublicAccessBlock": (acl_ops.put_public_access_block, OWNER),
    "DeletePublicAccessBlock": (acl_ops.delete_public_access_block, OWNER),
    "GetBucketPolicy": (policy_ops.get_bucket_policy, OWNER),
    "PutBucketPolicy": (policy_ops.put_bucket_policy, OWNER),
    "DeleteBucketPolicy": (policy_ops.delete_bucket_policy, OWNER),
    "GetBucketPolicyStatus": (policy_ops.get_bucket_policy_status, OWNER),
    "DeleteBucket": (bucket_ops.delete_bucket, OWNER),
    "ListObjectsV2": (list_ops.list_objects_v2, READ),
    "ListObjects": (list_ops.list_objects_v1, READ),
    "ListObjectVersions": (versions_ops.list_object_versions, READ),
    "GetObject": (get_ops.get_object, READ),
    "HeadObject": (get_ops.head_object, READ),
    "GetObjectAttributes": (attributes_ops.get_object_attributes, READ),
    "PutObject": (put_ops.put_object, WRITE),
    "DeleteObject": (delete_ops.delete_object, WRITE),
    "DeleteObjects": (delete_ops.delete_objects, WRITE),
    "CopyObject": (copy_ops.copy_object, WRITE),
    "UploadPartCopy": (copy_ops.upload_part_copy, WRITE),
    "GetObjectTagging": (tagging_ops.get_object_tagging, READ),
    "PutObjectTagging": (tagging_ops.put_object_tagging, WRITE),
    "DeleteObjectTagging": (tagging_ops.delete_object_tagging, WRITE),
    "GetBucketTagging": (tagging_ops.get_bucket_tagging, OWNER),
    "PutBucketTagging": (tagging_ops.put_bucket_tagging, OWNER),
    "DeleteBucketTagging": (tagging_ops.delete_bucket_tagging, OWNER),
    "PutBucketCors": (cors_ops.put_bucket_cors, OWNER),
    "GetBucketCors": (cors_ops.get_bucket_cors, OWNER),
    "DeleteBucketCors": (cors_ops.delete_bucket_cors, OWNER),
    "PutBucketLifecycleConfiguration": (lifecycle_ops.put_bucket_lifecycle, WRITE),
    "GetBucketLifecycleConfiguration": (lifecycle_ops.get_bucket_lifecycle, READ),
    "DeleteBucketLifecycle": (lifecycle_ops.delete_bucket_lifecycle, WRITE),
    "PutBucketWebsite": (website_ops.put_bucket_website, OWNER),
    "GetBucketWebsite": (website_ops.get_bucket_website, OWNER),
    "DeleteBucketWebsite": (website_ops.delete_bucket_website, OWNER),
    "PutBucketEncryption": (encryption_ops.put_bucket_encryption, OWNER),
    "GetBucketEncryption": (encryption_ops.get_bucket_encryption, OWNER),
    "DeleteBucketEncryption": (encryption_ops.delete_bucket_encryption, OWNER),
    "CreateMultipartUpload": (mpu_ops.create_multipart_upload, WRITE),
    "UploadPart": (mpu_ops.upload_part, WRITE),
    "CompleteMultipartUpload": (mpu_ops.complete_multipart_upload, WRITE),
    "AbortMultipartUpload": (mpu_ops.abort_multipart_upload, WRITE),
    "ListParts": (mpu_ops.list_parts, READ),
    "ListMultipartUploads": (mpu_ops.list_multipart_uploads, READ),
}


class S3Api:
    """The S3 API of one node.

    :param helper: the model's :class:`~garage_twisted.model.helper.ModelHelper`.
    :param block_manager: the node's block manager.
    :param region: ``s3_region`` of the configuration.
    :param root_domain: ``root_domain`` for virtual-host-style buckets, or None.
    :param block_size: size of the blocks bodies are cut into.
    :param run_in_thread: ``run(f, *args) -> Deferred`` on the I/O pool.
    :param make_streamer: ``make_streamer(request)`` -> response streamer
        (``write(data) -> Deferred``) used by GetObject.
    :param clock: ``IReactorTime``.
    :param layout_problem: ``() -> str or None``, why S3 cannot be served
        now (answered 503), or ``None`` when it can.
    :param small_writer: the node's
        :class:`~garage_twisted.model.small_put.SmallObjectWriter` (small
        objects in one round trip), or ``None`` (two round trips).
    :param sse_s3: the SSE-S3 :class:`~garage_twisted.api.s3.sse_s3.Keyring`,
        or ``None`` (no secret configured: SSE-S3 answers 501).
    :param allow_sigv2: ``[s3_api] allow_sigv2``: whether SigV2 signatures
        are accepted (else they are refused 400).
    """

    log = Logger()

    def __init__(self, helper, block_manager, region: str, root_domain: str | None,
                 block_size: int, run_in_thread, make_streamer, clock,
                 layout_problem=lambda: None, small_writer=None, sse_s3=None,
                 allow_sigv2: bool = True):
        self.helper = helper
        self.model = helper.model
        self.block_manager = block_manager
        self.region = region
        self.root_domain = root_domain
        self.block_size = block_size
        self.run_in_thread = run_in_thread
        self.make_streamer = make_streamer
        self.clock = clock
        self.layout_problem = layout_problem
        self.small_writer = small_writer
        self.sse_s3 = sse_s3
        self.allow_sigv2 = allow_sigv2
        self.metrics = RequestMetrics()
        # Requests per second and burst allowed on one client connection:
        # far above what a client waiting for its answers reaches, a bound
        # for one that pipelines without end.
        self.connection_rate = CONNECTION_RATE
        # Request ids: a random per-process prefix and a counter, unique
        # without a system call per request.
        self._request_prefix = secrets.token_hex(4)
        self._request_counter = itertools.count(1)

    def resource(self):
        return S3Resource(self)

    def _check_connection_rate(self, request) -> None:
        """503 SlowDown for a connection over ``connection_rate``."""
        channel = getattr(request, "channel", None)
        if channel is None:
            return
        bucket = getattr(channel, "s3_rate_limit", None)
        if bucket is None:
            bucket = channel.s3_rate_limit = TokenBucket(*self.connection_rate, self.clock)
        if not bucket.take():
            raise errors.SlowDown("Please reduce your request rate (requests on this "
                                  f"connection above {self.connection_rate[0]:g}/s).")

    async def handle(self, request):
        """Answer one request; returns the body still to write, or ``None``.
        Counted in :attr:`metrics` by operation, status and duration."""
        started = self.clock.seconds()
        rest = None
        try:
            rest = await self._handle(request)
            return rest
        finally:
            self.metrics.record(getattr(request, "s3_endpoint", "Unknown"), request.code,
                                self.clock.seconds() - started, *body_bytes(request, rest))

    async def _handle(self, request):
        request_id = f"{self._request_prefix}{next(self._request_counter):08x}"
        request.setHeader(b"x-amz-request-id", request_id.encode())
        request.setHeader(b"server", b"garage-twisted")
        endpoint = None
        try:
            raw_path, raw_query = split_target(request.uri)
            host = request.getHeader(b"host")
            bucket, key = locate(
                raw_path, None if host is None else host.decode("latin-1"), self.root_domain)
            query = parse_query(raw_query)
            endpoint = with_copy_source(
                parse_endpoint(request.method.decode("ascii"), bucket, key, query),
                request.getHeader(b"x-amz-copy-source"))
            request.s3_endpoint = endpoint.name
            self._check_connection_rate(request)
            problem = self.layout_problem()
            if problem is not None:
                raise errors.ServiceUnavailable(problem)
            if endpoint.name == "Options":
                # CORS preflights come from browsers, never signed.
                return await cors_ops.preflight(self, request, endpoint.bucket)
            if endpoint.name == "PostObject":
                # Browser uploads: the signed policy in the form authorizes.
                return await post_ops.post_object(self, request, endpoint, request_id)
            if authorization.is_anonymous(request, raw_query):
                # Served exactly as far as the bucket's policy and ACLs
                # allow (authorization.py).
                api_key, auth = None, None
            else:
                api_key, auth = await authenticate(self, request, raw_path, raw_query)
            ctx = RequestContext(self, request, endpoint, api_key, auth, request_id)
            return await self._dispatch(ctx)
        except (BodyIncomplete, ClientGone, defer.CancelledError) as e:
            # The client went away (S3Resource cancels the handler when
            # the connection is lost, or a streamed response learns it
            # first): nobody is left to answer.
            self.log.info("S3 {method} {uri}: {error} (request {request_id})",
                          method=request.method.decode("latin-1"),
                          uri=redact_uri(request.uri),
                          error=str(e) or "client went away",
                          request_id=request_id)
            return None
        except errors.S3Error as e:
            await self._drain(request)
            return self._error(request, e, request_id, endpoint)
        except ModelError as e:
            await self._drain(request)
            return self._error(request, errors.from_model_error(e), request_id, endpoint)
        except QuorumError as e:
            # Too few of the nodes holding the data answered: the client may
            # retry (SDKs do on 503), nothing was acknowledged.
            self.log.warn("S3 {method} {uri}: {error} (request {request_id})",
                          method=request.method.decode("latin-1"),
                          uri=redact_uri(request.uri), error=str(e),
                          request_id=request_id)
            await self._drain(request)
            return self._error(request, errors.ServiceUnavailable(
                f"Could not reach a quorum of nodes: {e}"), request_id, endpoint)
        except (MetadataStoreFailed, BlockWriteRefused) as e:
            # This node's metadata or data disk refused a write (full,
            # failing): nothing was acknowledged; writes resume by themselves
            # once the disk takes them. The cause (with the node's file
            # paths) goes to the log, not to the client.
            self.log.warn("S3 {method} {uri}: {error} (request {request_id})",
                          method=request.method.decode("latin-1"),
                          uri=redact_uri(request.uri), error=str(e),
                          request_id=request_id)
            await self._drain(request)
            return self._error(request, errors.ServiceUnavailable(
                "This node's storage refused the write (disk full or failing); "
                "nothing was stored, retry later"), request_id, endpoint)
        except Exception:
            self.log.failure("S3 request {method} {uri} failed (request {request_id})",
                             method=request.method, uri=redact_uri(request.uri),
                             request_id=request_id)
            return self._error(request, errors.InternalError("internal error"),
                               request_id, endpoint)

    async def _dispatch(self, ctx: RequestContext):
        name = ctx.endpoint.name
        if not ctx.endpoint.implemented:
            raise errors.NotImplemented(f"{name} is not implemented by this server")
        unbuilt.check_request(name, ctx.endpoint.query, ctx.header)
        if name in ("ListBuckets", "CreateBucket") and ctx.api_key is None:
            raise errors.AccessDenied("Anonymous requests cannot list or create buckets: "
                                      "sign your requests")
        if name == "ListBuckets":
            return await bucket_ops.list_buckets(ctx)
        if name == "CreateBucket":
            body = await read_small_body(ctx, bucket_ops.MAX_CREATE_BODY)
            return await bucket_ops.create_bucket(ctx, body)
        handler, right = HANDLERS[name]
        await self._resolve_bucket(ctx, right)
        # Before the handler writes anything (GETs stream), and kept on
        # errors: a browser reads neither without them.
        cors_ops.add_response_headers(ctx.request, ctx.bucket)
        return await handler(ctx)

    async def _resolve_bucket(self, ctx: RequestContext, right: str):
        endpoint = ctx.endpoint
        if endpoint.name == "DeleteObjects":
            # Decided key by key by the handler (authorization.py).
            ctx.bucket_id, ctx.bucket = await self.find_bucket(ctx, endpoint.bucket)
            return
        ctx.bucket_id, ctx.bucket = await self.bucket_for(
            ctx, endpoint.bucket, right, endpoint.name, endpoint.key,
            endpoint.query.get("versionId"))

    async def find_bucket(self, ctx: RequestContext, name: str):
        """``(bucket id, bucket)`` named ``name`` for the request's key
        (NoSuchBucket if none)."""
        bucket_id = await self.helper.resolve_bucket(name, ctx.api_key)
        bucket = None if bucket_id is None else await self.helper.get_bucket(bucket_id)
        if bucket is None:
            raise errors.NoSuchBucket("The specified bucket does not exist",
                                      extra={"BucketName": name})
        return bucket_id, bucket

    async def bucket_for(self, ctx: RequestContext, name: str, right: str,
                         action: str | None = None, key: str | None = None,
                         version_id: str | None = None):
        """``(bucket id, bucket)`` named ``name``, on which the request may
        do ``action`` (the endpoint's by default; ``key`` for object
        actions): the key's ``right`` on it, or the bucket's policy and
        ACLs (NoSuchBucket, AccessDenied otherwise)."""
        bucket_id, bucket = await self.find_bucket(ctx, name)
        await authorization.authorize(ctx, bucket, name, right, action or ctx.endpoint.name,
                                      key, version_id)
        return bucket_id, bucket

    async def _drain(self, request) -> None:
        """Read what a client already sent of a refused upload (a little).

        Closing a socket with unread data makes the kernel reset the
        connection, and a client that was still sending may then never read
        our error. A client that asked for ``100 Continue`` sent nothing:
        there is nothing to drain.
        """
        reader = getattr(request, "body_reader", None)
        if reader is None or reader.complete:
            return
        try:
            await reader.discard(DRAIN_LIMIT)
        except Exception:
            pass

    def _error(self, request, error, request_id, endpoint) -> bytes:
        level = self.log.warn if error.status >= 500 else self.log.info
        level("S3 {method} {uri}: {code} {message} (request {request_id})",
              method=request.method.decode("latin-1"),
              uri=redact_uri(request.uri), code=error.code,
              message=error.message, request_id=request_id)
        if getattr(request, "finished", False) or getattr(request, "startedWriting", False):
            # Headers already left: the only honest signal is a cut connection.
            request.loseConnection()
            return None
        resource = request.uri.decode("latin-1").partition("?")[0]
        body = errors.render_error_xml(error, request_id, resource)
        # Whatever a handler set before failing goes: a client reading an
        # object's checksum header on an error would check the error's body
        # against it (boto3 then fails with a TypeError, not the error).
        errors.keep_error_headers(request.responseHeaders)
        for name, value in error.headers:
            request.setHeader(name, value)
        request.setResponseCode(error.status)
        request.setHeader(b"content-type", b"application/xml")
        request.setHeader(b"content-length", b"%d" % len(body))
        return body


class S3Resource(resource.Resource):
    """The twisted.web leaf serving every S3 request through :meth:`S3Api.handle`
    (or any ``api`` with such a ``handle``: the website endpoint's too).

    Invariants: the request is finished exactly once, after the handler's
    body (if any) is written; a connection lost mid-request cancels the
    handler, and nothing is written to a finished request.
    """

    isLeaf = True
    log = Logger()

    def __init__(self, api: S3Api):
        super().__init__()
        self.api = api

    def render(self, request):
        finished = False
        d = defer.ensureDeferred(self.api.handle(request))

        def done(_):
            nonlocal finished
            finished = True

        def lost(_):
            done(None)
            d.cancel()

        request.notifyFinish().addCallbacks(done, lost)

        def write(body):
            if finished or request.finished:
                return
            if isinstance(body, str):
                body = body.encode("utf-8")
            if body:
                request.write(body)
            request.finish()

        def failed(failure):
            if not failure.check(defer.CancelledError):
                self.log.failure("S3 request {uri} failed outside its handler",
                                 failure, uri=redact_uri(request.uri))
            if not finished:
                request.loseConnection()

        d.addCallback(write).addErrback(failed)
        return server.NOT_DONE_YET
