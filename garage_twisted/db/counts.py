"""Running key counts of chosen trees, so that nobody walks a tree to size it.

Queues kept in the store (Merkle to-do lists, insert queues, GC to-do lists,
the block resync queue...) are shown by ``/metrics`` and ``ListWorkers``.
Counting one by walking it takes seconds on a node with millions of
objects, and on the reactor thread that stalls every request. A tree opened
with ``counted=True`` carries a :class:`KeyCount` instead, which the store
keeps exact:

- every write to the tree (a tree's own ``insert``/``remove`` or a
  transaction's commit) looks up whether the key exists before it is
  written (one point read, on the reactor thread, like the write) and,
  once the write succeeded, adds +1 for a new key and -1 for a removed one;
- a *recount* gives the count its base: the store takes a LevelDB snapshot
  on the reactor thread, notes the running total at that instant
  (:meth:`KeyCount.mark`), walks the snapshot in the I/O pool, and sets
  ``base = keys in the snapshot - total at the mark``, so the writes made
  while the pool counted are neither lost nor counted twice.

Invariant: a count is exact (``value`` is the number of keys) once a
recount has finished, because the store is written from the reactor thread
alone (see :mod:`garage_twisted.db.interfaces`), so nothing is written
between a key's existence check and its write, nor between the snapshot and
the mark. Until then ``value`` is ``None``: unknown, never a wrong figure.
A failed write and a reopen forget every base (a write reported as failed
may still have reached LevelDB's log), and a recount whose snapshot was
taken before the last forget is ignored when it lands (its snapshot may
miss that write); :class:`StoreRecounter` recounts at start and after every
reopen.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger


class KeyCount:
    """The number of keys of one tree, maintained by its store."""

    def __init__(self):
        self._base = None
        self._total = 0
        # Raised by forget(): a recount marked before it is stale.
        self._generation = 0

    @property
    def value(self) -> int | None:
        """The number of keys, or ``None`` until a recount has finished."""
        return None if self._base is None else self._base + self._total

    def add(self, delta: int) -> None:
        """Account for keys created (+) or removed (-) by a write that succeeded."""
        self._total += delta

    def mark(self) -> tuple:
        """The instant a recount's snapshot is taken: the running total then,
        and the generation (to tell a recount that a forget overtook)."""
        return self._generation, self._total

    def counted(self, keys: int, mark: tuple) -> None:
        """A recount found ``keys`` keys in the snapshot taken at ``mark``;
        ignored if the count was forgotten since (the snapshot may miss a
        failed write that reached the log)."""
        generation, total = mark
        if generation == self._generation:
            self._base = keys - total

    def forget(self) -> None:
        """The count is unknown until the next recount."""
        self._base = None
        self._generation += 1


class StoreRecounter(Service):
    """Recounts ``store``'s counted trees when the node starts and each
    time the store is reopened after a failure.

    :param store: the node's ``IKeyValueStore``.
    :param run_in_thread: ``run(f, *args) -> Deferred`` on the I/O pool.
    """

    log = Logger()
    name = "key counts"

    def __init__(self, store, run_in_thread):
        self.store = store
        self.run_in_thread = run_in_thread
        self._running_recount = None
        self._recovered = []

    def startService(self):
        super().startService()
        # A store that never fails (the memory store) has no recoveries.
        self._recovered = getattr(self.store, "on_recovered", [])
        self._recovered.append(self.recount)
        self.recount()

    def stopService(self):
        super().stopService()
        if self.recount in self._recovered:
            self._recovered.remove(self.recount)
        # The pool stops after this service: let it finish the walk first.
        running = self._running_recount
        return defer.succeed(None) if running is None else running

    def when_counted(self) -> defer.Deferred:
        """A Deferred firing once the recount under way (if any) has ended."""
        running = self._running_recount
        if running is None:
            return defer.succeed(None)
        waiter = defer.Deferred()

        def ended(result):
            waiter.callback(None)
            return result

        running.addBoth(ended)
        return waiter

    def recount(self) -> defer.Deferred:
        """Recount now (Deferred; a failure is logged, never raised: the
        counts stay unknown until the next recount)."""
        d = defer.maybeDeferred(self.store.recount, self.run_in_thread)
        self._running_recount = d

        def done(result):
            if self._running_recount is d:
                self._running_recount = None
            return result

        def failed(failure):
            self.log.error("recounting the metadata queues failed: {error}",
                           error=failure.getErrorMessage())

        return d.addErrback(failed).addBoth(done)
