"""The generic replicated table engine: schemas, local data, Merkle tries, quorums.
"""

__all__: list[str] = []
