"""Flow control of call bodies: each direction of a call has a window.

A sender (:class:`CallDirection`) may have at most ``WINDOW`` body bytes in
flight and at most ``QUEUE_LIMIT`` queued ahead of the transport; its body
source waits until both have room. The receiver (:class:`IncomingStream`)
buffers what arrives, refuses a peer that sends past its window
(:class:`~garage_twisted.net.errors.ProtocolViolation`), and grants the
window back as its reader consumes (one grant per half window), so a slow
reader slows the sender instead of making anyone buffer without bound.

The multiplexer (``net/mux.py``) owns the frames' scheduling and routing;
this module only counts and waits.
"""

from collections import deque

from twisted.internet import defer

from garage_twisted.net import frames as F
from garage_twisted.net.errors import ProtocolViolation, RpcError
from garage_twisted.net.secure import MAX_PLAINTEXT

# Body bytes per frame.
CHUNK = MAX_PLAINTEXT - F.HEADER.size
WINDOW = 2048 * 1024
# Body bytes a sender queues ahead of the transport before its source waits.
QUEUE_LIMIT = 2 * CHUNK
# Heads are not flow-controlled, but bounded.
MAX_HEAD = 16 * 1024 * 1024


class _Gathering:
    """A :meth:`IncomingStream.read_parts` in progress."""

    __slots__ = ("parts", "size", "limit", "result")

    def __init__(self, limit: int):
        self.parts = []
        self.size = 0
        self.limit = limit
        self.result = defer.Deferred()


class IncomingStream:
    """Body bytes from the peer. ``read()`` -> Deferred[bytes], ``b""`` at the end.

    Consuming bytes grants the sender a new window (batched: one grant per
    half window consumed). :meth:`read_all` takes each piece as it arrives,
    with no Deferred per piece: a 1 MiB block is 16 pieces.
    """

    def __init__(self, grant):
        self._grant = grant
        self._chunks = deque()
        self._waiting = None
        self._gathering = None
        self._ended = False
        self._error = None
        self._to_grant = 0
        self.buffered = 0

    def _data(self, data: bytes) -> None:
        if self._ended:
            raise ProtocolViolation("body data after its end")
        if self._gathering is not None:
            self._gather(data)
            return
        self.buffered += len(data)
        if self.buffered > WINDOW:
            raise ProtocolViolation("peer sent past its flow-control window")
        if self._waiting is not None:
            d, self._waiting = self._waiting, None
            self._deliver(d, data)
        else:
            self._chunks.append(data)

    def _consumed(self, n: int) -> None:
        self._to_grant += n
        if self._to_grant >= WINDOW // 2 and not self._ended:
            n, self._to_grant = self._to_grant, 0
            self._grant(n)

    def _deliver(self, d, data):
        self.buffered -= len(data)
        self._consumed(len(data))
        d.callback(data)

    def _gather(self, data) -> None:
        gathering = self._gathering
        gathering.size += len(data)
        if gathering.size > gathering.limit:
            self._stop_gathering(
                RpcError("TooLarge", f"body larger than {gathering.limit} bytes"))
            return
        gathering.parts.append(data)
        self._consumed(len(data))

    def _end(self) -> None:
        self._ended = True
        if self._gathering is not None:
            self._stop_gathering()
        elif self._waiting is not None and not self._chunks:
            d, self._waiting = self._waiting, None
            d.callback(b"")

    def _fail(self, error: Exception) -> None:
        if self._error is None and not (self._ended and not self._chunks):
            self._error = error
            self._chunks.clear()
            if self._waiting is not None:
                d, self._waiting = self._waiting, None
                d.errback(error)
            if self._gathering is not None:
                self._stop_gathering(error)

    def read(self) -> defer.Deferred:
        if self._waiting is not None or self._gathering is not None:
            return defer.fail(RuntimeError("concurrent read() on one stream"))
        if self._chunks:
            d = defer.Deferred()
            self._deliver(d, self._chunks.popleft())
            return d
        if self._error is not None:
            return defer.fail(self._error)
        if self._ended:
            return defer.succeed(b"")
        self._waiting = defer.Deferred()
        return self._waiting

    def read_all(self, limit: int) -> defer.Deferred:
        """Deferred[bytes]: the whole body; ``RpcError`` past ``limit`` bytes."""
        return self.read_parts(limit).addCallback(b"".join)

    def read_parts(self, limit: int) -> defer.Deferred:
        """Deferred[list]: the whole body as the pieces it arrived in (read-only
        buffers), for a reader that copies them once where they go;
        ``RpcError`` past ``limit`` bytes."""
        if self._waiting is not None or self._gathering is not None:
            return defer.fail(RuntimeError("concurrent read() on one stream"))
        gathering = self._gathering = _Gathering(limit)
        while self._chunks and self._gathering is gathering:
            data = self._chunks.popleft()
            self.buffered -= len(data)
            self._gather(data)
        if self._gathering is gathering and (self._error is not None or self._ended):
            self._stop_gathering(self._error)
        return gathering.result

    def _stop_gathering(self, error: Exception | None = None) -> None:
        """End the read_parts in progress: with the pieces, or with ``error``."""
        gathering, self._gathering = self._gathering, None
        if error is None:
            gathering.result.callback(gathering.parts)
        else:
            gathering.result.errback(error)


