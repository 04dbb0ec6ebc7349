"""Admin tokens: their format, hashing, scope, expiration and merges."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.model.admin_token import (
    AdminToken, AdminTokenParams, AdminTokenTableSchema, TokenScope, generate_token, hash_token,
    split_token, verify_token)
from garage_twisted.util.crdt import Deletable, Lww

# One hash for the whole module: argon2 takes tens of milliseconds.
PREFIX, TOKEN = generate_token()
TOKEN_HASH = hash_token(TOKEN)

names = st.sampled_from(["*", "ListBuckets", "CreateBucket", "GetNodeInfo"])
scopes = st.lists(names, max_size=3).map(lambda n: TokenScope(tuple(n)))


lwws = lambda values: st.builds(Lww, st.integers(0, 3), values)  # noqa: E731
params = st.builds(lambda *registers: AdminTokenParams(0, TOKEN_HASH, *registers),
                   lwws(st.sampled_from(["a", "b"])),
                   lwws(st.one_of(st.none(), st.integers(0, 9))), lwws(scopes))


tokens = st.one_of(st.just(AdminToken(PREFIX, Deletable(None))),
                   params.map(lambda p: AdminToken(PREFIX, Deletable(p))))


class TokenFormatTests(SynchronousTestCase):
    def test_token_is_prefix_dot_secret(self):
        """A token is 24 hex digits, a dot, and 43 base64url characters, as Garage's."""
        prefix, token = generate_token()
        self.assertRegex(token, r"^[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$")
        self.assertEqual(split_token(token), prefix)
        self.assertNotEqual(generate_token()[1], token)

    def test_split_refuses_other_strings(self):
        """The configuration's token, or a half of a token, has no prefix."""
        for value in ("plain-admin-token", ".secret", "prefix.", ""):
            self.assertIsNone(split_token(value))

    def test_hash_is_argon2id_and_holds_no_secret(self):
        """The stored hash is an argon2id PHC string without the secret in it."""
        self.assertTrue(TOKEN_HASH.startswith("$argon2id$v=19$m=19456,t=2,p=1$"))
        secret = TOKEN.split(".", 1)[1]
        self.assertNotIn(secret, TOKEN_HASH)
        self.assertNotIn(PREFIX, TOKEN_HASH)

    def test_verify(self):
        """The token verifies; another secret under the same prefix, or a
        malformed hash, does not."""
        self.assertTrue(verify_token(TOKEN_HASH, TOKEN))
        _, other = generate_token()
        self.assertFalse(verify_token(TOKEN_HASH, PREFIX + "." + other.split(".", 1)[1]))
        self.assertFalse(verify_token(TOKEN_HASH, TOKEN + "x"))
        self.assertFalse(verify_token("not a hash", TOKEN))


class ScopeAndExpirationTests(SynchronousTestCase):
    def test_scope(self):
        """``*`` allows every endpoint; a list allows its names only."""
        every = AdminToken.new(1000, PREFIX, TOKEN_HASH, "all")
        self.assertTrue(every.allows("CreateBucket", 2000))
        self.assertTrue(every.allows("Metrics", 2000))
        some = AdminToken.new(1000, PREFIX, TOKEN_HASH, "some", scope=["ListBuckets"])
        self.assertTrue(some.allows("ListBuckets", 2000))
        self.assertFalse(some.allows("CreateBucket", 2000))
        self.assertFalse(some.allows("CreateAdminToken", 2000))
        self.assertFalse(AdminToken.new(1000, PREFIX, TOKEN_HASH, "none", scope=[])
                         .allows("ListBuckets", 2000))

    def test_expiration(self):
        """A token allows nothing from its expiration on; never-expiring ones stay."""
        token = AdminToken.new(1000, PREFIX, TOKEN_HASH, "t", expiration=5000)
        self.assertTrue(token.allows("ListBuckets", 4999))
        self.assertFalse(token.allows("ListBuckets", 5000))
        self.assertTrue(token.params.is_expired(5000))
        again = token.updated(6000, expiration=None)
        self.assertTrue(again.allows("ListBuckets", 10 ** 12))

    def test_deleted_allows_nothing(self):
        """A deleted token allows nothing, whatever its scope was."""
        token = AdminToken.new(1000, PREFIX, TOKEN_HASH, "t").deleted()
        self.assertFalse(token.allows("ListBuckets", 2000))
        self.assertTrue(token.is_tombstone())

    def test_update_keeps_what_is_not_given(self):
        """Updating the name leaves the expiration and the scope."""
        token = AdminToken.new(1000, PREFIX, TOKEN_HASH, "t", expiration=9000,
                               scope=["ListBuckets"])
        renamed = token.updated(2000, name="u")
        self.assertEqual(renamed.params.name.value, "u")
        self.assertEqual(renamed.params.expiration.value, 9000)
        self.assertEqual(renamed.params.scope.value.names, ("ListBuckets",))
        self.assertEqual(renamed.params.token_hash, TOKEN_HASH)


