"""Time helpers that read an injected clock, never the global reactor.

``clock`` is any ``IReactorTime`` provider (the reactor in production, a
``twisted.internet.task.Clock`` in tests).
"""

from datetime import datetime, timezone

from twisted.internet.defer import Deferred


def now_msec(clock) -> int:
    """Milliseconds since the Unix epoch according to ``clock``.

    :param clock: an ``IReactorTime`` provider.
    :returns: an ``int``.
    """
    return int(clock.seconds() * 1000)


def rfc3339_msec(msec: int) -> str:
    """``msec`` (since the epoch) as RFC 3339 UTC with milliseconds, as
    Garage writes times: ``2026-12-04T18:36:45.123Z``."""
    dt = datetime.fromtimestamp(msec / 1000, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def after_next_poll(clock):
    """A Deferred that fires once the reactor has polled its descriptors again.

    Twisted writes a transport's buffer only when the reactor next polls, so
    work done in the current turn holds back every message just written: a
    node that reads its own replica of a range before that poll makes the
    other replicas start their part only after its own, not beside it.

    Two hops: ``ReactorBase.runUntilCurrent`` runs a call scheduled while it
    runs only on its next pass, which follows the poll. A ``task.Clock``
    fires it on its next ``advance``.

    :param clock: an ``IReactorTime`` provider.
    :returns: a ``Deferred`` firing with ``None``.
    """
    done = Deferred()
    clock.callLater(0, clock.callLater, 0, done.callback, None)
    return done
