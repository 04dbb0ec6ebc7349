"""Background workers: bounded steps, run forever, never die, never spin.

A worker (:class:`IWorker`) does one bounded step of work per ``work()`` call
and says what comes next, as a :class:`WorkerState`: ``BUSY`` (call again
soon), ``IDLE`` (nothing to do: wait ``idle_delay`` or until woken) or
``DONE`` (stop); a step returning anything else counts as a failed step.
:class:`WorkerRunner` drives every registered worker, and keeps each one's
state as a :class:`WorkerState` too (``THROTTLED`` while it waits out an
error's back-off, as Garage shows it); the admin API turns it into Garage's
strings at its edge:

- between two ``BUSY`` steps it returns to the reactor (``callLater`` of the
  worker's ``busy_delay`` attribute, 0 if it has none), so unbounded work
  never blocks it; a background worker whose backlog may wait (Merkle
  updates) sets a delay so that it takes a bounded share of a busy reactor;
- an exception in a step is logged and the worker retried after an
  exponential back-off (1 s doubling up to ``MAX_BACKOFF``), unlike
  ``LoopingCall`` which stops forever on the first error;
- ``wake(name)`` ends an idle wait early (new work queued); a worker may
  shorten its next idle wait through a ``next_idle_delay`` attribute;
- a worker with a ``tranquility`` attribute (Garage's knob for background
  work that must leave the disk to users) rests ``tranquility`` times as
  long as its last busy step took before the next one;
- a worker's ``variables`` attribute (name -> :class:`WorkerVariable`) is
  what ``garage worker get`` shows and ``garage worker set`` changes;
- ``stopService`` waits for running steps and cancels every timer.
"""

import enum
from dataclasses import dataclass
from typing import Callable

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface

from garage_twisted.util.errors import GarageError

MAX_BACKOFF = 600.0
DEFAULT_IDLE_DELAY = 10.0
# Longest wait, at shutdown, for the steps in progress.
STOP_TIMEOUT = 10.0


class WorkerState(enum.Enum):
    """What a worker's step says comes next, and where the runner has it."""

    BUSY = "busy"
    IDLE = "idle"
    DONE = "done"
    # The runner's alone: the worker waits out the back-off after an error.
    # A step never returns it (Garage's workers may; none here needs to).
    THROTTLED = "throttled"


# What a step may return (a tuple: a step's bad answer may be unhashable).
STEP_OUTCOMES = (WorkerState.BUSY, WorkerState.IDLE, WorkerState.DONE)


class IWorker(Interface):
    """A background worker that :class:`WorkerRunner` drives.

    Optional attributes the runner reads when present: ``busy_delay``,
    ``next_idle_delay``, ``tranquility`` and ``variables`` (see the module
    docstring).
    """

    name = Attribute("Unique, human-readable name of the worker.")

    def work():
        """Do one bounded step; return a WorkerState (one of
        ``STEP_OUTCOMES``) or a Deferred of one."""

    def status():
        """A dict of worker-specific figures (queue lengths...)."""


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: WorkerState
    errors: int
    consecutive_errors: int
    last_error: str | None
    status: dict
    # Clock time of the last error, and seconds until the next step when
    # one is scheduled.
    last_error_at: float | None = None
    next_step_in: float | None = None
    tranquility: int | None = None
    # Given when the worker was added, never reused (Garage's task id).
    id: int = 0


class WorkerVariableError(GarageError):
    """A worker variable that does not exist, is read-only, or a bad value."""

    code = "BadRequest"


@dataclass(frozen=True)
class WorkerVariable:
    """A worker's setting or figure, by name in ``garage worker get/set``.

    ``get() -> str``; ``set(text)`` parses, checks and applies a new value
    (raising :class:`WorkerVariableError`), or is ``None``: read-only.
    """

    get: Callable[[], str]
    set: Callable[[str], None] | None = None


class IntSetting:
    """An integer setting kept in a store tree (``get`` / ``insert``), so a
    value set at run time survives restarts.

    :param tree: where the value is kept, under ``key``.
    :param default: the value until one is set.
    """

    def __init__(self, tree, key: bytes, default: int, minimum: int = 0,
                 maximum: int | None = None):
        self.tree = tree
        self.key = key
        self.minimum = minimum
        self.maximum = maximum
        raw = tree.get(key)
        self.value = default if raw is None else int(bytes(raw).decode())

    def set(self, text: str) -> None:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise WorkerVariableError(f"{text!r} is not an integer") from None
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            bounds = f"at least {self.minimum}" if self.maximum is None else \
                f"between {self.minimum} and {self.maximum}"
            raise WorkerVariableError(f"the value must be {bounds}")
        self.tree.insert(self.key, str(value).encode())
        self.value = value

    def variable(self) -> WorkerVariable:
        return WorkerVariable(lambda: str(self.value), self.set)


