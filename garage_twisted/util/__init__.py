"""garage_twisted.util."""

__all__: list[str] = []
