"""Metadata snapshots taken on a timer (``metadata_auto_snapshot_interval``).

As Garage's ``AutoSnapshotWorker``: the first snapshot comes half an
interval after the node starts, each next one an interval times a random
factor in [1, 1.2) after the previous one ended, so that the nodes of a
cluster started together do not all copy their databases at once. A
snapshot is :meth:`MetadataSnapshots.create
<garage_twisted.db.snapshot.MetadataSnapshots.create>` (the same as
``CreateMetadataSnapshot``, keeping the two newest copies). One that fails
is the worker's error: the runner logs it and retries after its back-off.
The schedule lives in memory, as Garage's: a restart starts it again.
"""

import random

from twisted.internet import defer
from zope.interface import implementer

from garage_twisted.util.time import rfc3339_msec
from garage_twisted.util.worker import IWorker, WorkerState

# The next snapshot comes after interval * [1, 1 + JITTER).
JITTER = 0.2


@implementer(IWorker)
class AutoSnapshotWorker:
    """Takes a metadata snapshot every ``interval`` seconds or so.

    :param snapshots: the node's ``MetadataSnapshots``.
    :param interval: seconds between snapshots.
    :param clock: ``IReactorTime`` (the reactor; a ``Clock`` in tests).
    :param rng: ``() -> float`` in [0, 1) (jitter).
    """

    name = "metadata snapshot"

    def __init__(self, snapshots, interval: float, clock, rng=random.random):
        self.snapshots = snapshots
        self.interval = interval
        self.clock = clock
        self.rng = rng
        self.next_at = None
        self.next_idle_delay = None
        self.taken = 0
        self.last_path = None

    def work(self):
        return defer.ensureDeferred(self._work())

    async def _work(self):
        now = self.clock.seconds()
        if self.next_at is None:
            self.next_at = now + self.interval / 2
        if now >= self.next_at:
            self.last_path = await self.snapshots.create()
            self.taken += 1
            now = self.clock.seconds()
            self.next_at = now + self.interval * (1 + self.rng() * JITTER)
        self.next_idle_delay = self.next_at - now
        return WorkerState.IDLE

    def status(self) -> dict:
        status = {"snapshots_taken": self.taken, "last_snapshot": self.last_path}
        if self.next_at is not None:
            status["next_snapshot"] = rfc3339_msec(int(self.next_at * 1000))
        return status
