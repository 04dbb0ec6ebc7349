"""The admin API: Garage's v2 JSON endpoints over HTTP, with bearer tokens.

``/v2/<Operation>`` (GET with query parameters for reads, POST with a JSON
body for changes), ``/health`` (no token: 200 or 503), ``/metrics``
(Prometheus text; open unless ``metrics_token`` is set or
``metrics_require_token`` is true), ``/check?domain=`` (no
token: whether a domain is one of the cluster's, for a reverse proxy that
asks before it gets a certificate) and ``OPTIONS`` on any path (CORS
preflight: web front ends call the API from a browser).

Every ``/v2`` request needs ``Authorization: Bearer <token>``: the
configuration's ``admin_token`` (every endpoint), or a stored admin token
whose scope names the endpoint (``*`` for all); ``/metrics``, when it needs
a token, takes ``metrics_token``, ``admin_token`` or a stored token whose
scope holds ``Metrics``. Anything else is 403, as in Garage (see
:mod:`~garage_twisted.api.admin.token_auth`).

Node-scoped operations (``?node=``) go through
:class:`~garage_twisted.api.admin.node_scope.NodeScope`, the others to
their handler in :data:`~garage_twisted.api.admin.handlers.ENDPOINTS`.
"""

import json
from urllib.parse import parse_qsl

from klein import Klein
from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.api.admin import errors
from garage_twisted.api.admin.console.serve import Console
from garage_twisted.api.admin.domains import check_domain
from garage_twisted.api.admin.handlers import ENDPOINTS
from garage_twisted.api.admin.metrics import render_metrics
from garage_twisted.api.admin.node_scope import LOCAL_OPERATIONS, NodeScope
from garage_twisted.api.admin.token_auth import METRICS_ENDPOINT, TokenAuthenticator
from garage_twisted.util.errors import GarageError

MAX_BODY = 1 << 20
# Operations whose JSON body is a list; every other body is an object.
LIST_BODIES = {"ConnectClusterNodes", "PurgeBlocks"}


