"""garage_twisted.table."""

__all__: list[str] = []