class MergeTests(SynchronousTestCase):
    @settings(max_examples=200)
    @given(tokens, tokens, tokens)
    def test_merge_laws(self, a, b, c):
        """Token merges are commutative, associative and idempotent."""
        self.assertEqual(a.merge(b), b.merge(a))
        self.assertEqual(a.merge(b).merge(c), a.merge(b.merge(c)))
        self.assertEqual(a.merge(a), a)

    @given(scopes, scopes)
    def test_scope_tie_never_widens(self, a, b):
        """Two scopes written at one instant merge to what both allow."""
        merged = Lww(7, a).merge(Lww(7, b)).value
        for name in ("*", "ListBuckets", "CreateBucket", "GetNodeInfo", "Other"):
            if merged.allows(name):
                self.assertTrue(a.allows(name) or b.allows(name))
            self.assertLessEqual(set(merged.names), set(a.names) | set(b.names))
        if a != b:
            self.assertEqual(set(merged.names), set(a.names) & set(b.names))

    def test_later_scope_wins(self):
        """A later narrowing replaces an earlier scope on every replica."""
        token = AdminToken.new(1000, PREFIX, TOKEN_HASH, "t")
        narrowed = token.updated(2000, scope=["ListBuckets"])
        self.assertEqual(token.merge(narrowed).params.scope.value.names, ("ListBuckets",))
        self.assertEqual(narrowed.merge(token).params.scope.value.names, ("ListBuckets",))

    def test_deletion_wins(self):
        """A deletion beats any later update from a lagging replica."""
        token = AdminToken.new(1000, PREFIX, TOKEN_HASH, "t")
        late = token.updated(10 ** 9, name="late")
        self.assertTrue(token.deleted().merge(late).is_tombstone())
        self.assertTrue(late.merge(token.deleted()).is_tombstone())


class EncodingAndFilterTests(SynchronousTestCase):
    def test_round_trip(self):
        """A token (and a tombstone) decodes to itself."""
        token = AdminToken.new(1000, PREFIX, TOKEN_HASH, "t", expiration=5000,
                               scope=["ListBuckets", "GetNodeInfo"])
        for value in (token, token.deleted()):
            self.assertEqual(AdminToken.decode(value.encode()), value)
        self.assertTrue(token.encode().startswith(b"GT.admin_token.v1"))

    def test_filters(self):
        """``live`` hides deletions; a search matches an id prefix or the
        exact name, case-insensitively, never a deleted token."""
        schema = AdminTokenTableSchema()
        token = AdminToken.new(1000, "abcdef0123456789abcdef01", TOKEN_HASH, "Console")
        self.assertTrue(schema.matches_filter(token, "live"))
        self.assertFalse(schema.matches_filter(token.deleted(), "live"))
        self.assertTrue(schema.matches_filter(token.deleted(), None))
        for pattern, found in (("abc", True), ("ABCDEF", True), ("console", True),
                               ("cons", False), ("bcd", False)):
            self.assertEqual(schema.matches_filter(token, ["search", pattern]), found, pattern)
        self.assertFalse(schema.matches_filter(token.deleted(), ["search", "abc"]))
        self.assertTrue(re.fullmatch(r"[0-9a-f]{24}", PREFIX))
