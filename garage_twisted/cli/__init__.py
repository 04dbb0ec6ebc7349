"""garage_twisted.cli."""

__all__: list[str] = []