class _Slot:
    """Runtime state of one worker inside the runner."""

    def __init__(self, worker, idle_delay, worker_id: int):
        self.worker = worker
        self.id = worker_id
        self.idle_delay = idle_delay
        self.state = WorkerState.IDLE
        self.errors = 0
        self.consecutive_errors = 0
        self.last_error = None
        self.timer = None
        self.running = None  # Deferred of the step in progress
        self.woken = False
        self.started = 0.0  # clock time the last step started
        self.last_error_at = None


class WorkerRunner(Service):
    """Runs background workers on the reactor.

    :param clock: ``IReactorTime``.
    """

    log = Logger()

    def __init__(self, clock, idle_delay: float = DEFAULT_IDLE_DELAY):
        self.clock = clock
        self.idle_delay = idle_delay
        self._slots: dict[str, _Slot] = {}
        self._next_id = 0

    def add(self, worker, idle_delay: float | None = None) -> None:
        """Register ``worker``; it starts with the service (or now if running)."""
        if worker.name in self._slots:
            raise ValueError(f"duplicate worker name {worker.name!r}")
        slot = _Slot(worker, self.idle_delay if idle_delay is None else idle_delay,
                     self._next_id)
        self._next_id += 1
        self._slots[worker.name] = slot
        if self.running:
            self._schedule(slot, 0)

    def worker(self, name: str):
        """The worker called ``name``, or ``None``."""
        slot = self._slots.get(name)
        return None if slot is None else slot.worker

    def launch(self, worker) -> None:
        """Run a one-off worker (a repair), replacing a finished one of the
        same name.

        :raises WorkerVariableError: one of that name has not finished.
        """
        slot = self._slots.get(worker.name)
        if slot is not None:
            if slot.state is not WorkerState.DONE:
                raise WorkerVariableError(f"{worker.name} is already running")
            del self._slots[worker.name]
        self.add(worker)

    def wake(self, name: str, delay: float = 0.0) -> None:
        """Run an idle worker's next step within ``delay`` seconds instead of
        after its idle delay.

        A small ``delay`` lets work that arrives in bursts (one Merkle to-do
        item per write) be handled in one batch instead of one step per item.
        """
        slot = self._slots.get(name)
        if slot is None or not self.running:
            return
        if slot.running is not None:
            slot.woken = True
        elif slot.state is WorkerState.BUSY:
            # Between two busy steps: its next step comes anyway, and moving
            # it closer would cut a tranquil worker's rest short.
            return
        elif slot.state is not WorkerState.DONE:
            timer = slot.timer
            if timer is not None and timer.active() and \
                    timer.getTime() <= self.clock.seconds() + delay:
                return
            self._schedule(slot, delay)

    def names(self) -> list[str]:
        """Every worker's name, sorted: without their statuses, some of
        which count whole queues."""
        return sorted(self._slots)

    def list_workers(self, worker_id: int | None = None) -> list[WorkerInfo]:
        """Every worker (or only the one numbered ``worker_id``), sorted by
        name."""
        infos = []
        now = self.clock.seconds()
        for name in sorted(self._slots):
            slot = self._slots[name]
            if worker_id is not None and slot.id != worker_id:
                continue
            try:
                status = slot.worker.status()
            except Exception as e:  # a status must never break a listing
                status = {"error": str(e)}
            timer = slot.timer
            next_step_in = max(0.0, timer.getTime() - now) \
                if timer is not None and timer.active() else None
            tranquility = getattr(slot.worker, "tranquility", None)
            infos.append(WorkerInfo(name, slot.state, slot.errors,
                                    slot.consecutive_errors, slot.last_error, status,
                                    slot.last_error_at, next_step_in,
                                    None if tranquility is None else int(tranquility),
                                    slot.id))
        return infos

    def variables(self) -> dict:
        """name -> :class:`WorkerVariable`, over every worker."""
        found = {}
        for name in sorted(self._slots):
            found.update(getattr(self._slots[name].worker, "variables", None) or {})
        return found

    def get_variable(self, name: str) -> str:
        variable = self.variables().get(name)
        if variable is None:
            raise WorkerVariableError(f"variable {name!r} does not exist")
        return variable.get()

    def set_variable(self, name: str, value: str) -> str:
        """Set ``name`` to ``value``; the value it has now."""
        variable = self.variables().get(name)
        if variable is None:
            raise WorkerVariableError(f"variable {name!r} does not exist")
        if variable.set is None:
            raise WorkerVariableError(f"Cannot set value of {name}")
        variable.set(value)
        self.log.info("worker variable {name} set to {value}", name=name, value=value)
        return variable.get()

    def startService(self):
        super().startService()
        for slot in self._slots.values():
            self._schedule(slot, 0)

    def stopService(self):
        """Stop scheduling; fires once every step in progress has ended, or
        after ``STOP_TIMEOUT`` seconds (the busy workers are logged: a step
        stuck on something that will never answer must not keep the node
        from stopping)."""
        super().stopService()
        busy = set()
        stopped = defer.Deferred()

        def step_ended(result, name):
            busy.discard(name)
            if not busy and not stopped.called:
                timer.cancel()
                stopped.callback(None)
            return result

        for slot in self._slots.values():
            if slot.timer is not None and slot.timer.active():
                slot.timer.cancel()
            slot.timer = None
            if slot.running is not None:
                busy.add(slot.worker.name)
        if not busy:
            return defer.succeed(None)

        def give_up():
            self.log.error("workers still busy at shutdown: {workers}", workers=sorted(busy))
            stopped.callback(None)

        timer = self.clock.callLater(STOP_TIMEOUT, give_up)
        for slot in self._slots.values():
            if slot.running is not None:
                slot.running.addBoth(step_ended, slot.worker.name)
        return stopped

    def _schedule(self, slot: _Slot, delay: float) -> None:
        if slot.timer is not None and slot.timer.active():
            slot.timer.cancel()
        slot.timer = self.clock.callLater(delay, self._step, slot)

    def _step(self, slot: _Slot) -> None:
        slot.timer = None
        if not self.running or slot.running is not None:
            return
        slot.woken = False
        slot.state = WorkerState.BUSY
        slot.started = self.clock.seconds()
        d = defer.maybeDeferred(slot.worker.work)
        slot.running = d
        d.addCallbacks(self._stepped, self._failed, callbackArgs=(slot,),
                       errbackArgs=(slot,))

    def _stepped(self, state, slot: _Slot) -> None:
        if state not in STEP_OUTCOMES:
            # A bug in the worker: handled as any failed step (logged, backed
            # off), never taken for "idle".
            self._failed(Failure(TypeError(
                f"worker {slot.worker.name!r} returned {state!r}, not a step outcome")), slot)
            return
        slot.running = None
        slot.consecutive_errors = 0
        if not self.running:
            return
        if state is WorkerState.DONE:
            slot.state = WorkerState.DONE
            return
        if state is WorkerState.BUSY:
            delay = getattr(slot.worker, "busy_delay", 0.0)
            tranquility = getattr(slot.worker, "tranquility", 0)
            if tranquility:
                delay = max(delay, tranquility * (self.clock.seconds() - slot.started))
            self._schedule(slot, delay)
        elif slot.woken:
            self._schedule(slot, 0)
        else:
            slot.state = WorkerState.IDLE
            # A worker that must come back sooner than usual (a sync pass cut
            # short during a layout change) says so in ``next_idle_delay``.
            delay = getattr(slot.worker, "next_idle_delay", None)
            self._schedule(slot, slot.idle_delay if delay is None else delay)

    def _failed(self, failure, slot: _Slot) -> None:
        slot.running = None
        slot.errors += 1
        slot.consecutive_errors += 1
        slot.last_error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        slot.last_error_at = self.clock.seconds()
        backoff = min(MAX_BACKOFF, 2.0 ** (slot.consecutive_errors - 1))
        slot.state = WorkerState.THROTTLED
        self.log.error(
            "worker {worker} failed ({count} in a row), retrying in {backoff}s: {error}\n"
            "{traceback}",
            worker=slot.worker.name, count=slot.consecutive_errors, backoff=backoff,
            error=slot.last_error, traceback=failure.getTraceback())
        if self.running:
            self._schedule(slot, backoff)
