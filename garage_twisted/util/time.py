"""Time helpers that read an injected clock, never the global reactor.

``clock`` is any ``IReactorTime`` provider (the reactor in production, a
``twisted.internet.task.Clock`` in tests).
"""


def now_msec(clock) -> int:
    """Milliseconds since the Unix epoch according to ``clock``.

    :param clock: an ``IReactorTime`` provider.
    :returns: an ``int``.
    """
    return int(clock.seconds() * 1000)
