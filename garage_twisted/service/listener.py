"""A service that listens on a configured address and knows its bound port.

Unlike ``strports.service``, :class:`ListenerService` binds synchronously in
``startService`` (TCP and UNIX server endpoints bind at once), so a busy port
fails the node's start with a clear error instead of a log line after the
node claimed to be up, and ``port`` is known right away (port 0 in tests).
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from garage_twisted.util.errors import GarageError


class ListenError(GarageError):
    code = "ListenError"


class ListenerService(Service):
    """Listen with ``factory`` on an endpoint description.

    :param reactor: the reactor.
    :param description: a Twisted server endpoint string.
    :param factory: the protocol factory (a ``Site``).
    :param label: what this listener serves, for messages.
    """

    log = Logger()

    def __init__(self, reactor, description: str, factory, label: str):
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.label = label
        self.listening_port = None

    @property
    def port(self) -> int | None:
        """The bound TCP port, or ``None`` (UNIX socket, or not listening)."""
        if self.listening_port is None:
            return None
        return getattr(self.listening_port.getHost(), "port", None)

    def startService(self):
        super().startService()
        outcome = []
        serverFromString(self.reactor, self.description).listen(self.factory).addBoth(
            outcome.append)
        if not outcome or not hasattr(outcome[0], "getHost"):
            failure = outcome[0] if outcome else None
            if failure is not None and hasattr(failure, "value"):
                reason = failure.value
            else:
                reason = "did not bind"
            self.running = False
            raise ListenError(f"cannot listen for {self.label} on {self.description}: {reason}")
        self.listening_port = outcome[0]
        self.log.info("{label} listening on {host}", label=self.label,
                      host=self.listening_port.getHost())

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        port, self.listening_port = self.listening_port, None
        if port is not None:
            yield port.stopListening()
        close = getattr(self.factory, "close_connections", None)
        if close is not None:
            # In-flight requests finish (bounded by the site's grace delay).
            yield close()
