"""The admin API's token checks, on a memory table and a Clock: which token
may call what, when argon2 runs, and what the request bodies may say."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from garage_twisted.api.admin import errors, tokens
from garage_twisted.api.admin.token_auth import (
    CACHE_SECONDS, INVALID, MASTER, METRICS, TokenAuthenticator)
from garage_twisted.db.memory import MemoryStore
from garage_twisted.model.admin_token import (
    AdminToken, AdminTokenTableSchema, generate_token, hash_token, verify_token)
from garage_twisted.table.data import TableData
from garage_twisted.table.replication import LocalReplication
from garage_twisted.table.table import Table

NODE = b"n" * 32
NOW = 1_700_000_000.0
PREFIX, TOKEN = generate_token()
TOKEN_HASH = hash_token(TOKEN)


def bearer(token: str) -> bytes:
    return f"Bearer {token}".encode()


class Threads:
    """A stand-in for the node's pool: counts the jobs, runs them when told."""

    def __init__(self):
        self.jobs = []

    def run(self, f, *args):
        d = defer.Deferred()
        self.jobs.append((d, f, args))
        return d

    def finish_all(self):
        while self.jobs:
            d, f, args = self.jobs.pop(0)
            d.callback(f(*args))


class AuthenticatorTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(NOW)
        self.table = Table(TableData(AdminTokenTableSchema(), MemoryStore(), True, self.clock),
                           LocalReplication(NODE), NODE)
        self.threads = Threads()
        self.auth = TokenAuthenticator(self.table, "master-token", "metrics-token",
                                       self.clock, self.threads.run)

    def store(self, **kwargs):
        token = AdminToken.new(int(NOW * 1000), PREFIX, TOKEN_HASH, "t", **kwargs)
        self.successResultOf(self.table.insert(token))
        return token

    def authorize(self, header, endpoint):
        """The authorization's outcome once every argon2 job ran."""
        d = defer.ensureDeferred(self.auth.authorize(header, endpoint))
        self.threads.finish_all()
        return d

    def refused(self, header, endpoint) -> str:
        failure = self.failureResultOf(self.authorize(header, endpoint), errors.Forbidden)
        return failure.value.message

    def test_configuration_tokens(self):
        """admin_token calls anything; metrics_token only /metrics; neither
        runs argon2."""
        self.assertIs(self.successResultOf(self.authorize(bearer("master-token"), "CreateBucket")),
                      MASTER)
        self.assertIs(self.successResultOf(self.authorize(bearer("metrics-token"), "Metrics")),
                      METRICS)
        self.assertEqual(self.refused(bearer("metrics-token"), "ListBuckets"), INVALID)
        self.assertEqual(self.auth.verifications, 0)

    def test_missing_or_malformed_header(self):
        """No header, another scheme or an empty token: 403 saying so."""
        self.assertIn("must be provided", self.refused(None, "ListBuckets"))
        self.assertIn("Invalid Authorization header", self.refused(b"Basic abc", "ListBuckets"))
        self.assertIn("Invalid Authorization header", self.refused(b"Bearer  ", "ListBuckets"))

    def test_scope(self):
        """A stored token calls the endpoints of its scope, and no other."""
        self.store(scope=["ListBuckets"])
        caller = self.successResultOf(self.authorize(bearer(TOKEN), "ListBuckets"))
        self.assertEqual(caller.token.prefix, PREFIX)
        message = self.refused(bearer(TOKEN), "CreateBucket")
        self.assertIn("scope does not include CreateBucket", message)
        self.assertIn("scope does not include CreateAdminToken",
                      self.refused(bearer(TOKEN), "CreateAdminToken"))

    def test_wrong_secret_unknown_prefix_and_plain_strings(self):
        """A known prefix with another secret, an unknown prefix, a string
        without a dot: the same 403, saying nothing of why."""
        self.store()
        _, other = generate_token()
        forged = PREFIX + "." + other.split(".", 1)[1]
        for token in (forged, other, "no-dot-here", "x" * 100 + ".y"):
            self.assertEqual(self.refused(bearer(token), "ListBuckets"), INVALID, token)

    def test_expired_refused_only_with_the_secret(self):
        """An expired token is refused, and says so only to its holder."""
        self.store(expiration=int(NOW * 1000) + 10_000)
        self.successResultOf(self.authorize(bearer(TOKEN), "ListBuckets"))
        self.clock.advance(10)
        self.assertIn("expired", self.refused(bearer(TOKEN), "ListBuckets"))
        _, other = generate_token()
        self.assertEqual(self.refused(bearer(PREFIX + "." + other.split(".", 1)[1]),
                                      "ListBuckets"), INVALID)

    def test_cache_skips_argon2_but_not_the_row(self):
        """A verified token skips argon2 for CACHE_SECONDS; a deletion or a
        narrowing counts at once all the same."""
        token = self.store(scope=["ListBuckets", "GetClusterHealth"])
        for _ in range(5):
            self.successResultOf(self.authorize(bearer(TOKEN), "ListBuckets"))
        self.assertEqual(self.auth.verifications, 1)
        now = int(NOW * 1000) + 1
        self.successResultOf(self.table.insert(token.updated(now, scope=["GetClusterHealth"])))
        self.assertIn("scope", self.refused(bearer(TOKEN), "ListBuckets"))
        self.successResultOf(self.authorize(bearer(TOKEN), "GetClusterHealth"))
        self.successResultOf(self.table.insert(token.deleted()))
        self.assertEqual(self.refused(bearer(TOKEN), "GetClusterHealth"), INVALID)
        self.assertEqual(self.auth.verifications, 1)

    def test_cache_expires(self):
        """After CACHE_SECONDS the token is verified again."""
        self.store()
        self.successResultOf(self.authorize(bearer(TOKEN), "ListBuckets"))
        self.clock.advance(CACHE_SECONDS + 1)
        self.successResultOf(self.authorize(bearer(TOKEN), "ListBuckets"))
        self.assertEqual(self.auth.verifications, 2)

    def test_wrong_secret_is_never_cached(self):
        """Each wrong secret pays argon2: a failure is not remembered as a success."""
        self.store()
        _, other = generate_token()
        forged = bearer(PREFIX + "." + other.split(".", 1)[1])
        for _ in range(3):
            self.refused(forged, "ListBuckets")
        self.assertEqual(self.auth.verifications, 3)

    def test_argon2_runs_in_the_pool_once_per_burst(self):
        """Concurrent requests with one new token share one verification,
        which runs in the given pool, not inline."""
        self.store()
        calls = [defer.ensureDeferred(self.auth.authorize(bearer(TOKEN), "ListBuckets"))
                 for _ in range(4)]
        self.assertEqual(len(self.threads.jobs), 1)
        self.assertIs(self.threads.jobs[0][1], verify_token)
        self.assertNoResult(calls[0])
        self.threads.finish_all()
        for call in calls:
            self.assertEqual(self.successResultOf(call).token.prefix, PREFIX)
        self.assertEqual(self.auth.verifications, 1)

    def test_at_most_two_verifications_at_once(self):
        """Many different wrong tokens use at most two pool threads at a time."""
        self.store()
        calls = []
        for _ in range(6):
            _, other = generate_token()
            calls.append(defer.ensureDeferred(self.auth.authorize(
                bearer(PREFIX + "." + other.split(".", 1)[1]), "ListBuckets")))
        self.assertEqual(len(self.threads.jobs), 2)
        self.threads.finish_all()
        for call in calls:
            self.failureResultOf(call, errors.Forbidden)


