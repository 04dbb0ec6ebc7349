"""Waiting in tests for a state to be reached, in reactor time, never by a
fixed sleep; and stream bodies that stand in for large uploads."""

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater


async def until(predicate, what: str, seconds: float = 30.0) -> None:
    """Return once ``predicate()`` is true; fail the test after ``seconds``
    (checked every 10 ms of reactor time)."""
    deadline = reactor.seconds() + seconds
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        await deferLater(reactor, 0.01, lambda: None)


class RepeatedBody:
    """``count`` pieces of the same bytes: a long stream body without holding it."""

    def __init__(self, piece: bytes, count: int):
        self.piece, self.left = piece, count

    def read(self):
        if not self.left:
            return defer.succeed(b"")
        self.left -= 1
        return defer.succeed(self.piece)
