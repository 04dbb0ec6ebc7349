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

:class:`AdminApi` is the core every node has, admin listener or not: what
the handlers and node operations read, and the node-scoped operations it
serves to its peers over RPC. The HTTP routes
(:mod:`~garage_twisted.api.admin.routes`, with Klein and Werkzeug) are
imported and built on the listener's first request.
"""

from twisted.internet import defer
from twisted.web.resource import Resource

from garage_twisted.api.admin.node_scope import LOCAL_OPERATIONS, NodeScope
from garage_twisted.api.admin.token_auth import TokenAuthenticator


class AdminApi:
    """The admin API of one node: its state and node-scoped operations;
    :meth:`resource` serves it over HTTP.

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
        collectors (the node's registry, see
        :mod:`~garage_twisted.api.admin.metrics`), in the order shown.
    """

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
        # For the console's object transfers (routes.py).
        self.s3_resource = s3_resource

    def resource(self) -> Resource:
        """The admin API's HTTP resource; its routes are built on its first
        request."""
        return _RoutesOnFirstRequest(self)

    @staticmethod
    def endpoint_names() -> set:
        """Every ``/v2`` endpoint's name (the words of a token's scope)."""
        from garage_twisted.api.admin.handlers import ENDPOINTS

        return set(ENDPOINTS) | set(LOCAL_OPERATIONS)


class _RoutesOnFirstRequest(Resource):
    """A leaf that builds the Klein routes of ``api`` when it renders its
    first request, then hands every request to them (Klein's resource is
    a leaf too: it routes from the request's whole path)."""

    isLeaf = True

    def __init__(self, api: AdminApi):
        super().__init__()
        self._api = api
        self._routes = None

    def render(self, request):
        if self._routes is None:
            from garage_twisted.api.admin.routes import AdminRoutes

            self._routes = AdminRoutes(self._api).resource()
        return self._routes.render(request)

