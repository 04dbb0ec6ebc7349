"""Multiplexed calls over one authenticated connection: priorities, streams, flow control.

Either side of a connection calls the other: ``call(path, message, priority,
stream)`` sends a request head (CBOR ``[priority, path, message,
has_stream]``) and, if given, a body read from ``stream``; the other side's
handler answers a :class:`Reply` (a CBOR-able message and an optional body).
Errors cross the wire as ``(code, message)`` strings only, never as
pickles or tracebacks.

Scheduling: frames wait in per-priority queues of senders; the connection
sends from the highest non-empty priority, one frame per sender in turn
(round-robin), and stops while the transport is paused (TCP backpressure).
Flow control (``net/flow.py``): each direction of each call may have at most
``WINDOW`` body bytes in flight; the receiver grants more as its reader
consumes them, so a slow reader makes the sender wait instead of buffering
without bound. Heads are not flow-controlled but are limited to
``MAX_HEAD`` bytes. The errors calls raise are in ``net/errors.py``.

Invariants: every call's Deferred fires exactly once (reply, RemoteError,
CallTimeout, PeerDisconnected or CancelledError); a call that ends (answered,
cancelled, timed out, connection lost) stops its body pumps; a peer breaking
the protocol gets :class:`ProtocolViolation` raised from
:meth:`Mux.frame_received`, and the caller closes the connection.
"""

import itertools
from collections import deque
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.net import frames as F
from garage_twisted.net.errors import (
    CallTimeout, PeerDisconnected, ProtocolViolation, RemoteError, RpcError,
)
from garage_twisted.net.flow import (
    CHUNK, MAX_HEAD, QUEUE_LIMIT, CallDirection, IncomingStream,
)
from garage_twisted.util import codec

PRIO_HIGH = 0
PRIO_NORMAL = 1
PRIO_BACKGROUND = 2
PRIORITIES = (PRIO_HIGH, PRIO_NORMAL, PRIO_BACKGROUND)

MAX_INCOMING_CALLS = 1024


@dataclass(frozen=True)
class Reply:
    """An answer: a CBOR-able ``message`` and an optional body.

    On the sending side ``stream`` is a source (``read() -> Deferred[bytes]``,
    ``b""`` at the end); on the receiving side an :class:`IncomingStream`.
    """

    message: object = None
    stream: object = None


@dataclass(frozen=True)
class IncomingCall:
    """What a handler receives."""

    path: str
    message: object
    priority: int
    stream: "IncomingStream | None"
    peer: bytes


class _Call:
    """State of one call, seen from either side."""

    def __init__(self, call_id: int):
        self.call_id = call_id
        self.head = bytearray()
        self.head_done = False
        self.stream = None
        self.sender = None
        self.ended_in = False  # the peer's direction ended
        self.responded = False  # (incoming calls) our answer is fully queued


