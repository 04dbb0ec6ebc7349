"""HTTP listener deadlines and connection caps (api/limits.py, api/streaming.py), on a Clock."""

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from garage_twisted.api import limits
from garage_twisted.api.limits import (
    ConnectionBudget, ConnectionCaps, ListenerLimits, fd_reserve, refusal_response,
)
from garage_twisted.api.streaming import BodyIncomplete, StreamingSite

GET = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"


def put_head(length: int) -> bytes:
    return b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % length


class Echo(Resource):
    """GET answers at once; PUT reads a streamed body (when streamed)."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.outcomes = []
        self.readers = []
        self.requests = []

    def render_GET(self, request):
        return b"hi"

    def render_PUT(self, request):
        reader = request.body_reader
        if reader is None:
            self.outcomes.append(("spooled", request.content.read()))
            return b"stored"
        self.readers.append(reader)
        self.requests.append(request)
        return NOT_DONE_YET

    def drain(self, reader, request=None):
        """Read everything buffered; record the end or the failure."""
        def got(data):
            if data:
                return reader.read().addCallbacks(got, failed)
            self.outcomes.append(("complete", reader.bytes_received))

        def failed(failure):
            failure.trap(BodyIncomplete)
            self.outcomes.append(("incomplete", reader.bytes_received))
            if request is not None:
                # As the S3 handler does: it ends the request as it learns
                # of the loss, before Twisted marks it disconnected.
                request.finish()
        reader.read().addCallbacks(got, failed)


class _SiteCase(SynchronousTestCase):
    stream = False
    caps = None

    def setUp(self):
        self.clock = Clock()
        self.resource = Echo()
        self.budget = None if self.caps is None else ConnectionBudget(self.caps)
        self.site = StreamingSite(self.resource, should_stream=lambda *a: self.stream,
                                  clock=self.clock, limits=ListenerLimits(),
                                  budget=self.budget)

    def connect(self, host: str = "192.0.2.1"):
        protocol = self.site.buildProtocol(IPv4Address("TCP", host, 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
        protocol.makeConnection(transport)
        return protocol, transport

    def lose(self, protocol):
        protocol.connectionLost(Failure(ConnectionDone()))


class DeadlineTests(_SiteCase):
    def test_trickled_headers_are_cut_at_the_deadline(self):
        """A client sending a header byte every 5 s is dropped at HEADER_TIMEOUT,
        with nothing answered."""
        channel, transport = self.connect()
        request = b"GET /x HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 100
        elapsed = 0.0
        for byte in request:
            channel.dataReceived(bytes([byte]))
            self.clock.advance(5)
            elapsed += 5
            if transport.disconnected:
                break
        self.assertTrue(transport.disconnected)  # aborted, not a graceful close
        self.assertEqual(elapsed, limits.HEADER_TIMEOUT)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.site.timeouts, {"request headers": 1})

    def test_silent_connection_is_cut_at_the_header_deadline(self):
        """A connection that sends nothing is dropped at HEADER_TIMEOUT."""
        channel, transport = self.connect()
        self.clock.advance(limits.HEADER_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)

    def test_idle_keep_alive_is_closed(self):
        """After a response, a connection with no next request is closed
        (gracefully) after IDLE_TIMEOUT, not before."""
        channel, transport = self.connect()
        self.clock.advance(limits.HEADER_TIMEOUT - 1)
        channel.dataReceived(GET)
        self.assertIn(b"200 OK", transport.value())
        self.clock.advance(limits.IDLE_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.assertEqual(self.site.timeouts, {"idle": 1})

    def test_next_request_gets_its_own_header_deadline(self):
        """A kept-alive connection serves several requests; the next request's
        header deadline runs from its first byte, not from the last response."""
        channel, transport = self.connect()
        channel.dataReceived(GET)
        self.clock.advance(limits.IDLE_TIMEOUT - 1)
        channel.dataReceived(GET[:5])
        self.clock.advance(limits.HEADER_TIMEOUT - 1)
        channel.dataReceived(GET[5:])
        self.assertEqual(transport.value().count(b"200 OK"), 2)
        self.assertFalse(transport.disconnecting)
        # Then idle again, from the second response.
        self.clock.advance(limits.IDLE_TIMEOUT)
        self.assertTrue(transport.disconnecting)

    def test_header_deadline_sooner_than_the_pending_timer(self):
        """The connection's one timer may be set for a later deadline (the
        idle one) when a request starts: the header deadline still holds
        from the request's first byte, to the tenth of a second."""
        channel, transport = self.connect()
        self.clock.advance(15)
        channel.dataReceived(GET)  # idle from t=15: its deadline is t=45
        self.clock.advance(5)  # t=20: the first timer fires, waits for t=45
        self.clock.advance(1)
        channel.dataReceived(GET[:5])  # t=21: headers due by t=41
        self.clock.advance(limits.HEADER_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.site.timeouts, {"request headers": 1})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_pipelined_whole_requests_leave_the_connection_idle(self):
        channel, transport = self.connect()
        channel.dataReceived(GET + GET)
        self.assertEqual(transport.value().count(b"200 OK"), 2)
        self.clock.advance(limits.HEADER_TIMEOUT + 1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(limits.IDLE_TIMEOUT)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.site.timeouts, {"idle": 1})

    def test_one_timer_per_connection(self):
        """Requests on a kept-alive connection schedule no timer each (two
        per request cost 3% of a small GET): one pending call at most, a
        new one only when the last fired."""
        scheduled = []
        schedule = self.clock.callLater

        def counted(delay, *args, **kwargs):
            scheduled.append(delay)
            return schedule(delay, *args, **kwargs)

        self.clock.callLater = counted
        channel, transport = self.connect()
        for _ in range(50):
            channel.dataReceived(GET)
            self.clock.advance(0.5)
            self.assertLessEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(transport.value().count(b"200 OK"), 50)
        # 25 s: the first timer (t=20) fired once and waited for the idle
        # deadline; the next request's header deadline came sooner and
        # moved it once. Two per request before: 100.
        self.assertEqual(len(scheduled), 3)
        self.clock.advance(limits.IDLE_TIMEOUT)
        self.assertTrue(transport.disconnecting)

    def test_no_timer_outlives_the_connection(self):
        """A connection lost early leaves no pending call on the clock."""
        channel, transport = self.connect()
        channel.dataReceived(put_head(10) + b"12345")
        self.lose(channel)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SpooledBodyTests(_SiteCase):
    def test_body_arriving_slowly_is_not_cut(self):
        """A body with less than BODY_STALL_TIMEOUT between its pieces, and
        MIN_BODY_BYTES in each, is read whole, however long it takes."""
        channel, transport = self.connect()
        pieces = [bytes([48 + i]) * limits.MIN_BODY_BYTES for i in range(10)]
        channel.dataReceived(put_head(sum(map(len, pieces))))
        for piece in pieces:
            self.clock.advance(limits.BODY_STALL_TIMEOUT - 1)
            channel.dataReceived(piece)
        self.assertEqual(self.resource.outcomes, [("spooled", b"".join(pieces))])
        self.assertIn(b"stored", transport.value())

    def test_stalled_body_is_aborted_and_never_handled(self):
        """A body that stops for BODY_STALL_TIMEOUT: connection aborted,
        nothing answered, the resource never rendered."""
        channel, transport = self.connect()
        channel.dataReceived(put_head(10) + b"12345")
        self.clock.advance(limits.BODY_STALL_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        self.lose(channel)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.resource.outcomes, [])
        self.assertEqual(self.site.timeouts, {"request body": 1})


