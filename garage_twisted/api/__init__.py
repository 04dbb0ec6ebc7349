"""garage_twisted.api."""

__all__: list[str] = []
