"""A ``twistd garage`` process whose output can be awaited and whose stderr is kept apart.

:class:`WatchedNode` is a :class:`~tests.support.process.NodeProcess` that
also records standard error on its own (a start-up failure must be one line
there) and gives a Deferred for "this text appeared in the output" (the
readiness signal for a log line, never a sleep).
"""

from twisted.internet import defer

from tests.support.process import NodeProcess


class WatchedNode(NodeProcess):
    """A node process with awaitable output and a separate stderr."""

    def __init__(self, config: str):
        super().__init__(config)
        self.errors = []
        self._watches: list[tuple[bytes, defer.Deferred]] = []

    def outReceived(self, data):
        super().outReceived(data)
        self._check_watches()

    def errReceived(self, data):
        self.errors.append(data)
        super().outReceived(data)
        self._check_watches()

    def stderr(self) -> str:
        return b"".join(self.errors).decode(errors="replace")

    def text(self) -> str:
        """Everything the process wrote so far, stdout and stderr."""
        return b"".join(self.output).decode(errors="replace")

    def when_output(self, needle: bytes) -> defer.Deferred:
        """A Deferred firing once ``needle`` is in the output (at once if it is).

        Errbacks if the process ends first.
        """
        done = defer.Deferred()
        self._watches.append((needle, done))
        self._check_watches()
        return done

    def _check_watches(self):
        if not self._watches:
            return
        seen = b"".join(self.output)
        for needle, done in list(self._watches):
            if needle in seen:
                self._watches.remove((needle, done))
                done.callback(None)

    def processEnded(self, reason):
        super().processEnded(reason)
        watches, self._watches = self._watches, []
        for needle, done in watches:
            done.errback(RuntimeError(f"the node ended before writing {needle!r}"))
