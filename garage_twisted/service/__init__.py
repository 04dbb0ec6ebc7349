"""Composition root: the node's service tree and the twistd plugin's options.
"""

__all__: list[str] = []
