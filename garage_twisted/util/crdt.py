"""Conflict-free replicated data types: the only way stored values change.

Every type here is an immutable value with ``merge(other) -> merged``, and
``merge`` is commutative, associative and idempotent, so replicas that saw the
same set of writes in any order hold the same value
(``tests/unit/util/test_crdt.py`` checks the laws with hypothesis).

Values held inside a CRDT are either plain CBOR data or objects with
``to_cbor()``; when two writes carry the same timestamp, :class:`Lww` merges
CRDT values and otherwise keeps the value whose canonical encoding is larger,
which every replica computes alike.

Timestamps are milliseconds (see :func:`garage_twisted.util.time.now_msec`);
an update takes ``max(now, previous + 1)`` so a node whose clock lags still
supersedes what it read.
"""

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from garage_twisted.util import codec


def to_plain(value) -> Any:
    """Turn a value into plain CBOR data, calling ``to_cbor()`` where present."""
    to_cbor = getattr(value, "to_cbor", None)
    if to_cbor is not None:
        return to_cbor()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _order_key(value) -> bytes:
    """A total order on values that all replicas agree on."""
    return codec.dumps(to_plain(value))


def _is_uint(value) -> bool:
    return type(value) is int and value >= 0


def canonical_sorted(keys) -> list:
    """``keys`` in the order of their canonical CBOR encodings.

    Common key types are sorted natively, with the same result: CBOR encodes
    non-negative integers in order-preserving, prefix-free forms (so tuples
    of them compare like the tuples), and byte strings of one length share
    their header (so they compare like the strings). Encoding every key just
    to sort, as the general case does, cost big version entries (1,000
    blocks) a millisecond per write.
    """
    keys = list(keys)
    if not keys:
        return keys
    first = keys[0]
    if _is_uint(first):
        if all(_is_uint(k) for k in keys):
            return sorted(keys)
    elif type(first) is tuple:
        width = len(first)
        if all(type(k) is tuple and len(k) == width and all(_is_uint(x) for x in k)
               for k in keys):
            return sorted(keys)
    elif type(first) is bytes:
        size = len(first)
        if all(type(k) is bytes and len(k) == size for k in keys):
            return sorted(keys)
    return sorted(keys, key=_order_key)


def merge_values(a, b):
    """Merge two values of the same type: CRDTs merge, plain values tie-break."""
    if a is b or a == b:
        return a
    if hasattr(a, "merge"):
        return a.merge(b)
    return a if _order_key(a) >= _order_key(b) else b


@dataclass(frozen=True)
class Lww:
    """Last-writer-wins register: the value with the larger timestamp wins."""

    timestamp: int
    value: Any

    def update(self, now_ms: int, value) -> "Lww":
        """Return a register holding ``value`` that supersedes this one."""
        return Lww(max(now_ms, self.timestamp + 1), value)

    def merge(self, other: "Lww") -> "Lww":
        if other.timestamp > self.timestamp:
            return other
        if other.timestamp < self.timestamp:
            return self
        merged = merge_values(self.value, other.value)
        if merged is self.value:
            return self
        if merged is other.value:
            return other
        return Lww(self.timestamp, merged)

    def to_cbor(self):
        return [self.timestamp, to_plain(self.value)]

    @classmethod
    def from_cbor(cls, raw, value_from: Callable = lambda v: v) -> "Lww":
        return cls(int(raw[0]), value_from(raw[1]))


@dataclass(frozen=True)
class Bool:
    """A boolean that, once true, stays true (merge is logical or)."""

    value: bool = False

    def merge(self, other: "Bool") -> "Bool":
        return self if self.value or not other.value else other

    def to_cbor(self):
        return self.value

    @classmethod
    def from_cbor(cls, raw) -> "Bool":
        return cls(bool(raw))


