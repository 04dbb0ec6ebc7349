"""The S3 API: routing, SigV4, body decoding, and one module per operation group.
"""

__all__: list[str] = []
