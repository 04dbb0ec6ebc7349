"""A budget of bytes held at once, taken and given back by its holders.

:class:`ByteBudget` is Garage's ``block_ram_buffer_max``: the block data a
node holds while it sends blocks to their nodes. A write returns at its
quorum, and its other copies go on in the background; a node much slower
than the others (a home link) would otherwise let those copies pile up in
memory for as long as uploads come in. With the budget spent, the next block
waits, and with it its upload (backpressure reaches the client through the
body it is no longer read from).

Invariants: the bytes held never exceed the limit, except by one request
taken when nothing else was held (a block larger than the whole budget
passes alone rather than never); waiters are served in the order they came
(a large block is not starved by small ones); a waiter cancelled before its
turn takes nothing.
"""

from collections import deque

from twisted.internet import defer


class ByteBudget:
    """:param limit: the bytes that may be held at once (> 0)."""

    def __init__(self, limit: int):
        if limit <= 0:
            raise ValueError("a byte budget needs a positive limit")
        self.limit = limit
        self.held = 0
        self._waiting: deque[tuple[int, defer.Deferred]] = deque()
        # Waits that had to queue, since start (/metrics).
        self.waits = 0

    @property
    def free(self) -> int:
        return max(0, self.limit - self.held)

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit

    def acquire(self, size: int) -> defer.Deferred:
        """Deferred[None], fired once ``size`` bytes are held for the caller,
        who must :meth:`release` the same size afterwards."""
        if not self._waiting and self._fits(size):
            self.held += size
            return defer.succeed(None)
        self.waits += 1
        entry = None

        def cancelled(d):
            # A cancelled waiter leaves the queue holding nothing, and may
            # have been what held the next ones back.
            if entry in self._waiting:
                self._waiting.remove(entry)
                self._wake()

        d = defer.Deferred(cancelled)
        entry = (size, d)
        self._waiting.append(entry)
        return d

    def release(self, size: int) -> None:
        self.held -= size
        if self.held < 0:
            raise AssertionError("a byte budget released more than it lent")
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self._fits(self._waiting[0][0]):
            size, d = self._waiting.popleft()
            self.held += size
            d.callback(None)