@dataclass(frozen=True)
class Deletable:
    """A value that can be deleted for good: deletion wins every merge.

    ``value is None`` means deleted.
    """

    value: Any = None

    @property
    def is_deleted(self) -> bool:
        return self.value is None

    def merge(self, other: "Deletable") -> "Deletable":
        if self.value is None:
            return self
        if other.value is None:
            return other
        merged = merge_values(self.value, other.value)
        return self if merged is self.value else Deletable(merged)

    def to_cbor(self):
        return None if self.value is None else [to_plain(self.value)]

    @classmethod
    def from_cbor(cls, raw, value_from: Callable = lambda v: v) -> "Deletable":
        return cls(None if raw is None else value_from(raw[0]))


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


@dataclass(frozen=True, eq=False)
class LwwMap:
    """A map whose every key is its own last-writer-wins register.

    ``entries`` maps key to ``(timestamp, value)``. Keys are plain CBOR data
    (``bytes``, ``str``, ``int`` or tuples of those).
    """

    entries: Mapping = field(default_factory=lambda: _frozen({}))

    def get(self, key, default=None):
        item = self.entries.get(key)
        return default if item is None else item[1]

    def timestamp_of(self, key) -> int:
        item = self.entries.get(key)
        return 0 if item is None else item[0]

    def items(self):
        """``(key, value)`` pairs in the canonical key order."""
        return [(k, self.entries[k][1]) for k in self._sorted_keys()]

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other) -> bool:
        return isinstance(other, LwwMap) and dict(self.entries) == dict(
            other.entries
        )

    def __hash__(self) -> int:
        return hash(tuple(self._sorted_keys()))

    def put(self, now_ms: int, key, value) -> "LwwMap":
        """Return a map where ``key`` holds ``value``, superseding the old one."""
        new = dict(self.entries)
        new[key] = (max(now_ms, self.timestamp_of(key) + 1), value)
        return LwwMap(_frozen(new))

    def merge(self, other: "LwwMap") -> "LwwMap":
        new = dict(self.entries)
        for key, (ts, value) in other.entries.items():
            mine = new.get(key)
            if mine is None:
                new[key] = (ts, value)
            else:
                merged = Lww(*mine).merge(Lww(ts, value))
                new[key] = (merged.timestamp, merged.value)
        return LwwMap(_frozen(new))

    def _sorted_keys(self):
        return canonical_sorted(self.entries)

    def to_cbor(self):
        return [
            [to_plain(k), self.entries[k][0], to_plain(self.entries[k][1])]
            for k in self._sorted_keys()
        ]

    @classmethod
    def from_cbor(
        cls,
        raw,
        value_from: Callable = lambda v: v,
        key_from: Callable = lambda k: k,
    ) -> "LwwMap":
        return cls(
            _frozen({key_from(k): (int(ts), value_from(v)) for k, ts, v in raw})
        )


@dataclass(frozen=True, eq=False)
class CrdtMap:
    """A map of keys to CRDT values, merged key by key; keys are never removed."""

    entries: Mapping = field(default_factory=lambda: _frozen({}))

    def get(self, key, default=None):
        return self.entries.get(key, default)

    def items(self):
        return [(k, self.entries[k]) for k in canonical_sorted(self.entries)]

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other) -> bool:
        return isinstance(other, CrdtMap) and dict(self.entries) == dict(
            other.entries
        )

    def __hash__(self) -> int:
        return hash(len(self.entries))

    def put(self, key, value) -> "CrdtMap":
        """Return a map where ``key``'s value is merged with ``value``."""
        new = dict(self.entries)
        old = new.get(key)
        new[key] = value if old is None else merge_values(old, value)
        return CrdtMap(_frozen(new))

    def merge(self, other: "CrdtMap") -> "CrdtMap":
        new = dict(self.entries)
        for key, value in other.entries.items():
            old = new.get(key)
            new[key] = value if old is None else merge_values(old, value)
        return CrdtMap(_frozen(new))

    def to_cbor(self):
        return [[to_plain(k), to_plain(v)] for k, v in self.items()]

    @classmethod
    def from_cbor(
        cls,
        raw,
        value_from: Callable = lambda v: v,
        key_from: Callable = lambda k: k,
    ) -> "CrdtMap":
        return cls(_frozen({key_from(k): value_from(v) for k, v in raw}))
