"""garage_twisted.db."""

__all__: list[str] = []
