"""Key-value storage of a node's metadata: the LevelDB store and its in-memory twin.
"""

__all__: list[str] = []
