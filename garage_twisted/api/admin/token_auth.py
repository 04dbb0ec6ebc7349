"""Who is calling the admin API: the bearer token of a request, checked.

A request's ``Authorization: Bearer <token>`` is one of:

- a token of the configuration (``admin_token``: every endpoint;
  ``metrics_token``: ``/metrics`` only), compared in constant time;
- a stored token ``<prefix>.<secret>`` (:mod:`garage_twisted.model.admin_token`):
  its row is read (local copy of a full-copy table), the secret checked
  against the row's argon2id hash, then the row's expiration and scope
  against the endpoint's name. Garage's names are the scope's words
  (``ListBuckets``, ``GetNodeInfo``..., ``Metrics`` for ``/metrics``).

Anything else is 403. Which check failed is said only once the secret
verified: a caller without the secret learns that the token is refused,
nothing more.

Invariants: argon2 runs in the node's thread pool, at most
:data:`MAX_CONCURRENT_VERIFICATIONS` at once (a flood of wrong tokens keeps
the pool's other threads for block I/O), never on the reactor thread. A
verified token is remembered for :data:`CACHE_SECONDS` under the SHA-256 of
the whole token and of the row's hash; only the hash comparison is
remembered: the row is read on every request, so a deleted, expired or
narrowed token is refused at once.
"""

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass

from twisted.internet import defer
from twisted.python.failure import Failure

from garage_twisted.api.admin import errors
from garage_twisted.model.admin_token import ALL_ENDPOINTS, AdminToken, split_token, verify_token
from garage_twisted.table.schema import EMPTY_PARTITION
from garage_twisted.util.time import now_msec, rfc3339_msec

# How long a verified token skips argon2 (a console refreshing every few
# seconds pays it once in this while).
CACHE_SECONDS = 300.0
MAX_CACHED = 1024
MAX_CONCURRENT_VERIFICATIONS = 2
# Verifications waiting for one of those, at most: past it a request is
# refused at once (503 SlowDown). Anyone who knows a token's id (it is no
# secret) can send wrong secrets for it, each worth 25 ms of argon2: the
# queue of such requests must not grow without bound.
MAX_WAITING_VERIFICATIONS = 32
# A prefix is 24 hex digits; anything much longer is not worth a lookup.
MAX_PREFIX_LENGTH = 64
METRICS_ENDPOINT = "Metrics"

INVALID = "Invalid bearer token"
NO_ADMIN_TOKEN = ("Admin token isn't configured: this node takes only admin tokens made "
                  "with `garage admin-token create` (<id>.<secret>)")


@dataclass(frozen=True)
class Caller:
    """Who made a request: a token of the configuration (``token is None``,
    ``config_name`` says which), or a stored token."""

    config_name: str | None = None
    token: AdminToken | None = None

    def info(self, now_ms: int) -> dict:
        """Garage's GetAdminTokenInfoResponse of this caller's token."""
        if self.token is None:
            scope = [ALL_ENDPOINTS] if self.config_name == "admin_token" else [METRICS_ENDPOINT]
            return {"id": None, "created": None,
                    "name": f"{self.config_name} (from daemon configuration)",
                    "expiration": None, "expired": False, "scope": scope}
        return token_info(self.token, now_ms)


MASTER = Caller("admin_token")
METRICS = Caller("metrics_token")


def token_info(token: AdminToken, now_ms: int) -> dict:
    """Garage's GetAdminTokenInfoResponse of a live stored token."""
    params = token.params
    expiration = params.expiration.value
    return {"id": token.prefix, "created": rfc3339_msec(params.created),
            "name": params.name.value,
            "expiration": None if expiration is None else rfc3339_msec(expiration),
            "expired": params.is_expired(now_ms), "scope": list(params.scope.value.names)}


def bearer_token(authorization: bytes | None) -> str:
    """The token of an ``Authorization`` header. :raises errors.Forbidden:"""
    if not authorization:
        raise errors.Forbidden("Bearer token must be provided in Authorization header")
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.Forbidden("Invalid Authorization header")
    return token


