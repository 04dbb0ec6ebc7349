"""Durations written as Garage's configuration writes them (``"6h"``).

Garage reads ``metadata_auto_snapshot_interval`` with the ``parse_duration``
crate: a sequence of numbers, each with an optional unit, added up. This is
that syntax for the units a person writes: ``"6h"``, ``"1h30m"``,
``"1 day 12 hours"``, ``"1.5h"``, ``"90"`` (a bare number is seconds).
Units (case-insensitive): ``ns``/``nsec``/``nanosecond(s)``,
``us``/``usec``/``µs``/``microsecond(s)``, ``ms``/``msec``/
``millisecond(s)``, ``s``/``sec(s)``/``second(s)``, ``m``/``min(s)``/
``minute(s)``, ``h``/``hr(s)``/``hour(s)``, ``d``/``day(s)``,
``w``/``wk(s)``/``week(s)``, ``mo``/``mon``/``month(s)`` (30.436875 days, as
the crate) and ``y``/``yr(s)``/``year(s)`` (365.2425 days).
"""

import math
import re

from garage_twisted.util.errors import ConfigError

_UNITS = {}
for _seconds, _names in (
        (1e-9, ("ns", "nsec", "nanosecond", "nanoseconds")),
        (1e-6, ("us", "usec", "µs", "microsecond", "microseconds")),
        (1e-3, ("ms", "msec", "millisecond", "milliseconds")),
        (1, ("", "s", "sec", "secs", "second", "seconds")),
        (60, ("m", "min", "mins", "minute", "minutes")),
        (3600, ("h", "hr", "hrs", "hour", "hours")),
        (86400, ("d", "day", "days")),
        (7 * 86400, ("w", "wk", "wks", "week", "weeks")),
        (2_629_746, ("mo", "mon", "month", "months")),
        (31_556_952, ("y", "yr", "yrs", "year", "years"))):
    for _name in _names:
        _UNITS[_name] = _seconds
_TERM = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*([a-zA-Zµ]*)\s*,?")


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds of ``text``.

    :raises ConfigError: not a duration (one readable line).
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f'{what} must be a duration string like "6h"')
    total = 0.0
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position:
            if not text[position:].strip():
                break
            raise ConfigError(f"{what}: cannot read {text!r} as a duration (try \"6h\")")
        number, unit = match.groups()
        seconds = _UNITS.get(unit.lower())
        if seconds is None:
            raise ConfigError(f"{what}: unknown unit {unit!r} in {text!r}")
        total += float(number) * seconds
        position = match.end()
    if not math.isfinite(total):
        # "1e400h" reads as infinity: a timer at infinity never fires.
        raise ConfigError(f"{what}: {text!r} is too long a duration")
    return total