class _Api:
    """What tokens._updates reads of the admin API."""

    @staticmethod
    def endpoint_names():
        return {"ListBuckets", "CreateBucket", "GetNodeInfo"}


class UpdateBodyTests(TestCase):
    def test_fields(self):
        """Name, RFC 3339 expiration and scope are read; the scope loses repeats."""
        changes = tokens._updates(_Api, {
            "name": "n", "expiration": "2030-01-31T12:00:00Z",
            "scope": ["ListBuckets", "Metrics", "ListBuckets"]})
        self.assertEqual(changes, {"name": "n", "expiration": 1896091200000,
                                   "scope": ["ListBuckets", "Metrics"]})
        self.assertEqual(tokens._updates(_Api, {"expiration": "2030-01-31T13:00:00+01:00"}),
                         {"expiration": 1896091200000})
        self.assertEqual(tokens._updates(_Api, {"neverExpires": True}), {"expiration": None})
        self.assertEqual(tokens._updates(_Api, {}), {})

    def test_refusals(self):
        """Conflicting or malformed fields are 400, naming the problem."""
        cases = [
            ({"expiration": "2030-01-31T12:00:00Z", "neverExpires": True}, "cannot specify"),
            ({"expiration": "tomorrow"}, "invalid expiration"),
            ({"expiration": "2030-01-31T12:00:00"}, "time zone"),
            ({"expiration": "9999-12-31T23:59:59-05:00"}, "out of range"),
            ({"scope": "ListBuckets"}, "must be a list"),
            ({"scope": ["ListBucket"]}, "unknown admin endpoint(s) in scope: ListBucket"),
            ({"name": 5}, "name must be a string"),
            ({"neverExpires": "yes"}, "neverExpires must be true or false"),
        ]
        for body, message in cases:
            with self.assertRaises(errors.BadRequest) as caught:
                tokens._updates(_Api, body)
            self.assertIn(message, caught.exception.message, body)


class NoAdminTokenTests(TestCase):
    def test_stored_tokens_only(self):
        """Without admin_token a stored token still works, as in Garage; any
        other string is told that only such tokens are taken."""
        clock = Clock()
        clock.advance(NOW)
        table = Table(TableData(AdminTokenTableSchema(), MemoryStore(), True, clock),
                      LocalReplication(NODE), NODE)
        auth = TokenAuthenticator(table, None, None, clock)
        self.successResultOf(table.insert(AdminToken.new(int(NOW * 1000), PREFIX, TOKEN_HASH,
                                                         "t")))
        self.assertEqual(self.successResultOf(defer.ensureDeferred(
            auth.authorize(bearer(TOKEN), "ListBuckets"))).token.prefix, PREFIX)
        for header in (b"Bearer ", None, bearer("guess")):
            failure = self.failureResultOf(defer.ensureDeferred(
                auth.authorize(header, "ListBuckets")), errors.Forbidden)
            self.assertIn("Admin token isn't configured", failure.value.message)
