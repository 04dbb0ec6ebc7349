"""garage_twisted.block."""

__all__: list[str] = []