class CallDirection:
    """One direction of one call as this side sends it: its frames, its
    window, and the pump feeding it a body.

    :param schedule: ``schedule(direction)`` queues it for sending (the
        multiplexer's round-robin).
    """

    header = F.HEADER.pack

    def __init__(self, schedule, kind: int, call_id: int, priority: int):
        self._schedule = schedule
        self.kind = kind
        self.call_id = call_id
        self.priority = priority
        self.frames = deque()
        self.queued = 0
        self.window = WINDOW
        self.ready_waiter = None
        self.pump = None
        self.closed = False

    def enqueue(self, flags: int, payload=b"") -> None:
        """Queue one frame of this direction (encoded now: the payload may
        be a memoryview of a block, copied once here)."""
        if self.closed:
            return
        self.frames.append((self.header(self.kind, self.call_id, flags) + payload,
                            len(payload)))
        self.queued += len(payload)
        self._schedule(self)

    def head(self, head: bytes, error: bool, end: bool) -> None:
        if len(head) > MAX_HEAD:
            raise RpcError("TooLarge", f"message of {len(head)} bytes exceeds {MAX_HEAD}")
        for start in range(0, max(len(head), 1), CHUNK):
            last = start + CHUNK >= len(head)
            flags = F.HEAD | (F.HEAD_END if last else 0)
            if last:
                flags |= (F.ERROR if error else 0) | (F.END if end else 0)
            self.enqueue(flags, head[start:start + CHUNK])

    def sent(self, payload_length: int) -> None:
        self.queued -= payload_length
        self._check_ready()

    def grant(self, n: int) -> None:
        self.window += n
        if self.window > 2 ** 31:
            raise ProtocolViolation("flow-control window overflow")
        self._check_ready()

    def _check_ready(self):
        if self.ready_waiter is not None and self.window > 0 and self.queued < QUEUE_LIMIT:
            d, self.ready_waiter = self.ready_waiter, None
            d.callback(None)

    def wait_ready(self) -> defer.Deferred:
        if self.closed:
            return defer.fail(defer.CancelledError())
        if self.window > 0 and self.queued < QUEUE_LIMIT:
            return defer.succeed(None)
        self.ready_waiter = defer.Deferred()
        return self.ready_waiter

    def close(self) -> None:
        """Stop sending: drop queued frames and the body pump."""
        self.closed = True
        self.frames.clear()
        if self.pump is not None:
            self.pump.cancel()
        if self.ready_waiter is not None:
            d, self.ready_waiter = self.ready_waiter, None
            d.errback(defer.CancelledError())
