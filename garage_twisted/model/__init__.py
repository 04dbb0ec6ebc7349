"""garage_twisted.model."""

__all__: list[str] = []
