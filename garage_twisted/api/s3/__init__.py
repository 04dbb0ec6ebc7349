"""garage_twisted.api.s3."""

__all__: list[str] = []
