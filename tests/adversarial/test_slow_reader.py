"""A client that stops reading the answer cannot hold its connection forever.

When a kept-alive connection's idle timer fires, the node closes it
gracefully: Twisted waits for the buffered answer to leave. A client that
never reads it kept the connection (a descriptor and a budget slot) for
ever, since Twisted's own abort timer is off; the closing phase's timer now
aborts it. And a client that leaves the previous answer unread while it
trickles the next request's body no longer suspends the body-stall timer.
"""

from tests.unit.api.test_limits import GET, _SiteCase

from garage_twisted.api import limits


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
