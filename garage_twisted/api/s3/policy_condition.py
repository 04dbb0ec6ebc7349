"""Conditions of bucket policies, and IAM's wildcard patterns.

The condition keys a policy may test (:data:`CONDITION_KEYS`, spelled as
the request context of :mod:`.access` spells them) and the operators it may
test them with (:data:`OPERATORS`, plus their ``...IfExists`` forms): each
key admits only the operators of its type (an address, a boolean, a date, a
number, a string), and everything else is refused with MalformedPolicy
naming it. :class:`Glob` is IAM's ``*``/``?`` matching, used by
``StringLike`` and by :mod:`.policy` for actions and resources.

Pure: the time (``aws:CurrentTime``) comes in the context, in milliseconds
or as a datetime.
"""

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from garage_twisted.api.s3 import errors

# Condition keys of the request context (the exact spellings the access
# decision's context uses; policies may write them in any case).
SOURCE_IP = "aws:SourceIp"
SECURE_TRANSPORT = "aws:SecureTransport"
CURRENT_TIME = "aws:CurrentTime"
REFERER = "aws:Referer"
USER_AGENT = "aws:UserAgent"
PREFIX = "s3:prefix"
DELIMITER = "s3:delimiter"
MAX_KEYS = "s3:max-keys"

# Key -> the kinds of operator that may test it ("null" always may).
CONDITION_KEYS = {
    SOURCE_IP: ("ip",),
    SECURE_TRANSPORT: ("bool",),
    CURRENT_TIME: ("date",),
    REFERER: ("string",),
    USER_AGENT: ("string",),
    PREFIX: ("string",),
    DELIMITER: ("string",),
    MAX_KEYS: ("numeric", "string"),
}
_KEY_OF_LOWER = {key.lower(): key for key in CONDITION_KEYS}

# Operator -> (kind, positive base test, negated). A negated operator holds
# when the positive test fails (and when the key is absent).
OPERATORS = {
    "StringEquals": ("string", "StringEquals", False),
    "StringNotEquals": ("string", "StringEquals", True),
    "StringEqualsIgnoreCase": ("string", "StringEqualsIgnoreCase", False),
    "StringNotEqualsIgnoreCase": ("string", "StringEqualsIgnoreCase", True),
    "StringLike": ("string", "StringLike", False),
    "StringNotLike": ("string", "StringLike", True),
    "NumericEquals": ("numeric", "NumericEquals", False),
    "NumericNotEquals": ("numeric", "NumericEquals", True),
    "NumericLessThan": ("numeric", "NumericLessThan", False),
    "NumericLessThanEquals": ("numeric", "NumericLessThanEquals", False),
    "NumericGreaterThan": ("numeric", "NumericGreaterThan", False),
    "NumericGreaterThanEquals": ("numeric", "NumericGreaterThanEquals", False),
    "DateEquals": ("date", "DateEquals", False),
    "DateNotEquals": ("date", "DateEquals", True),
    "DateLessThan": ("date", "DateLessThan", False),
    "DateLessThanEquals": ("date", "DateLessThanEquals", False),
    "DateGreaterThan": ("date", "DateGreaterThan", False),
    "DateGreaterThanEquals": ("date", "DateGreaterThanEquals", False),
    "Bool": ("bool", "Bool", False),
    "IpAddress": ("ip", "IpAddress", False),
    "NotIpAddress": ("ip", "IpAddress", True),
    "Null": ("null", "Null", False),
}

class Glob:
    """An IAM wildcard pattern: ``*`` any run of characters (``/`` too),
    ``?`` one character; the rest literal.

    Matching splits the pattern at its stars: the first piece must start the
    text, the last end it, and each middle piece is found leftmost after the
    previous one, which is exact for pieces of fixed length and costs at most
    one scan per piece (a regex with several ``.*`` could backtrack
    exponentially on a crafted pattern).
    """

    __slots__ = ("pattern", "_pieces", "_starred", "_last_len")

    def __init__(self, pattern: str, ignore_case: bool = False):
        self.pattern = pattern
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        pieces = pattern.split("*")
        self._starred = len(pieces) > 1
        self._pieces = tuple(
            re.compile("".join("." if char == "?" else re.escape(char) for char in piece),
                       flags)
            for piece in pieces)
        self._last_len = len(pieces[-1])

    def __eq__(self, other):
        return isinstance(other, Glob) and other.pattern == self.pattern

    def __hash__(self):
        return hash(self.pattern)

    def __repr__(self):
        return f"Glob({self.pattern!r})"

    def matches(self, text: str) -> bool:
        pieces = self._pieces
        if not self._starred:
            return pieces[0].fullmatch(text) is not None
        first = pieces[0].match(text)
        if first is None:
            return False
        end = len(text) - self._last_len
        position = first.end()
        if end < position or pieces[-1].fullmatch(text, end) is None:
            return False
        for piece in pieces[1:-1]:
            found = piece.search(text, position, end)
            if found is None:
                return False
            position = found.end()
        return True

    def may_start(self, prefix: str) -> bool:
        """Whether some text beginning with ``prefix`` matches (used once,
        when a policy is put: does this resource reach into the bucket?)."""
        pattern, states = self.pattern, {0}
        for char in prefix:
            reached = set()
            for state in _closure(pattern, states):
                if state < len(pattern):
                    if pattern[state] == "*":
                        reached.add(state)
                    elif pattern[state] in ("?", char):
                        reached.add(state + 1)
            if not reached:
                return False
            states = reached
        return True


def _closure(pattern: str, states: set) -> set:
    """``states`` plus the positions reached by skipping stars."""
    out = set(states)
    for state in states:
        while state < len(pattern) and pattern[state] == "*":
            state += 1
            out.add(state)
    return out