class StreamedBodyTests(_SiteCase):
    stream = True

    def test_stalled_streamed_body_fails_the_reader(self):
        """The handler of a streamed upload that stalls sees BodyIncomplete,
        as when the client leaves (so nothing is stored), and nothing is
        written to the client."""
        channel, transport = self.connect()
        channel.dataReceived(put_head(1000) + b"x" * 100)
        [reader] = self.resource.readers
        self.resource.drain(reader)
        self.clock.advance(limits.BODY_STALL_TIMEOUT)
        self.assertTrue(transport.disconnected)
        self.lose(channel)
        self.assertEqual(self.resource.outcomes, [("incomplete", 100)])
        self.assertEqual(transport.value(), b"")

    def test_no_timer_after_a_streamed_request_is_lost(self):
        """A streamed upload whose connection is lost, and whose handler then
        ends, leaves no pending call on the clock."""
        channel, transport = self.connect()
        channel.dataReceived(put_head(1000) + b"x" * 100)
        [reader] = self.resource.readers
        self.resource.drain(reader, self.resource.requests[0])
        self.lose(channel)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_time_with_reading_paused_by_the_node_does_not_count(self):
        """While the node stops reading (its handler is slow), the client's
        silence is not a stall; once reading resumes the timer counts again."""
        channel, transport = self.connect()
        size = 6 << 20
        channel.dataReceived(put_head(size + 1) + b"x" * size)
        [reader] = self.resource.readers
        self.assertEqual(transport.producerState, "paused")
        self.clock.advance(limits.BODY_STALL_TIMEOUT * 5)
        self.assertFalse(transport.disconnecting)
        self.resource.drain(reader)
        self.assertEqual(transport.producerState, "producing")
        self.clock.advance(limits.BODY_STALL_TIMEOUT - 1)
        self.assertFalse(transport.disconnecting)
        channel.dataReceived(b"x")
        self.assertEqual(self.resource.outcomes, [("complete", size + 1)])


