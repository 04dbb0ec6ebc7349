"""The token bucket behind the per-connection request rate."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.ratelimit import TokenBucket


class TokenBucketTests(SynchronousTestCase):
    def test_burst_then_rate(self):
        clock = Clock()
        bucket = TokenBucket(rate=10, burst=3, clock=clock)
        self.assertEqual([bucket.take() for _ in range(4)], [True, True, True, False])
        clock.advance(0.1)  # one token back
        self.assertEqual([bucket.take(), bucket.take()], [True, False])
        clock.advance(100)  # never more than the burst
        self.assertEqual(sum(bucket.take() for _ in range(10)), 3)

    def test_a_clock_going_back_refills_nothing(self):
        clock = Clock()
        clock.advance(1000)
        bucket = TokenBucket(rate=10, burst=1, clock=clock)
        self.assertTrue(bucket.take())
        clock.rightNow -= 500
        self.assertFalse(bucket.take())
