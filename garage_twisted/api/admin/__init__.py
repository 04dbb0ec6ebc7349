"""garage_twisted.api.admin."""

__all__: list[str] = []
