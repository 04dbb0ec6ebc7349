"""garage_twisted."""

__all__: list[str] = []