class TokenAuthenticator:
    """Checks bearer tokens against the configuration and the token table.

    :param table: the model's ``admin_token_table``.
    :param admin_token: the configuration's ``admin_token``, or ``None``.
    :param metrics_token: the configuration's ``metrics_token``, or ``None``.
    :param clock: ``IReactorTime`` (expirations, the cache's deadlines).
    :param run_in_thread: ``(f, *args) -> Deferred`` running ``f`` off the
        reactor thread (the node's pool); ``None`` runs it inline (tests).
    """

    def __init__(self, table, admin_token, metrics_token, clock, run_in_thread=None):
        self.table = table
        self.admin_token = admin_token
        self.metrics_token = metrics_token
        self.clock = clock
        self.run_in_thread = run_in_thread or (lambda f, *a: defer.maybeDeferred(f, *a))
        self._semaphore = defer.DeferredSemaphore(MAX_CONCURRENT_VERIFICATIONS)
        self._verified = OrderedDict()  # cache key -> deadline (clock seconds)
        self._in_flight = {}  # cache key -> [Deferred] of the requests waiting too
        # Argon2 runs, for tests and the docs' claim that the cache works.
        self.verifications = 0

    async def authorize(self, authorization: bytes | None, endpoint: str) -> Caller:
        """The caller of admin endpoint ``endpoint`` (``Metrics`` for
        ``/metrics``), if its token may call it.

        :raises errors.Forbidden: no token, an unknown, wrong, deleted or
            expired one, or one whose scope lacks ``endpoint``.
        """
        try:
            token = bearer_token(authorization)
        except errors.Forbidden:
            if self.admin_token is None and endpoint != METRICS_ENDPOINT:
                raise errors.Forbidden(NO_ADMIN_TOKEN) from None
            raise
        for name, configured in (("admin_token", self.admin_token),
                                 ("metrics_token", self.metrics_token)):
            if configured is None or (name == "metrics_token" and endpoint != METRICS_ENDPOINT):
                continue
            if hmac.compare_digest(token.encode(), configured.encode()):
                return MASTER if name == "admin_token" else METRICS
        prefix = split_token(token)
        if prefix is None and self.admin_token is None and endpoint != METRICS_ENDPOINT:
            raise errors.Forbidden(NO_ADMIN_TOKEN)
        if prefix is None or len(prefix) > MAX_PREFIX_LENGTH:
            raise errors.Forbidden(INVALID)
        row = await self.table.get(EMPTY_PARTITION, prefix.encode())
        if row is None or row.params is None:
            raise errors.Forbidden(INVALID)
        if not await self._check_secret(row.params.token_hash, token):
            raise errors.Forbidden(INVALID)
        now = now_msec(self.clock)
        if row.params.is_expired(now):
            raise errors.Forbidden(f"this admin token expired at "
                                   f"{rfc3339_msec(row.params.expiration.value)}")
        if not row.allows(endpoint, now):
            raise errors.Forbidden(f"this admin token's scope does not include {endpoint}")
        return Caller(token=row)

    async def _check_secret(self, token_hash: str, token: str) -> bool:
        key = hashlib.sha256(f"{token_hash}\n{token}".encode()).digest()
        deadline = self._verified.get(key)
        if deadline is not None:
            if self.clock.seconds() < deadline:
                return True
            del self._verified[key]
        mine = defer.Deferred()
        waiters = self._in_flight.get(key)
        if waiters is not None:
            waiters.append(mine)
        else:
            if len(self._semaphore.waiting) >= MAX_WAITING_VERIFICATIONS:
                raise errors.SlowDown("too many admin token checks in progress; retry shortly")
            # The check runs detached from the requests that wait for it:
            # one that goes away (a client that disconnected) cancels its
            # own wait only. Cancelling the check itself would free its
            # slot while argon2 still ran in the pool, so that clients
            # connecting and leaving could queue argon2 without bound; and
            # the other requests sharing it would fail with it.
            waiters = self._in_flight[key] = [mine]
            self.verifications += 1
            check = self._semaphore.run(self.run_in_thread, verify_token, token_hash, token)
            check.addBoth(self._checked, key, waiters)
        return await mine

    def _checked(self, result, key: bytes, waiters: list) -> None:
        """A secret check ended: cache a success, answer every request still
        waiting for it."""
        if self._in_flight.get(key) is waiters:
            del self._in_flight[key]
        if result is True:
            self._verified[key] = self.clock.seconds() + CACHE_SECONDS
            while len(self._verified) > MAX_CACHED:
                self._verified.popitem(last=False)
        for waiter in waiters:
            if waiter.called:  # its request went away (cancelled)
                continue
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)
