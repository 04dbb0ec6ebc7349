"""The admin API's HTTP routes (Klein), built on the first admin request.

Klein and Werkzeug (3 MB of a node's memory) are imported with this module,
which :meth:`~garage_twisted.api.admin.api.AdminApi.resource` imports only
when the admin listener serves its first request: a node whose admin API is
never called, or is only asked node-scoped operations by its peers (over
RPC, through :class:`~garage_twisted.api.admin.node_scope.NodeScope`), never
loads them. The routes are a thin adapter over the
:class:`~garage_twisted.api.admin.api.AdminApi` core: every handler and node
operation takes the core, never this object.
"""

import json
from urllib.parse import parse_qsl

from klein import Klein
from twisted.logger import Logger

from garage_twisted.api.admin import errors
from garage_twisted.api.admin.console.serve import Console
from garage_twisted.api.admin.domains import check_domain
from garage_twisted.api.admin.handlers import ENDPOINTS
from garage_twisted.api.admin.metrics import render_metrics
from garage_twisted.api.admin.node_scope import LOCAL_OPERATIONS
from garage_twisted.api.admin.token_auth import METRICS_ENDPOINT
from garage_twisted.util.errors import GarageError

MAX_BODY = 1 << 20
# Operations whose JSON body is a list; every other body is an object.
LIST_BODIES = {"ConnectClusterNodes", "PurgeBlocks"}


class AdminRoutes:
    """``/health``, ``/check``, ``/metrics``, ``/v2/<Operation>``, CORS
    preflights and the console, over one node's admin core.

    :param api: the node's :class:`~garage_twisted.api.admin.api.AdminApi`.
    """

    log = Logger()
    app = Klein()

    def __init__(self, api):
        self.api = api
        # The operator console at / (console/serve.py), with the node's S3
        # resource for its object transfers.
        self.console = Console(api.s3_resource, region=api.system.config.s3_api.s3_region)

    def resource(self):
        return self.app.resource()

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
            "region": self.api.system.config.s3_api.s3_region,
            "path": request.path.decode("latin-1")})

    @app.route("/health", methods=["GET", "HEAD"])
    def health(self, request):
        health = self.api.system.health()
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
            if not await check_domain(self.api.helper, self.api.system.config, domain):
                raise errors.BadRequest(f"Domain '{domain}' is not managed by Garage")
        except GarageError as e:
            return self._error(request, errors.to_admin_error(e))
        request.setHeader(b"content-type", b"text/plain")
        return f"Domain '{domain}' is managed by Garage".encode()

    @app.route("/metrics", methods=["GET"])
    async def metrics(self, request):
        if self.api.metrics_token is not None or self.api.metrics_require_token:
            try:
                await self.api.tokens.authorize(request.getHeader(b"authorization"),
                                                METRICS_ENDPOINT)
            except GarageError as e:
                return self._error(request, errors.to_admin_error(e))
        request.setHeader(b"content-type", b"text/plain; version=0.0.4")
        return render_metrics(self.api).encode()

    # The console: every path the other routes do not take (/s3/... included).
    @app.route("/", branch=True, methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
    def console_files(self, request):
        return self.console.render(request)

    @app.route("/v2/<string:name>", methods=["GET", "POST", "HEAD", "PUT", "DELETE"])
    async def v2(self, request, name):
        try:
            # The scope is checked by the operation's name, node-scoped
            # operations (?node=) included.
            caller = await self.api.tokens.authorize(request.getHeader(b"authorization"), name)
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
                result = await self.api.node_scope.run(name, query.get("node", "self"), body)
            elif getattr(handler, "takes_caller", False):
                result = await handler(self.api, query, body, caller)
            else:
                result = await handler(self.api, query, body)
            # An operation with nothing to say answers JSON null, as Garage.
            return self._json(request, 200, result)
        except GarageError as e:
            return self._error(request, errors.to_admin_error(e))
        except Exception:
            self.log.failure("admin request {name} failed", name=name)
            return self._error(request, errors.InternalError("internal error"))
