"""What calls to other nodes raise, on either side of a connection.

Errors cross the wire as ``(code, message)`` strings only (``net/mux.py``):
a handler raises :class:`RpcError` to answer one, the caller gets it back as
:class:`RemoteError`. The others say what happened to the call itself.
"""

from garage_twisted.util.errors import GarageError


class RpcError(GarageError):
    """Raised by a handler to answer with an error ``(code, message)``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class RemoteError(RpcError):
    """The peer answered a call with an error."""


class PeerDisconnected(GarageError):
    code = "PeerDisconnected"


class CallTimeout(GarageError):
    code = "CallTimeout"


class ProtocolViolation(Exception):
    """The peer broke the protocol: close the connection."""
