"""A slow client hiding behind pipelined requests.

Requests answered at once and read in one piece with the start of another
left that start under the idle deadline (30 s), then the closing one (30 s
more), instead of the header deadline (20 s): the channel missed that the
next request had begun, as its bytes were parsed from Twisted's line buffer
without passing through ``dataReceived``. Found by review of the one-timer
change; the design before it had the same gap.
"""

from garage_twisted.api import limits
from tests.unit.api.test_limits import GET, _SiteCase


class PipelinedSlowHeaderTests(_SiteCase):
    def test_partial_request_after_answered_ones_is_cut_at_the_header_deadline(self):
        channel, transport = self.connect()
        channel.dataReceived(GET + GET + GET[:10])
        self.assertEqual(transport.value().count(b"200 OK"), 2)
        self.clock.advance(limits.HEADER_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected)  # aborted: nothing more is answered
        self.assertEqual(self.site.timeouts, {"request headers": 1})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_trickle_after_a_pipelined_start_does_not_extend_it(self):
        channel, transport = self.connect()
        channel.dataReceived(GET + GET[:5])
        for byte in GET[5:-2]:
            self.clock.advance(1)
            if transport.disconnected:
                break
            channel.dataReceived(bytes([byte]))
        # Due 20 s after the bytes that began it, not after the first
        # trickled one.
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.clock.seconds(), limits.HEADER_TIMEOUT)
        self.assertEqual(transport.value().count(b"200 OK"), 1)
