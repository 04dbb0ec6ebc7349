"""Content-addressed data blocks: on-disk store, compression, reference counting.
"""

__all__: list[str] = []
