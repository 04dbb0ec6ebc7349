"""garage_twisted.net."""

__all__: list[str] = []
