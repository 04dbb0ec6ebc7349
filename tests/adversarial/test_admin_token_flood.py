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