class CapTests(_SiteCase):
    caps = ConnectionCaps(total=3, per_address=2)

    def assertRefused(self, protocol, transport):
        response = transport.value()
        self.assertTrue(response.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"))
        self.assertIn(b"<Code>SlowDown</Code>", response)
        self.assertTrue(transport.disconnecting)

    def test_per_address_cap(self):
        """A third connection from one address gets 503 SlowDown and is closed;
        another address is still served; a closed connection frees its place."""
        first, _ = self.connect("192.0.2.1")
        self.connect("192.0.2.1")
        self.assertRefused(*self.connect("192.0.2.1"))
        other, transport = self.connect("192.0.2.2")
        other.dataReceived(GET)
        self.assertIn(b"200 OK", transport.value())
        self.lose(first)
        channel, transport = self.connect("192.0.2.1")
        channel.dataReceived(GET)
        self.assertIn(b"200 OK", transport.value())

    def test_total_cap(self):
        """Beyond the total, every address is refused."""
        self.connect("192.0.2.1")
        self.connect("192.0.2.2")
        self.connect("192.0.2.3")
        self.assertRefused(*self.connect("192.0.2.4"))
        self.assertEqual((self.budget.open, self.budget.refused), (3, 1))

    def test_timed_out_connections_free_their_places(self):
        """Connections dropped at the header deadline are released."""
        for _ in range(2):
            channel, _ = self.connect("192.0.2.1")
        self.clock.advance(limits.HEADER_TIMEOUT)
        for channel in list(self.site.channels):
            self.lose(channel)
        self.assertEqual(self.budget.open, 0)
        channel, transport = self.connect("192.0.2.1")
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.disconnecting)


class CapsFromLimitTests(SynchronousTestCase):
    def test_caps_leave_the_reserve(self):
        """The total cap leaves fd_reserve() descriptors to the node, and one
        address gets a PER_ADDRESS_SHARE of it."""
        caps = ConnectionCaps.for_fd_limit(4096)
        self.assertEqual(caps.total, 4096 - fd_reserve())
        self.assertEqual(caps.per_address, caps.total // limits.PER_ADDRESS_SHARE)

    def test_caps_are_bounded(self):
        """A huge limit is capped at MAX_CLIENT_CONNECTIONS, a tiny one floored."""
        self.assertEqual(ConnectionCaps.for_fd_limit(1 << 20).total,
                         limits.MAX_CLIENT_CONNECTIONS)
        self.assertEqual(ConnectionCaps.for_fd_limit(256).total, limits.MIN_CLIENT_CONNECTIONS)

    def test_refusal_is_an_s3_error(self):
        """The refusal is a complete response whose length matches its XML body."""
        head, _, body = refusal_response().partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % len(body), head)
        self.assertTrue(body.startswith(b"<?xml"))


class QuickAnswer(Resource):
    """Answers every streamed PUT at once, without reading its body (as
    CopyObject does: it has none)."""

    isLeaf = True

    def render_PUT(self, request):
        return b"copied"


class EmptyBodyKeepAliveTests(SynchronousTestCase):
    """A streamed request without a body answered at once keeps its
    connection for the next request (once, the answer came before the
    channel ended the request, the connection closed after it untold, and
    s3cmd's next request on it, a PUT ?acl after a copy, failed)."""

    def test_next_request_on_the_connection_is_served(self):
        site = StreamingSite(QuickAnswer(), should_stream=lambda *a: True, clock=Clock(),
                             limits=ListenerLimits())
        protocol = site.buildProtocol(IPv4Address("TCP", "192.0.2.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40000))
        protocol.makeConnection(transport)
        protocol.dataReceived(put_head(0))
        protocol.dataReceived(put_head(0))
        self.assertEqual(transport.value().count(b"copied"), 2)
        self.assertFalse(transport.disconnecting)
        self.assertNotIn(b"onnection: close", transport.value())
