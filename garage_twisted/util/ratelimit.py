"""A token bucket: at most ``rate`` events per second, bursts of ``burst``.

Used per client connection by the S3 endpoint, so one connection that
pipelines requests as fast as it can cannot take the whole node; a client
over the limit gets ``503 SlowDown``, which S3 SDKs answer by backing off.
"""


class TokenBucket:
    """:param clock: ``IReactorTime`` (only ``seconds()`` is used)."""

    def __init__(self, rate: float, burst: float, clock):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.updated = clock.seconds()

    def take(self) -> bool:
        """Take one token if there is one; ``False`` means over the limit."""
        now = self.clock.seconds()
        # A clock that went back (skew corrected) refills nothing.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