@dataclass(frozen=True)
class Condition:
    """One key tested by one operator: ``{"StringLike": {"s3:prefix": [...]}}``
    gives one Condition per key. ``values`` are parsed for the operator's
    kind (strings, :class:`Glob`, floats, milliseconds, booleans, networks)."""

    operator: str
    key: str
    values: tuple
    base: str
    negated: bool
    if_exists: bool

    def holds(self, context) -> bool:
        value = context.get(self.key)
        if self.base == "Null":
            return (value is None) in self.values
        if value is None:
            return self.if_exists or self.negated
        return _TESTS[self.base](self.values, value) != self.negated


def parse_conditions(block, version: str) -> tuple:
    """The :class:`Condition` values of a statement's Condition element.

    :raises errors.MalformedPolicy: naming what is not supported.
    """
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise _malformed("Condition must be a JSON object")
    out = []
    for operator, tests in block.items():
        if operator.startswith(("ForAnyValue:", "ForAllValues:")):
            raise _malformed(f"Condition operator {operator} is not supported by this server "
                             "(no supported key has several values)")
        base_name = operator[:-len("IfExists")] if operator.endswith("IfExists") else operator
        if base_name not in OPERATORS or operator == "NullIfExists":
            raise _malformed(f"Condition operator {operator[:64]} is not supported by this "
                             "server")
        kind, base, negated = OPERATORS[base_name]
        if not isinstance(tests, dict) or not tests:
            raise _malformed(f"Condition operator {operator} must map condition keys to "
                             "values")
        for raw_key, raw_values in tests.items():
            key = _KEY_OF_LOWER.get(raw_key.lower())
            if key is None:
                raise _malformed(f"Condition key {raw_key[:64]} is not supported by this "
                                 f"server (supported: {', '.join(CONDITION_KEYS)})")
            if kind != "null" and kind not in CONDITION_KEYS[key]:
                raise _malformed(f"Condition operator {operator} does not apply to key {key}")
            values = [raw_values] if not isinstance(raw_values, list) else raw_values
            if not values or not all(isinstance(one, (str, int, float, bool))
                                     for one in values):
                raise _malformed(f"Condition values of {key} must be a string, number, "
                                 "boolean or a non-empty list of them")
            if version == "2012-10-17" and any(isinstance(one, str) and "${" in one
                                               for one in values):
                raise _malformed(f"Policy variables are not supported by this server "
                                 f"(in condition key {key})")
            parser = _VALUE_PARSERS[_STRING_PARSERS.get(base, kind)]
            parsed = tuple(parser(one, key) for one in values)
            out.append(Condition(operator, key, parsed, base, negated,
                                 operator != base_name))
    return tuple(out)


def _text_value(value, key) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool_value(value, key) -> bool:
    text = _text_value(value, key).lower()
    if text not in ("true", "false"):
        raise _malformed(f"Invalid boolean {str(value)[:64]!r} for condition key {key}")
    return text == "true"


def _number_value(value, key) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    except ValueError:
        raise _malformed(f"Invalid number {str(value)[:64]!r} for condition key {key}")


def _date_value(value, key) -> int:
    """Milliseconds since the epoch of an ISO 8601 date or epoch seconds."""
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, (int, float)) or re.fullmatch(r"\d+", str(value)):
            return int(float(value) * 1000)
        moment = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError):
        raise _malformed(f"Invalid date {str(value)[:64]!r} for condition key {key} "
                         "(ISO 8601, e.g. 2026-01-01T00:00:00Z, or epoch seconds)")
    return to_msec(moment)


def _network_value(value, key):
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise _malformed(f"Invalid IP address in Conditions: {str(value)[:64]!r}")


# String operators whose values are kept in another form than the text.
_STRING_PARSERS = {"StringLike": "glob", "StringEqualsIgnoreCase": "folded"}
_VALUE_PARSERS = {
    "string": _text_value,
    "glob": lambda value, key: Glob(_text_value(value, key)),
    "folded": lambda value, key: _text_value(value, key).casefold(),
    "bool": _bool_value,
    "null": _bool_value,
    "numeric": _number_value,
    "date": _date_value,
    "ip": _network_value,
}


# -- evaluation of one condition -------------------------------------------

def to_msec(moment) -> int:
    """Milliseconds since the epoch of ``moment`` (a datetime, naive meaning
    UTC, or already milliseconds)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    return int(moment)


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_ip(value):
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _numeric(compare):
    def test(values, value):
        number = _as_number(value)
        return number is not None and any(compare(number, one) for one in values)
    return test


def _dated(compare):
    def test(values, value):
        try:
            moment = to_msec(value)
        except (TypeError, ValueError, OverflowError):
            return False
        return any(compare(moment, one) for one in values)
    return test


def _ip_test(values, value):
    address = _as_ip(value)
    return address is not None and any(address in network for network in values)


def _bool_test(values, value):
    flag = value if isinstance(value, bool) else _as_text(value).lower() == "true"
    return flag in values


_TESTS = {
    "StringEquals": lambda values, value: _as_text(value) in values,
    "StringEqualsIgnoreCase": lambda values, value: _as_text(value).casefold() in values,
    "StringLike": lambda values, value: any(glob.matches(_as_text(value)) for glob in values),
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
    "DateEquals": _dated(lambda a, b: a == b),
    "DateLessThan": _dated(lambda a, b: a < b),
    "DateLessThanEquals": _dated(lambda a, b: a <= b),
    "DateGreaterThan": _dated(lambda a, b: a > b),
    "DateGreaterThanEquals": _dated(lambda a, b: a >= b),
    "Bool": _bool_test,
    "IpAddress": _ip_test,
}


def _malformed(message: str) -> errors.S3Error:
    return errors.MalformedPolicy(message)
