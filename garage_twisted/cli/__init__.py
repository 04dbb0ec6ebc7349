"""The ``garage`` command-line tool, a client of the admin API.
"""

__all__: list[str] = []
