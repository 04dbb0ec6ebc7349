"""The call multiplexer, two ends wired in memory (frames delivered by the test)."""

import hashlib
import os
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.net import frames as F
from garage_twisted.net.errors import (
    CallTimeout, PeerDisconnected, ProtocolViolation, RemoteError, RpcError,
)
from garage_twisted.net.flow import WINDOW
from garage_twisted.net.mux import Mux, PRIO_BACKGROUND, PRIO_HIGH, Reply


class BytesSource:
    """A body source handing out ``data`` in pieces of ``piece`` bytes."""

    def __init__(self, data: bytes, piece: int = 100_000):
        self.data = data
        self.piece = piece
        self.offset = 0

    def read(self):
        chunk = self.data[self.offset:self.offset + self.piece]
        self.offset += len(chunk)
        return defer.succeed(chunk)


class Pair:
    """Two muxes; frames wait in queues until ``run()`` delivers them."""

    def __init__(self, handler_a=None, handler_b=None):
        self.clock = Clock()
        self.to_a, self.to_b = deque(), deque()
        self.log = []  # (direction, frame) of every frame sent
        self.a = Mux(lambda f: self._sent("a->b", f, self.to_b), self.clock,
                     handler_a or self._no_handler, b"B" * 32)
        self.b = Mux(lambda f: self._sent("b->a", f, self.to_a), self.clock,
                     handler_b or self._no_handler, b"A" * 32)

    def _sent(self, direction, frame, queue):
        self.log.append((direction, F.decode_frame(frame)))
        queue.append(frame)

    @staticmethod
    def _no_handler(call):
        raise RpcError("NoSuchEndpoint", call.path)

    def run(self, limit=100_000):
        steps = 0
        while (self.to_a or self.to_b) and steps < limit:
            if self.to_b:
                self.b.frame_received(self.to_b.popleft())
            if self.to_a:
                self.a.frame_received(self.to_a.popleft())
            steps += 1
        return steps


class CallTests(SynchronousTestCase):
    def test_request_and_answer(self):
        seen = []

        def handler(call):
            seen.append((call.path, call.message, call.peer))
            return Reply({"echo": call.message})

        pair = Pair(handler_b=handler)
        d = pair.a.call("test/echo", [1, "two", b"three"])
        pair.run()
        reply = self.successResultOf(d)
        self.assertEqual(reply.message, {"echo": [1, "two", b"three"]})
        self.assertIsNone(reply.stream)
        self.assertEqual(seen, [("test/echo", [1, "two", b"three"], b"A" * 32)])
        self.assertEqual(pair.a.calls_in_flight, (0, 0))
        self.assertEqual(pair.b.calls_in_flight, (0, 0))

    def test_both_directions_over_one_connection(self):
        pair = Pair(handler_a=lambda c: Reply("from a"), handler_b=lambda c: Reply("from b"))
        d1, d2 = pair.a.call("x"), pair.b.call("y")
        pair.run()
        self.assertEqual(self.successResultOf(d1).message, "from b")
        self.assertEqual(self.successResultOf(d2).message, "from a")

    def test_errors_cross_as_code_and_message(self):
        def handler(call):
            if call.path == "refuse":
                raise RpcError("Refused", "not today")
            raise ValueError("boom")

        pair = Pair(handler_b=handler)
        d1, d2, d3 = pair.a.call("refuse"), pair.a.call("crash"), Pair().a.call("x")
        pair.run()
        error = self.failureResultOf(d1, RemoteError).value
        self.assertEqual((error.code, error.message), ("Refused", "not today"))
        error = self.failureResultOf(d2, RemoteError).value
        self.assertEqual(error.code, "InternalError")
        self.assertIn("boom", error.message)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertNoResult(d3)

    def test_large_messages_are_split(self):
        big = os.urandom(300_000)
        pair = Pair(handler_b=lambda c: Reply(hashlib.sha256(c.message).digest() + big))
        d = pair.a.call("big", big)
        pair.run()
        self.assertEqual(self.successResultOf(d).message,
                         hashlib.sha256(big).digest() + big)
        self.assertTrue(all(len(f.payload) <= 65535 for _, f in pair.log))

    def test_timeout_cancels_on_both_sides(self):
        pending = []

        def handler(call):
            d = defer.Deferred(lambda _: pending.append("cancelled"))
            pending.append(d)
            return d

        pair = Pair(handler_b=handler)
        d = pair.a.call("slow", timeout=5)
        pair.run()
        pair.clock.advance(4.9)
        self.assertNoResult(d)
        pair.clock.advance(0.1)
        self.failureResultOf(d, CallTimeout)
        pair.run()
        self.assertIn("cancelled", pending)
        self.assertEqual(pair.b.calls_in_flight, (0, 0))
        self.assertEqual(pair.clock.getDelayedCalls(), [])

    def test_caller_cancel(self):
        cancelled = []
        pair = Pair(handler_b=lambda c: defer.Deferred(lambda _: cancelled.append(True)))
        d = pair.a.call("slow")
        pair.run()
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        pair.run()
        self.assertEqual(cancelled, [True])

    def test_connection_lost_fails_everything(self):
        cancelled = []
        pair = Pair(handler_b=lambda c: defer.Deferred(lambda _: cancelled.append(True)))
        d = pair.a.call("slow")
        pair.run()
        pair.a.connection_lost("gone")
        pair.b.connection_lost("gone")
        self.failureResultOf(d, PeerDisconnected)
        self.assertEqual(cancelled, [True])
        self.failureResultOf(pair.a.call("again"), PeerDisconnected)


