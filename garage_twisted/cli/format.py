"""Output helpers of the CLI: aligned tables and human sizes."""

import re

from garage_twisted.util.units import human_size  # noqa: F401  (the CLI's name for it)

_CAPACITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(i?)[bB]?\s*$")
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def table(rows: list[list[str]]) -> str:
    """Columns separated by two spaces, each as wide as its widest cell."""
    if not rows:
        return ""
    widths = [max(len(str(row[i])) for row in rows if i < len(row))
              for i in range(max(len(r) for r in rows))]
    lines = []
    for row in rows:
        cells = [str(c).ljust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


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
