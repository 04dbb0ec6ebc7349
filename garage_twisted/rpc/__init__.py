"""garage_twisted.rpc."""

__all__: list[str] = []
