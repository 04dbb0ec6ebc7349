"""Byte counts as people read them (decimal units, as Garage prints them)."""


def human_size(value: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"``; ``None`` -> ``"-"``."""
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{value} B"
        value /= 1000
    return str(value)
