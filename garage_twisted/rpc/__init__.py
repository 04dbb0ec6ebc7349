"""Cluster membership: ring partitions, layout and its assignment, system status.
"""

__all__: list[str] = []
