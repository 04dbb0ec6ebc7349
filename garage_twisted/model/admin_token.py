"""The ``admin_token`` table: scoped admin API tokens (full copy on every node).

A token is ``<prefix>.<secret>``, as Garage's: the prefix (24 hex digits) is
the row's id and is shown in listings; the secret (32 random bytes, base64url
without padding) is shown once, at creation. The row keeps an argon2id hash
of the whole token (PHC string, Garage's parameters), never the token nor
the secret: whoever reads the metadata directory cannot act with it.

A token's parameters are last-writer-wins registers (name, expiration,
scope) around two values fixed at creation (the creation time and the
hash). Its state is :class:`~garage_twisted.util.crdt.Deletable`: once
deleted, a prefix never authenticates again, whatever a lagging replica
says. Two writes of a scope with the same timestamp merge to the names both
hold (Garage's intersection): a tie never widens a token.

Hashing and checking are slow on purpose (tens of milliseconds): callers run
:func:`hash_token` and :func:`verify_token` off the reactor thread.
"""

import base64
import functools
import secrets
from dataclasses import dataclass, replace

from garage_twisted.table.schema import EMPTY_PARTITION, Entry, TableSchema
from garage_twisted.util.crdt import Deletable, Lww

# The scope that allows every admin endpoint.
ALL_ENDPOINTS = "*"
PREFIX_BYTES = 12
SECRET_BYTES = 32


@functools.cache
def _hasher():
    """Garage's ``Argon2::default()``: argon2id, 19 MiB, 2 passes, 1 lane
    (the OWASP minimum); the PHC string carries them, so a hash made by
    either implementation is checked by the other. argon2-cffi is imported
    on the first token made or checked: most nodes never see one."""
    from argon2 import PasswordHasher, Type

    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1,
                          hash_len=32, salt_len=16, type=Type.ID)


def generate_token() -> tuple:
    """A fresh ``(prefix, token)``: ``token`` is ``prefix + "." + secret``."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=")
    return prefix, f"{prefix}.{secret.decode()}"


def split_token(token: str):
    """The prefix of a ``<prefix>.<secret>`` token, or ``None`` for any other
    string (the configuration's admin token, say)."""
    prefix, dot, secret = token.partition(".")
    if not dot or not prefix or not secret:
        return None
    return prefix


def hash_token(token: str) -> str:
    """The argon2id PHC string of ``token`` (slow: run it in a thread)."""
    return _hasher().hash(token.encode())


def verify_token(token_hash: str, token: str) -> bool:
    """Whether ``token`` is the one ``token_hash`` was made from (slow: run it
    in a thread). A malformed hash verifies nothing."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(token_hash, token.encode())
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenScope:
    """The admin endpoints a token may call (names, or ``*`` for all)."""

    names: tuple

    def allows(self, endpoint: str) -> bool:
        return ALL_ENDPOINTS in self.names or endpoint in self.names

    def merge(self, other: "TokenScope") -> "TokenScope":
        # Only reached for two writes with one timestamp: keep what both
        # allow, in an order every replica computes alike.
        if other == self:
            return self
        return TokenScope(tuple(sorted(set(self.names) & set(other.names))))

    def to_cbor(self):
        return list(self.names)

    @classmethod
    def from_cbor(cls, raw) -> "TokenScope":
        return cls(tuple(str(name) for name in raw))


@dataclass(frozen=True)
class AdminTokenParams:
    created: int  # ms since the epoch, fixed at creation
    token_hash: str  # argon2id PHC string of the whole token, fixed at creation
    name: Lww
    expiration: Lww  # ms since the epoch, or None (never)
    scope: Lww  # TokenScope

    def is_expired(self, now_ms: int) -> bool:
        expiration = self.expiration.value
        return expiration is not None and now_ms >= expiration

    def merge(self, other: "AdminTokenParams") -> "AdminTokenParams":
        return AdminTokenParams(
            # Fixed at creation: equal on every replica; a stable choice
            # all the same.
            min(self.created, other.created),
            max(self.token_hash, other.token_hash),
            self.name.merge(other.name),
            self.expiration.merge(other.expiration),
            self.scope.merge(other.scope),
        )

    def to_cbor(self):
        return [self.created, self.token_hash, self.name.to_cbor(),
                self.expiration.to_cbor(), self.scope.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "AdminTokenParams":
        return cls(int(raw[0]), raw[1], Lww.from_cbor(raw[2]), Lww.from_cbor(raw[3]),
                   Lww.from_cbor(raw[4], TokenScope.from_cbor))


@dataclass(frozen=True)
class AdminToken(Entry):
    """An admin API token: its prefix and its (deletable) parameters."""

    MARKER = b"GT.admin_token.v1"

    prefix: str
    state: Deletable

    @classmethod
    def new(cls, now_ms: int, prefix: str, token_hash: str, name: str,
            expiration: int | None = None, scope=(ALL_ENDPOINTS,)) -> "AdminToken":
        params = AdminTokenParams(now_ms, token_hash, Lww(now_ms, name),
                                  Lww(now_ms, expiration), Lww(now_ms, TokenScope(tuple(scope))))
        return cls(prefix, Deletable(params))

    @property
    def params(self) -> AdminTokenParams | None:
        return self.state.value

    def updated(self, now_ms: int, name=None, expiration=..., scope=None) -> "AdminToken":
        """This token with the given registers written at ``now_ms``
        (``expiration``: ms, ``None`` for never, ``...`` to keep it)."""
        params = self.params
        if name is not None:
            params = replace(params, name=params.name.update(now_ms, name))
        if expiration is not ...:
            params = replace(params, expiration=params.expiration.update(now_ms, expiration))
        if scope is not None:
            params = replace(params, scope=params.scope.update(now_ms, TokenScope(tuple(scope))))
        return replace(self, state=Deletable(params))

    def deleted(self) -> "AdminToken":
        return replace(self, state=Deletable(None))

    def allows(self, endpoint: str, now_ms: int) -> bool:
        """Whether this token (live, unexpired) may call ``endpoint``."""
        params = self.params
        return (params is not None and not params.is_expired(now_ms)
                and params.scope.value.allows(endpoint))

    def partition_hash(self) -> bytes:
        return EMPTY_PARTITION

    def sort_key(self) -> bytes:
        return self.prefix.encode()

    def merge(self, other: "AdminToken") -> "AdminToken":
        merged = self.state.merge(other.state)
        return self if merged is self.state else replace(self, state=merged)

    def is_tombstone(self) -> bool:
        return self.state.is_deleted

    def to_cbor(self):
        return [self.prefix, self.state.to_cbor()]

    @classmethod
    def from_cbor(cls, raw) -> "AdminToken":
        return cls(raw[0], Deletable.from_cbor(raw[1], AdminTokenParams.from_cbor))


class AdminTokenTableSchema(TableSchema):
    table_name = "admin_token"
    entry_class = AdminToken

    def matches_filter(self, entry: AdminToken, entry_filter) -> bool:
        """Filters: ``None`` (all), ``"live"`` (not deleted), or
        ``("search", pattern)``: live, and the prefix starts with the pattern
        or the name is it (case-insensitive, as Garage)."""
        if entry_filter is None:
            return True
        if entry.state.is_deleted:
            return False
        if entry_filter == "live":
            return True
        _, pattern = entry_filter
        pattern = pattern.lower()
        return (entry.prefix.lower().startswith(pattern)
                or entry.params.name.value.lower() == pattern)