class Mux:
    """Calls in both directions over one connection.

    :param send: ``send(frame_bytes)``: encrypt and write one frame.
    :param clock: ``IReactorTime`` (call timeouts).
    :param handler: ``handler(IncomingCall) -> Reply or Deferred[Reply]``.
    :param peer: the peer's node id (given to handlers).
    """

    log = Logger()

    def __init__(self, send, clock, handler, peer: bytes):
        self._send = send
        self.clock = clock
        self.handler = handler
        self.peer = peer
        self._queues = {p: deque() for p in PRIORITIES}
        self._queue_order = tuple(self._queues[p] for p in PRIORITIES)
        self._control = deque()
        self._paused = False
        self._sending = False
        self._ids = itertools.count(1)
        self._outgoing: dict[int, tuple[_Call, defer.Deferred]] = {}
        self._incoming: dict[int, tuple[_Call, defer.Deferred | None]] = {}
        self.lost = None

    # -- sending ----------------------------------------------------------

    def _schedule(self, sender: CallDirection) -> None:
        queue = self._queues[sender.priority]
        if sender not in queue:
            queue.append(sender)
        self._flush()

    def _control_frame(self, frame: F.Frame) -> None:
        self._control.append(frame)
        self._flush()

    def _flush(self) -> None:
        if self._sending or self.lost is not None:
            return
        self._sending = True
        queues = self._queue_order
        try:
            while not self._paused and self.lost is None:
                if self._control:
                    self._send(self._control.popleft().encode())
                    continue
                for queue in queues:
                    if queue:
                        break
                else:
                    return
                sender = queue.popleft()
                if not sender.frames:
                    continue
                data, payload_length = sender.frames.popleft()
                if sender.frames:
                    queue.append(sender)
                self._send(data)
                sender.sent(payload_length)
        finally:
            self._sending = False

    def pause(self) -> None:
        """The transport's buffer is full (``IPushProducer.pauseProducing``)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._flush()

    async def _pump_body(self, sender: CallDirection, source) -> None:
        try:
            while True:
                await sender.wait_ready()
                data = await source.read()
                if not data:
                    sender.enqueue(F.END)
                    return
                view = memoryview(data)
                while len(view):
                    # Await only when the window or the queue is full: a
                    # 1 MiB block otherwise goes out in one synchronous loop.
                    if sender.window <= 0 or sender.queued >= QUEUE_LIMIT:
                        await sender.wait_ready()
                    n = min(len(view), CHUNK, sender.window)
                    sender.window -= n
                    sender.enqueue(0, view[:n])
                    view = view[n:]
        except defer.CancelledError:
            return
        except Exception as e:
            code = e.code if isinstance(e, RpcError) else "StreamError"
            self.log.info("body of call {id} failed: {error}", id=sender.call_id, error=str(e))
            sender.enqueue(F.END | F.ERROR, codec.dumps([code, str(e)]))

    def _start_pump(self, sender: CallDirection, source) -> None:
        sender.pump = defer.ensureDeferred(self._pump_body(sender, source))

    # -- calls made by this side -------------------------------------------

    def call(self, path: str, message=None, priority: int = PRIO_NORMAL, stream=None,
             timeout: float | None = None) -> defer.Deferred:
        """Call ``path`` on the peer. Deferred[Reply] with an IncomingStream body."""
        if self.lost is not None:
            return defer.fail(PeerDisconnected("connection lost"))
        call_id = next(self._ids) & 0xFFFFFFFF
        call = _Call(call_id)

        def cancel(_):
            self._end_outgoing(call_id, send_cancel=True)

        result = defer.Deferred(cancel)
        self._outgoing[call_id] = (call, result)
        call.sender = CallDirection(self._schedule, F.REQUEST, call_id, priority)
        try:
            head = codec.dumps([priority, path, message, stream is not None])
            call.sender.head(head, error=False, end=stream is None)
        except Exception as e:
            self._outgoing.pop(call_id, None)
            return defer.fail(e)
        if stream is not None:
            self._start_pump(call.sender, stream)
        if timeout is not None:
            timer = self.clock.callLater(timeout, self._timed_out, call_id, path, timeout)
            result.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        return result

    def _timed_out(self, call_id: int, path: str, timeout: float) -> None:
        entry = self._outgoing.get(call_id)
        if entry is None:
            return
        self._end_outgoing(call_id, send_cancel=True)
        entry[1].errback(CallTimeout(f"{path}: no answer within {timeout} s"))

    def _end_outgoing(self, call_id: int, send_cancel: bool) -> None:
        entry = self._outgoing.pop(call_id, None)
        if entry is None:
            return
        call, _ = entry
        call.sender.close()
        if call.stream is not None:
            call.stream._fail(defer.CancelledError())
        if send_cancel and self.lost is None:
            self._control_frame(F.Frame(F.CANCEL, call_id, 0))

    # -- receiving -----------------------------------------------------------

    def frame_received(self, data: bytes) -> None:
        """Handle one decrypted frame. Raises ProtocolViolation on abuse."""
        try:
            frame = F.decode_frame(data)
        except F.FrameError as e:
            raise ProtocolViolation(str(e)) from None
        kind = frame.kind
        if kind == F.REQUEST:
            self._request_frame(frame)
        elif kind == F.RESPONSE:
            self._response_frame(frame)
        elif kind == F.CANCEL:
            self._cancelled(frame.call_id)
        else:
            n = F.WINDOW.unpack(frame.payload)[0]
            if kind == F.WINDOW_REQUEST:
                entry = self._outgoing.get(frame.call_id)
                sender = None if entry is None else entry[0].sender
            else:
                entry = self._incoming.get(frame.call_id)
                sender = None if entry is None else entry[0].sender
            if sender is not None:
                sender.grant(n)

    def _body_frame(self, call: _Call, frame: F.Frame) -> None:
        """A non-head frame of a call's incoming direction."""
        if frame.flags & F.HEAD:
            raise ProtocolViolation("head frame after the head")
        if call.stream is None or call.ended_in:
            raise ProtocolViolation("body frame for a call without a body")
        if frame.flags & F.ERROR:
            call.ended_in = True
            call.stream._fail(self._remote_error(frame.payload))
            return
        if frame.payload:
            call.stream._data(frame.payload)
        if frame.flags & F.END:
            call.ended_in = True
            call.stream._end()

    def _add_head(self, call: _Call, frame: F.Frame) -> bool:
        """Accumulate head bytes; True once the head is complete."""
        if not frame.flags & F.HEAD:
            raise ProtocolViolation("body frame before the head ended")
        call.head += frame.payload
        if len(call.head) > MAX_HEAD:
            raise ProtocolViolation("head larger than the limit")
        if frame.flags & F.HEAD_END:
            call.head_done = True
            return True
        if frame.flags & (F.END | F.ERROR):
            raise ProtocolViolation("end flags on an unfinished head")
        return False

    def _request_frame(self, frame: F.Frame) -> None:
        call_id = frame.call_id
        entry = self._incoming.get(call_id)
        if entry is None:
            if not frame.flags & F.HEAD:
                # Body of a call already answered or cancelled: drop it.
                return
            if len(self._incoming) >= MAX_INCOMING_CALLS:
                raise ProtocolViolation("too many calls in flight")
            entry = self._incoming[call_id] = (_Call(call_id), None)
        call = entry[0]
        if call.head_done:
            self._body_frame(call, frame)
            self._maybe_forget_incoming(call_id)
            return
        if not self._add_head(call, frame):
            return
        try:
            priority, path, message, has_stream = codec.loads(bytes(call.head))
            if priority not in PRIORITIES or not isinstance(path, str):
                raise ValueError("bad request head")
        except Exception as e:
            raise ProtocolViolation(f"undecodable request head: {e}") from None
        call.head = bytearray()
        if frame.flags & F.ERROR:
            raise ProtocolViolation("error flag on a request")
        if has_stream:
            if frame.flags & F.END:
                raise ProtocolViolation("request announces a body but ended")
            call.stream = IncomingStream(
                lambda n, cid=call_id: self._control_frame(
                    F.window_frame(F.WINDOW_REQUEST, cid, n)))
        else:
            call.ended_in = True
        call.sender = CallDirection(self._schedule, F.RESPONSE, call_id, priority)
        incoming = IncomingCall(path, message, priority, call.stream, self.peer)
        d = defer.maybeDeferred(self.handler, incoming)
        self._incoming[call_id] = (call, d)
        d.addCallbacks(self._answer, self._answer_error,
                       callbackArgs=(call_id,), errbackArgs=(call_id, path))

    def _answer(self, reply, call_id: int) -> None:
        entry = self._incoming.get(call_id)
        if entry is None or self.lost is not None:
            return
        call = entry[0]
        if not isinstance(reply, Reply):
            reply = Reply(reply)
        try:
            head = codec.dumps([reply.message, reply.stream is not None])
        except Exception as e:
            self._answer_error_code(call_id, "InternalError", f"unencodable answer: {e}")
            return
        call.sender.head(head, error=False, end=reply.stream is None)
        if reply.stream is not None:
            self._start_pump(call.sender, reply.stream)
            call.sender.pump.addBoth(lambda _: self._response_sent(call_id))
        else:
            self._response_sent(call_id)

    def _answer_error(self, failure, call_id: int, path: str) -> None:
        if failure.check(defer.CancelledError):
            return
        if failure.check(RpcError):
            code, message = failure.value.code, failure.value.message
        else:
            self.log.failure("RPC handler for {path} failed", failure, path=path)
            code, message = "InternalError", f"{failure.type.__name__}: {failure.getErrorMessage()}"
        self._answer_error_code(call_id, code, message)

    def _answer_error_code(self, call_id: int, code: str, message: str) -> None:
        entry = self._incoming.get(call_id)
        if entry is None or self.lost is not None:
            return
        entry[0].sender.head(codec.dumps([code, message]), error=True, end=True)
        self._response_sent(call_id)

    def _response_sent(self, call_id: int) -> None:
        entry = self._incoming.get(call_id)
        if entry is not None:
            entry[0].sender.pump = None
            entry[0].responded = True
            self._maybe_forget_incoming(call_id)

    def _maybe_forget_incoming(self, call_id: int) -> None:
        entry = self._incoming.get(call_id)
        if entry is None:
            return
        call = entry[0]
        if call.responded and (call.ended_in or call.stream is None):
            del self._incoming[call_id]
        elif call.responded:
            # Answered before reading all of the request body: stop taking it.
            call.stream._fail(defer.CancelledError())
            del self._incoming[call_id]

    def _cancelled(self, call_id: int) -> None:
        entry = self._incoming.pop(call_id, None)
        if entry is None:
            return
        call, d = entry
        if call.sender is not None:
            call.sender.close()
        if call.stream is not None:
            call.stream._fail(defer.CancelledError())
        if d is not None and not d.called:
            d.cancel()

    def _remote_error(self, payload: bytes) -> RemoteError:
        try:
            code, message = codec.loads(bytes(payload))
            return RemoteError(str(code), str(message))
        except Exception:
            raise ProtocolViolation("undecodable error") from None

    def _response_frame(self, frame: F.Frame) -> None:
        entry = self._outgoing.get(frame.call_id)
        if entry is None:
            return  # answer to a call we gave up on
        call, result = entry
        if call.head_done:
            self._body_frame(call, frame)
            if call.ended_in:
                self._outgoing.pop(frame.call_id, None)
            return
        if not self._add_head(call, frame):
            return
        head, call.head = bytes(call.head), bytearray()
        if frame.flags & F.ERROR:
            self._outgoing.pop(frame.call_id, None)
            call.sender.close()
            result.errback(self._remote_error(head))
            return
        try:
            message, has_stream = codec.loads(head)
        except Exception as e:
            raise ProtocolViolation(f"undecodable response head: {e}") from None
        if has_stream:
            if frame.flags & F.END:
                raise ProtocolViolation("response announces a body but ended")
            call.stream = IncomingStream(
                lambda n, cid=frame.call_id: self._control_frame(
                    F.window_frame(F.WINDOW_RESPONSE, cid, n)))
        else:
            call.ended_in = True
            self._outgoing.pop(frame.call_id, None)
        # The answer came: whatever of the request body is unsent is moot.
        if call.sender.pump is not None or call.sender.frames:
            call.sender.close()
        result.callback(Reply(message, call.stream))

    # -- end -------------------------------------------------------------

    def connection_lost(self, reason: str = "connection lost") -> None:
        """Fail every call in flight, both ways."""
        if self.lost is not None:
            return
        self.lost = reason
        error = PeerDisconnected(reason)
        outgoing, self._outgoing = self._outgoing, {}
        for call, result in outgoing.values():
            call.sender.close()
            if call.stream is not None:
                call.stream._fail(error)
            if not result.called:
                result.errback(error)
        incoming, self._incoming = self._incoming, {}
        for call, d in incoming.values():
            if call.sender is not None:
                call.sender.close()
            if call.stream is not None:
                call.stream._fail(error)
            if d is not None and not d.called:
                d.cancel()
        for queue in self._queues.values():
            queue.clear()
        self._control.clear()

    @property
    def calls_in_flight(self) -> tuple[int, int]:
        """``(outgoing, incoming)`` calls not finished yet."""
        return len(self._outgoing), len(self._incoming)
