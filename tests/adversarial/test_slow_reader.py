"""A client that stops reading the answer cannot hold its connection forever.

When a kept-alive connection's idle timer fires, the node closes it
gracefully: Twisted waits for the buffered answer to leave. A client that
never reads it kept the connection (a descriptor and a budget slot) for
ever, since Twisted's own abort timer is off; the closing phase's timer now
aborts it. And a client that leaves the previous answer unread while it
trickles the next request's body no longer suspends the body-stall timer.

A response the client stops reading while the node streams it (a GET of a
large object) had no timer at all (the handling phase has none): it held
its connection for ever. And a body trickled a byte every 59 s was never
silent long enough for the stall timer. Both are cut now.
"""

from twisted.internet import defer, task
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from garage_twisted.api import limits
from garage_twisted.api.streaming import ClientGone, ResponseStreamer
from tests.unit.api.test_limits import GET, _SiteCase


class SlowReaderTests(_SiteCase):
    def test_unread_answer_is_aborted_after_the_closing_timer(self):
        """Idle timer: graceful close; the answer still unread one idle
        period later: the connection is aborted."""
        channel, transport = self.connect()
        channel.dataReceived(GET)
        self.clock.advance(limits.IDLE_TIMEOUT)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        # The client reads nothing: the close never completes by itself.
        self.clock.advance(limits.IDLE_TIMEOUT)
        self.assertTrue(transport.disconnected)

    def test_unread_previous_answer_does_not_excuse_a_stalled_body(self):
        """A body silent for BODY_STALL_TIMEOUT is aborted even while the
        client leaves our previous answer unread."""
        channel, transport = self.connect()
        channel.dataReceived(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nab")
        channel._waitingForTransport = True  # as Twisted sets it when the send buffer fills
        self.clock.advance(limits.BODY_STALL_TIMEOUT + 1)
        self.assertTrue(transport.disconnected)


class _Streams(Resource):
    """GET streams an endless body through a ResponseStreamer, as GetObject
    does; the outcome of its writes is recorded."""

    isLeaf = True

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.outcome = []

    def render_GET(self, request):
        streamer = ResponseStreamer(request)

        async def pump():
            try:
                while True:
                    await streamer.write(b"x" * 65536)
                    # A piece per clock step (a test's transport never
                    # pauses by itself).
                    await task.deferLater(self.clock, 0.5, lambda: None)
            except ClientGone:
                self.outcome.append("client gone")
            finally:
                streamer.close()
        defer.ensureDeferred(pump())
        return NOT_DONE_YET


class SendStallTests(_SiteCase):
    def setUp(self):
        super().setUp()
        self.site.resource = self.resource = _Streams(self.clock)

    def test_a_response_the_client_stops_reading_is_aborted(self):
        """The client's socket fills (the transport pauses the producer)
        and stays full: aborted after SEND_STALL_TIMEOUT, the handler's
        write fails with ClientGone."""
        channel, transport = self.connect()
        channel.dataReceived(GET)
        channel.pauseProducing()  # what the transport does on a full buffer
        self.clock.advance(limits.SEND_STALL_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        self.lose(channel)
        self.assertEqual(self.resource.outcome, ["client gone"])
        self.assertEqual(self.site.timeouts, {"response": 1})

    def test_a_slow_reader_that_reads_is_not_cut(self):
        channel, transport = self.connect()
        channel.dataReceived(GET)
        for _ in range(5):
            channel.pauseProducing()
            self.clock.advance(limits.SEND_STALL_TIMEOUT - 1)
            channel.resumeProducing()
        self.assertFalse(transport.disconnected)
        self.lose(channel)
        self.clock.advance(1)  # the pump's next write learns of it
        self.assertEqual(self.resource.outcome, ["client gone"])


    def test_a_slow_reader_draining_the_buffer_is_not_cut(self):
        """Twisted resumes a paused producer only once its whole buffer has
        drained: a client reading steadily but slowly stays paused longer
        than the stall, and is not cut while the buffer shrinks; once it
        stops reading, it is."""
        channel, transport = self.connect()
        channel.dataReceived(GET)
        queued = 1 << 20
        transport.dataBuffer, transport.offset = b"q" * queued, 0
        channel.pauseProducing()
        for _ in range(4):
            queued -= 200_000  # read during the period
            transport.dataBuffer = b"q" * queued
            self.clock.advance(limits.SEND_STALL_TIMEOUT)
            self.assertFalse(transport.disconnected)
        self.clock.advance(limits.SEND_STALL_TIMEOUT)  # nothing read since
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.site.timeouts, {"response": 1})


class BodyRateTests(_SiteCase):
    stream = True

    def test_a_byte_every_59_seconds_is_cut(self):
        """Never silent for BODY_STALL_TIMEOUT, but far below MIN_BODY_BYTES
        per period: aborted within two periods, nothing stored."""
        channel, transport = self.connect()
        channel.dataReceived(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n")
        elapsed = 0
        while not transport.disconnected and elapsed < 10 * limits.BODY_STALL_TIMEOUT:
            channel.dataReceived(b"a")
            self.clock.advance(59)
            elapsed += 59
        self.assertTrue(transport.disconnected)
        self.assertLessEqual(elapsed, 2 * limits.BODY_STALL_TIMEOUT)
        self.assertEqual(self.site.timeouts, {"request body rate": 1})

    def test_a_slow_honest_body_goes_through(self):
        """1 KiB a second (a bad mobile link) for five minutes is not cut."""
        channel, transport = self.connect()
        size = 300 * 1024
        channel.dataReceived(
            b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(300):
            channel.dataReceived(b"b" * 1024)
            self.clock.advance(1)
        self.assertFalse(transport.disconnected)
        self.assertEqual(self.site.timeouts, {})