class AdminApi:
    """The admin HTTP API of one node.

    :param helper: the model's ``ModelHelper``.
    :param system: the node's ``System``.
    :param layout: the ``LayoutManager``.
    :param admin_token: the configuration's bearer token for every ``/v2``
        endpoint, or ``None`` (stored admin tokens only).
    :param metrics_token: bearer token for ``/metrics``, or ``None``.
    :param metrics_require_token: ``/metrics`` needs a token even when
        ``metrics_token`` is ``None`` (a stored one with ``Metrics``).
    :param run_in_thread: ``(f, *args) -> Deferred`` running ``f`` in the
        node's thread pool (argon2 for admin tokens); ``None``: inline.
    :param s3_resource: the node's S3 resource, which the console's object
        transfers reach through ``/s3/``, or ``None`` (none).
    :param clock: ``IReactorTime``.
    :param workers: the node's ``WorkerRunner`` (for ListWorkers, metrics).
    :param network: the node's ``Network``: node-scoped operations reach the
        other nodes through it, and it serves theirs (``None``: this node only).
    :param snapshots: the node's ``MetadataSnapshots``, or ``None``.
    :param metric_sources: what ``/metrics`` shows: ``prometheus_client``
        collectors (the node's ``CollectorRegistry``, see
        :mod:`~garage_twisted.api.admin.metrics`), in the order shown.
    """

    log = Logger()
    app = Klein()

    def __init__(self, helper, system, layout, admin_token, metrics_token, clock,
                 workers=None, network=None, snapshots=None, metric_sources=(),
                 metrics_require_token=False, run_in_thread=None, s3_resource=None):
        self.helper = helper
        self.system = system
        self.layout = layout
        self.admin_token = admin_token
        self.metrics_token = metrics_token
        self.metrics_require_token = metrics_require_token
        self.clock = clock
        self.run_in_thread = run_in_thread or (lambda f, *a: defer.maybeDeferred(f, *a))
        self.tokens = TokenAuthenticator(helper.model.admin_token_table, admin_token,
                                         metrics_token, clock, run_in_thread)
        self.workers = workers
        self.snapshots = snapshots
        self.node_scope = NodeScope(self, network)
        self.metric_sources = list(metric_sources)
        # The operator console at / (console/serve.py), with the node's S3
        # resource for its object transfers.
        self.console = Console(s3_resource, region=system.config.s3_api.s3_region)

    def resource(self):
        return self.app.resource()

    @staticmethod
    def endpoint_names() -> set:
        """Every ``/v2`` endpoint's name (the words of a token's scope)."""
        return set(ENDPOINTS) | set(LOCAL_OPERATIONS)

    def _json(self, request, status: int, value) -> bytes:
        body = json.dumps(value, indent=2).encode() + b"\n"
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"content-length", b"%d" % len(body))
        request.setHeader(b"access-control-allow-origin", b"*")
        return body

    def _error(self, request, error: errors.AdminError) -> bytes:
        self.log.info("admin {method} {path}: {code} {message}",
                      method=request.method.decode(), path=request.path.decode("latin-1"),
                      code=error.code, message=error.message)
        return self._json(request, error.status, {
            "code": error.code, "message": error.message,
            "region": self.system.config.s3_api.s3_region,
            "path": request.path.decode("latin-1")})

    @app.route("/health", methods=["GET", "HEAD"])
    def health(self, request):
        health = self.system.health()
        ok = health["status"] != "unavailable"
        request.setResponseCode(200 if ok else 503)
        request.setHeader(b"content-type", b"text/plain")
        if health["status"] == "healthy":
            return b"Garage is fully operational\n"
        return (f"Garage is {'degraded' if ok else 'unavailable'}: "
                f"{health['partitionsQuorum']}/{health['partitions']} partitions "
                "have a quorum\n").encode()

    @app.route("/", branch=True, methods=["OPTIONS"])
    def options(self, request):
        for name, value in ((b"allow", b"OPTIONS,GET,POST"),
                            (b"access-control-allow-methods", b"OPTIONS,GET,POST"),
                            (b"access-control-allow-headers", b"authorization,content-type"),
                            (b"access-control-allow-origin", b"*"),
                            (b"content-length", b"0")):
            request.setHeader(name, value)
        return b""

    @app.route("/check", methods=["GET"])
    async def check(self, request):
        domain = request.args.get(b"domain", [b""])[0].decode("utf-8", "replace")
        try:
            if not domain:
                raise errors.BadRequest("missing query parameter domain")
            if not await check_domain(self.helper, self.system.config, domain):
                raise errors.BadRequest(f"Domain '{domain}' is not managed by Garage")
        except GarageError as e:
            return self._error(request, errors.to_admin_error(e))
        request.setHeader(b"content-type", b"text/plain")
        return f"Domain '{domain}' is managed by Garage".encode()

    @app.route("/metrics", methods=["GET"])
    async def metrics(self, request):
        if self.metrics_token is not None or self.metrics_require_token:
            try:
                await self.tokens.authorize(request.getHeader(b"authorization"),
                                            METRICS_ENDPOINT)
            except GarageError as e:
                return self._error(request, errors.to_admin_error(e))
        request.setHeader(b"content-type", b"text/plain; version=0.0.4")
        return render_metrics(self).encode()

    # The console: every path the other routes do not take (/s3/... included).
    @app.route("/", branch=True, methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
    def console_files(self, request):
        return self.console.render(request)

    @app.route("/v2/<string:name>", methods=["GET", "POST", "HEAD", "PUT", "DELETE"])
    async def v2(self, request, name):
        try:
            # The scope is checked by the operation's name, node-scoped
            # operations (?node=) included.
            caller = await self.tokens.authorize(request.getHeader(b"authorization"), name)
            endpoint = LOCAL_OPERATIONS.get(name) or ENDPOINTS.get(name)
            if endpoint is None:
                raise errors.NoSuchEndpoint(f"unknown admin endpoint {name}")
            method, handler = endpoint[:2]
            if request.method.decode() != method:
                raise errors.MethodNotAllowed(f"{name} takes {method}")
            query = dict(parse_qsl(request.uri.partition(b"?")[2].decode("utf-8"),
                                   keep_blank_values=True))
            body = {}
            if method == "POST":
                raw = request.content.read(MAX_BODY + 1)
                if len(raw) > MAX_BODY:
                    raise errors.BadRequest("request body too large")
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError as e:
                        raise errors.BadRequest(f"invalid JSON body: {e}") from None
                    expected = list if name in LIST_BODIES else dict
                    if not isinstance(body, expected):
                        raise errors.BadRequest("the JSON body must be "
                                                + ("a list" if expected is list else "an object"))
            if name in LOCAL_OPERATIONS:
                result = await self.node_scope.run(name, query.get("node", "self"), body)
            elif getattr(handler, "takes_caller", False):
                result = await handler(self, query, body, caller)
            else:
                result = await handler(self, query, body)
            # An operation with nothing to say answers JSON null, as Garage.
            return self._json(request, 200, result)
        except GarageError as e:
            return self._error(request, errors.to_admin_error(e))
        except Exception:
            self.log.failure("admin request {name} failed", name=name)
            return self._error(request, errors.InternalError("internal error"))