class StreamTests(SynchronousTestCase):
    def test_request_and_response_bodies(self):
        data = os.urandom(3 * 1024 * 1024 + 17)

        async def handler(call):
            body = await call.stream.read_all(10 * 1024 * 1024)
            return Reply(hashlib.sha256(body).hexdigest(), stream=BytesSource(body[::-1]))

        pair = Pair(handler_b=lambda c: defer.ensureDeferred(handler(c)))
        d = pair.a.call("upload", stream=BytesSource(data))
        pair.run()
        reply = self.successResultOf(d)
        self.assertEqual(reply.message, hashlib.sha256(data).hexdigest())
        back = reply.stream.read_all(10 * 1024 * 1024)
        back = defer.ensureDeferred(back)
        pair.run()
        self.assertEqual(self.successResultOf(back), data[::-1])
        self.assertEqual(pair.a.calls_in_flight, (0, 0))
        self.assertEqual(pair.b.calls_in_flight, (0, 0))

    def test_slow_reader_bounds_what_is_in_flight(self):
        """A reader that does not read makes the sender stop at the window."""
        calls = []

        def handler(call):
            calls.append(call)
            return defer.Deferred()

        pair = Pair(handler_b=handler)
        source = BytesSource(os.urandom(5 * 1024 * 1024))
        pair.a.call("sink", stream=source)
        pair.run()
        stream = calls[0].stream
        self.assertLessEqual(stream.buffered, WINDOW)
        self.assertLess(source.offset, WINDOW + 300_000)
        # Reading grants more: the rest flows, never past the window.
        got = 0
        while got < 5 * 1024 * 1024:
            d = stream.read()
            pair.run()
            chunk = self.successResultOf(d)
            self.assertTrue(chunk)
            got += len(chunk)
            self.assertLessEqual(stream.buffered, WINDOW)
        self.assertEqual(self.successResultOf(stream.read()), b"")

    def test_high_priority_overtakes_a_background_stream(self):
        """With the transport paused, queued frames leave highest priority first,
        round-robin within a priority."""
        pair = Pair(handler_b=lambda c: Reply("pong"))
        pair.a.pause()
        pair.a.call("bulk", stream=BytesSource(os.urandom(200_000)), priority=PRIO_BACKGROUND)
        ping = pair.a.call("ping", priority=PRIO_HIGH)
        pair.a.resume()
        sent = [f for direction, f in pair.log if direction == "a->b"]
        first_high = next(i for i, f in enumerate(sent) if f.call_id == 2)
        self.assertEqual(first_high, 0)
        pair.run()
        self.assertEqual(self.successResultOf(ping).message, "pong")

    def test_failed_source_fails_the_readers_stream(self):
        class Broken:
            def read(self):
                return defer.fail(RpcError("DiskError", "cannot read"))

        async def handler(call):
            await call.stream.read_all(1 << 20)

        pair = Pair(handler_b=lambda c: defer.ensureDeferred(handler(c)))
        d = pair.a.call("upload", stream=Broken())
        pair.run()
        # The reader's error (the caller's code) is what the handler raised.
        error = self.failureResultOf(d, RemoteError).value
        self.assertEqual((error.code, error.message), ("DiskError", "cannot read"))


