"""garage_twisted.service."""

__all__: list[str] = []
