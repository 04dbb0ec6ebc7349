"""util.time: the injected clock's helpers."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.time import after_next_poll, now_msec


class ClockTests(SynchronousTestCase):
    def test_now_msec(self):
        clock = Clock()
        clock.advance(12.3456)
        self.assertEqual(now_msec(clock), 12345)

    def test_after_next_poll_on_a_clock(self):
        """Not at once; a Clock (which has no poll) fires it on its next
        advance. The order on the real reactor is tested in
        tests/integration/test_poll_order.py."""
        clock = Clock()
        fired = []
        after_next_poll(clock).addCallback(fired.append)
        self.assertEqual(fired, [])
        clock.advance(0)
        self.assertEqual(fired, [None])
