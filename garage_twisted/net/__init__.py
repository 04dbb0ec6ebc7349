"""Node identity and peer addresses (the encrypted peer protocol comes here).
"""

__all__: list[str] = []