class ViolationTests(SynchronousTestCase):
    def test_window_overrun_is_a_violation(self):
        pair = Pair(handler_b=lambda c: defer.Deferred())
        pair.a.call("sink", stream=BytesSource(b"x" * 10))
        pair.run()
        frame = F.Frame(F.REQUEST, 1, 0, b"y" * 60000).encode()
        with self.assertRaises(ProtocolViolation):
            for _ in range(10):
                pair.b.frame_received(frame)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=80), max_size=8))
    def test_random_frames(self, frames):
        """Random frames: a ProtocolViolation or nothing, never another exception."""
        pair = Pair(handler_b=lambda c: Reply("ok"))
        try:
            for frame in frames:
                pair.b.frame_received(frame)
        except ProtocolViolation:
            pass
        self.flushLoggedErrors()

    @settings(max_examples=300, deadline=None)
    @given(st.integers(1, 5), st.integers(0, 2**32 - 1), st.integers(0, 255),
           st.binary(max_size=60))
    def test_well_formed_headers_random_content(self, kind, call_id, flags, payload):
        pair = Pair(handler_b=lambda c: Reply("ok"))
        try:
            pair.b.frame_received(F.HEADER.pack(kind, call_id, flags) + payload)
            pair.run()
        except ProtocolViolation:
            pass
        self.flushLoggedErrors()


class ReadAllTests(SynchronousTestCase):
    """``IncomingStream.read_all`` takes pieces as they come, or already there."""

    def setUp(self):
        from garage_twisted.net.flow import IncomingStream

        self.grants = []
        self.stream = IncomingStream(self.grants.append)

    def test_pieces_before_and_after_the_call_come_out_in_order(self):
        self.stream._data(b"ab")
        self.stream._data(memoryview(b"xcdx")[1:3])
        result = self.stream.read_all(100)
        self.assertNoResult(result)
        self.stream._data(b"ef")
        self.stream._end()
        self.assertEqual(self.successResultOf(result), b"abcdef")
        self.assertEqual(self.stream.buffered, 0)

    def test_a_body_that_ended_before_the_call(self):
        self.stream._data(b"whole")
        self.stream._end()
        self.assertEqual(self.successResultOf(self.stream.read_all(100)), b"whole")

    def test_consumed_bytes_are_granted_back_to_the_sender(self):
        result = self.stream.read_all(4 * WINDOW)
        piece = b"x" * (WINDOW // 4)
        for _ in range(4):
            self.stream._data(piece)
        self.assertEqual(sum(self.grants), WINDOW)
        self.stream._end()
        self.assertEqual(len(self.successResultOf(result)), WINDOW)

    def test_too_large_fails_and_stops_gathering(self):
        result = self.stream.read_all(5)
        self.stream._data(b"1234")
        self.stream._data(b"56")
        self.assertEqual(self.failureResultOf(result, RpcError).value.code, "TooLarge")
        # What comes next is buffered (and bounded by the window), not gathered.
        self.stream._data(b"7")
        self.assertEqual(self.stream.buffered, 1)

    def test_too_large_from_pieces_already_there(self):
        self.stream._data(b"123456")
        result = self.stream.read_all(5)
        self.assertEqual(self.failureResultOf(result, RpcError).value.code, "TooLarge")

    def test_failure_reaches_the_gatherer(self):
        result = self.stream.read_all(100)
        self.stream._data(b"part")
        self.stream._fail(PeerDisconnected("gone"))
        self.failureResultOf(result, PeerDisconnected)

    def test_read_parts_gives_the_pieces_as_they_came(self):
        self.stream._data(b"ab")
        result = self.stream.read_parts(100)
        self.stream._data(memoryview(b"xcdx")[1:3])
        self.stream._end()
        self.assertEqual([bytes(p) for p in self.successResultOf(result)], [b"ab", b"cd"])

    def test_failure_before_the_call(self):
        self.stream._data(b"part")
        self.stream._fail(PeerDisconnected("gone"))
        self.failureResultOf(self.stream.read_all(100), PeerDisconnected)

    def test_no_second_reader_meanwhile(self):
        self.stream.read_all(100)
        self.failureResultOf(self.stream.read(), RuntimeError)
        self.failureResultOf(self.stream.read_all(100), RuntimeError)

    def test_data_after_the_end_is_a_violation(self):
        result = self.stream.read_all(100)
        self.stream._end()
        self.assertEqual(self.successResultOf(result), b"")
        self.assertRaises(ProtocolViolation, self.stream._data, b"late")
