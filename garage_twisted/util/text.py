"""Text for people: byte counts (decimal units, as Garage prints them) and
aligned columns."""


def human_size(value: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"``; ``None`` -> ``"-"``."""
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{value} B"
        value /= 1000
    return str(value)


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
