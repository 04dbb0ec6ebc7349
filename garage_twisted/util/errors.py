"""Root of the project's error hierarchy.

Every error the project raises on purpose derives from :class:`GarageError`.
An error crosses the wire (RPC, admin API) as its ``(code, message)`` pair,
never as a pickle; ``code`` is a stable CamelCase string.
"""


class GarageError(Exception):
    """Base class of every deliberate error in garage-twisted."""

    code = "GarageError"

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message or self.code


class ConfigError(GarageError):
    """The configuration file is missing, unreadable or invalid."""

    code = "ConfigError"


class CorruptData(GarageError):
    """Stored bytes do not decode to what they should be."""

    code = "CorruptData"


class NotFound(GarageError):
    """A requested item does not exist."""

    code = "NotFound"


class QuorumError(GarageError):
    """Not enough nodes answered to reach the required quorum."""

    code = "QuorumError"
