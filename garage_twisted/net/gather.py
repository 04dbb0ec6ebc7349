"""Gathered writes of a peer connection: many messages per sendmsg(2), none joined.

A peer connection writes each transport message as two pieces (length
prefix, ciphertext). Through ``transport.write`` Twisted joins everything
buffered into one bytes object before each send: a copy of every byte sent,
on the busiest node's reactor thread. :class:`GatherWriter` keeps a turn's
pieces and hands them to the kernel with one ``sendmsg`` (scatter-gather,
no copy) when they reach ``limit`` bytes or the reactor turn ends
(``callLater(0)``), so block streams still go out in large sends.

Invariants: bytes reach the socket in the order written. The writer sends
by itself only while the transport has nothing buffered; once the kernel
takes less than offered, the rest (and whatever follows, until the
transport's buffer drains) goes through the transport, which then does its
usual buffering, writability wake-ups and producer pausing. Errors are left
to the transport to find: what ``sendmsg`` refused is written through it.
"""

import socket

# sendmsg takes at most IOV_MAX (1024 on Linux) pieces per call.
MAX_PIECES = 512


def supports(transport) -> bool:
    """Whether ``transport`` is a Twisted TCP transport this writer can
    send around (a plain socket, and the buffer attributes it checks)."""
    handle = getattr(transport, "getHandle", lambda: None)()
    return isinstance(handle, socket.socket) and hasattr(handle, "sendmsg") and all(
        hasattr(transport, name)
        for name in ("dataBuffer", "offset", "_tempDataLen", "writeSequence", "connected",
                     "disconnecting"))


class GatherWriter:
    """Writes lists of pieces to ``transport`` (see the module docstring).

    :param clock: ``IReactorTime``: the end-of-turn flush.
    :param limit: bytes gathered before they are sent without waiting.
    """

    def __init__(self, transport, clock, limit: int):
        self.transport = transport
        self.socket = transport.getHandle()
        self.clock = clock
        self.limit = limit
        self._pieces = []
        self._size = 0
        self._call = None

    def write(self, pieces) -> None:
        self._pieces.extend(pieces)
        self._size += sum(len(piece) for piece in pieces)
        if self._size >= self.limit or len(self._pieces) >= MAX_PIECES:
            self.flush()
        elif self._call is None:
            self._call = self.clock.callLater(0, self.flush)

    def flush(self) -> None:
        """Send what is gathered now."""
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        pieces, size = self._pieces, self._size
        if not pieces:
            return
        self._pieces, self._size = [], 0
        transport = self.transport
        if (transport._tempDataLen or len(transport.dataBuffer) != transport.offset
                or not transport.connected or transport.disconnecting):
            # Bytes are waiting in the transport (or it is closing): after them.
            transport.writeSequence(pieces)
            return
        try:
            sent = self.socket.sendmsg(pieces)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            # The transport finds and reports the error on its next write.
            transport.writeSequence(pieces)
            return
        if sent == size:
            return
        rest = []
        for piece in pieces:
            if sent >= len(piece):
                sent -= len(piece)
                continue
            rest.append(bytes(memoryview(piece)[sent:]) if sent else piece)
            sent = 0
        transport.writeSequence(rest)

    def cancel(self) -> None:
        """Drop what is gathered (the connection is gone)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._pieces, self._size = [], 0
