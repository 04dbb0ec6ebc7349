"""Attack: a flood of wrong secrets for a known admin token id.

A token's id (its prefix) is no secret: ListAdminTokens shows it, and the
console too. Each request carrying it with a wrong secret costs the node an
argon2 verification (~25 ms, two at a time in the pool); without a bound,
such requests queued without end, holding memory and delaying the checks
of real tokens behind them.
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from garage_twisted.api.admin import errors
from garage_twisted.api.admin.token_auth import MASTER, TokenAuthenticator
from garage_twisted.db.memory import MemoryStore
from garage_twisted.model.admin_token import AdminToken, AdminTokenTableSchema
from garage_twisted.table.data import TableData
from garage_twisted.table.replication import LocalReplication
from garage_twisted.table.table import Table
from tests.unit.api.test_admin_token_auth import (
    NODE, NOW, PREFIX, TOKEN, TOKEN_HASH, Threads, bearer)


class VerificationFloodTests(TestCase):
    """Wrong secrets for a known token id each cost argon2: past
    MAX_WAITING_VERIFICATIONS queued checks, requests are refused at once
    (503 SlowDown) instead of piling up; the node's own checks resume."""

    def test_flood_of_wrong_secrets_is_bounded(self):
        from garage_twisted.api.admin.token_auth import (
            MAX_CONCURRENT_VERIFICATIONS, MAX_WAITING_VERIFICATIONS)
        clock = Clock()
        clock.advance(NOW)
        table = Table(TableData(AdminTokenTableSchema(), MemoryStore(), True, clock),
                      LocalReplication(NODE), NODE)
        threads = Threads()
        auth = TokenAuthenticator(table, "master-token", None, clock, threads.run)
        self.successResultOf(table.insert(
            AdminToken.new(int(NOW * 1000), PREFIX, TOKEN_HASH, "t")))
        queued = MAX_CONCURRENT_VERIFICATIONS + MAX_WAITING_VERIFICATIONS
        pending = [defer.ensureDeferred(auth.authorize(bearer(f"{PREFIX}.wrong{i}"),
                                                       "ListBuckets"))
                   for i in range(queued)]
        self.assertEqual(len(threads.jobs), MAX_CONCURRENT_VERIFICATIONS)
        refused = defer.ensureDeferred(auth.authorize(bearer(f"{PREFIX}.one-more"),
                                                      "ListBuckets"))
        failure = self.failureResultOf(refused, errors.SlowDown)
        self.assertEqual(failure.value.status, 503)
        # The master token needs no argon2: it still works meanwhile.
        self.assertIs(self.successResultOf(defer.ensureDeferred(
            auth.authorize(bearer("master-token"), "ListBuckets"))), MASTER)
        threads.finish_all()
        for d in pending:
            self.failureResultOf(d, errors.Forbidden)
        ok = defer.ensureDeferred(auth.authorize(bearer(TOKEN), "ListBuckets"))
        threads.finish_all()
        self.assertIsNotNone(self.successResultOf(ok).token)


class VanishingClientTests(TestCase):
    """Requests that go away while their token is checked (a client that
    connects, sends a wrong secret and disconnects) must not free the
    argon2 slot while argon2 still runs in the pool, nor fail the other
    requests waiting for the same check."""

    def setUp(self):
        clock = Clock()
        clock.advance(NOW)
        table = Table(TableData(AdminTokenTableSchema(), MemoryStore(), True, clock),
                      LocalReplication(NODE), NODE)
        self.threads = Threads()
        self.auth = TokenAuthenticator(table, "master-token", None, clock, self.threads.run)
        self.successResultOf(table.insert(
            AdminToken.new(int(NOW * 1000), PREFIX, TOKEN_HASH, "t")))

    def authorize(self, token):
        return defer.ensureDeferred(self.auth.authorize(bearer(token), "ListBuckets"))

    def test_gone_requests_keep_their_slots_until_argon2_ends(self):
        from garage_twisted.api.admin.token_auth import MAX_CONCURRENT_VERIFICATIONS
        gone = [self.authorize(f"{PREFIX}.gone{i}")
                for i in range(MAX_CONCURRENT_VERIFICATIONS)]
        for d in gone:
            d.cancel()
            self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(len(self.threads.jobs), MAX_CONCURRENT_VERIFICATIONS)
        later = self.authorize(f"{PREFIX}.later")
        # Both slots are still taken: argon2 runs on for the gone requests.
        self.assertEqual(len(self.threads.jobs), MAX_CONCURRENT_VERIFICATIONS)
        self.threads.finish_all()
        self.failureResultOf(later, errors.Forbidden)

    def test_one_gone_request_does_not_fail_the_others_sharing_its_check(self):
        first, second = self.authorize(TOKEN), self.authorize(TOKEN)
        self.assertEqual(len(self.threads.jobs), 1)  # one check for both
        first.cancel()
        self.failureResultOf(first, defer.CancelledError)
        self.threads.finish_all()
        self.assertEqual(self.successResultOf(second).token.prefix, PREFIX)
        self.assertIs(self.successResultOf(self.authorize("master-token")), MASTER)
