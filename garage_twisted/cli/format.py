"""Output helpers of the CLI: aligned tables and human sizes (shared with the
admin API's freeform texts, in :mod:`garage_twisted.util.text`), capacities."""

import re

from garage_twisted.util.text import human_size, table  # noqa: F401  (the CLI's names)

_CAPACITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(i?)[bB]?\s*$")
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_capacity(text: str) -> int:
    """``10G`` = 10**10 bytes, ``10GiB`` = 10 * 2**30 (as Garage's CLI).

    :raises ValueError: for an unreadable size.
    """
    match = _CAPACITY.match(text)
    if not match:
        raise ValueError(f"cannot read capacity {text!r} (try 500G, 2T, 100GiB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** _POWERS[unit.lower()])
