"""Scrub: re-read and re-hash every stored block, slowly, to find bit rot.

:class:`BlockScrubber` walks the data directory in hash order, a few blocks
per step with a pause between steps (so it takes a small share of the disk
and CPU), and verifies each block against its name. A corrupt block is
renamed aside (``.corrupted``, kept for inspection) by the read that finds
it, as on every read, and reported to
:meth:`~garage_twisted.block.manager.BlockManager.corrupt_found`, which logs
it and queues an immediate resync that fetches a good copy from another
node. A pass that
ends waits ``SCRUB_INTERVAL`` (30 days, as Garage's default tranquility
roughly gives) before the next; the cursor and the last pass's end are in
the store (``block:scrub``), so restarts resume where they stopped.

Operators steer it as Garage's (``garage repair scrub start|pause|resume|
cancel``): start a pass now, pause the pass in progress for
``PAUSE_DURATION``, resume it, or cancel it (the next pass then comes at
its usual time). Variables: ``scrub-tranquility`` (the runner rests that
many times each step's duration after it), and the read-only
``scrub-last-completed``, ``scrub-next-run`` and
``scrub-corruptions_detected``.

The state (:class:`ScrubState`) is stored as the CBOR list
``[cursor, last_pass_end_ms, checked_this_pass, corruptions_found]``, the
bytes of every release so far.
"""

from dataclasses import dataclass, replace

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.block.errors import CorruptBlock, MissingBlock
from garage_twisted.util import codec
from garage_twisted.util.time import now_msec, rfc3339_msec
from garage_twisted.util.worker import IntSetting, IWorker, WorkerState, WorkerVariable, \
    WorkerVariableError

SCRUB_INTERVAL = 30 * 24 * 3600.0
BLOCKS_PER_STEP = 4
STEP_PAUSE = 0.25
STATE_KEY = b"state"
PAUSED_KEY = b"paused_until"
PAUSE_DURATION = 24 * 3600.0
DEFAULT_TRANQUILITY = 4  # Garage's
COMMANDS = ("start", "pause", "resume", "cancel")


@dataclass(frozen=True)
class ScrubState:
    """Where the scrub stands: what survives a restart.

    :param cursor: the last hash checked in the pass in progress; ``b""``
        at a pass start and between passes.
    :param last_pass_end_ms: when the last pass ended (or was cancelled);
        0: never.
    :param checked_this_pass: blocks checked in the pass in progress.
    :param corruptions_found: corrupt blocks found, ever.
    """

    cursor: bytes = b""
    last_pass_end_ms: int = 0
    checked_this_pass: int = 0
    corruptions_found: int = 0

    @property
    def in_pass(self) -> bool:
        return self.cursor != b"" or self.checked_this_pass > 0

    def to_cbor(self) -> list:
        return [self.cursor, self.last_pass_end_ms, self.checked_this_pass,
                self.corruptions_found]

    @classmethod
    def from_cbor(cls, value) -> "ScrubState":
        cursor, last_pass_end_ms, checked_this_pass, corruptions_found = value
        return cls(bytes(cursor), last_pass_end_ms, checked_this_pass, corruptions_found)


@implementer(IWorker)
class BlockScrubber:
    """Worker verifying stored blocks.

    :param manager: the node's ``BlockManager``.
    :param kv_store: the node's ``IKeyValueStore``.
    """

    log = Logger()
    name = "block scrub"

    def __init__(self, manager, kv_store):
        self.manager = manager
        self.tree = kv_store.open_tree("block:scrub")
        self.busy_delay = STEP_PAUSE
        self.next_idle_delay = None
        raw = self.tree.get(STATE_KEY)
        self.state = ScrubState.from_cbor(codec.loads(raw)) if raw else ScrubState()
        raw = self.tree.get(PAUSED_KEY)
        self.paused_until = codec.loads(raw) if raw else 0
        # Set by a start command: a pass begins at once, whatever the interval.
        self.start_now = False
        # A step in progress scans a pass (its state is written at its end).
        self.scanning = False
        # Bumped by every command: a step that began before one drops what
        # it found instead of writing over what the command set.
        self.epoch = 0
        self.tranquility_setting = IntSetting(self.tree, b"tranquility", DEFAULT_TRANQUILITY)
        self.variables = {
            "scrub-tranquility": self.tranquility_setting.variable(),
            "scrub-last-completed": WorkerVariable(
                lambda: rfc3339_msec(self.state.last_pass_end_ms)
                if self.state.last_pass_end_ms else "never"),
            "scrub-next-run": WorkerVariable(lambda: rfc3339_msec(self._next_run())),
            "scrub-corruptions_detected": WorkerVariable(
                lambda: str(self.state.corruptions_found)),
        }

    @property
    def tranquility(self) -> int:
        return self.tranquility_setting.value

    def _save(self) -> None:
        self.tree.insert(STATE_KEY, codec.dumps(self.state.to_cbor()))

    def _running(self) -> bool:
        return self.scanning or self.state.in_pass

    def _next_run(self) -> int:
        """When the next step checks blocks (ms)."""
        now = now_msec(self.manager.clock)
        if self.paused_until > now:
            return self.paused_until
        last_end = self.state.last_pass_end_ms
        if self._running() or self.start_now or not last_end:
            return now
        return max(now, last_end + int(SCRUB_INTERVAL * 1000))

    def command(self, name: str) -> None:
        """Garage's scrub commands: ``start``, ``pause``, ``resume``, ``cancel``.

        :raises WorkerVariableError: unknown, or not possible now (starting
            a running pass, pausing or cancelling none, resuming one not paused).
        """
        now = now_msec(self.manager.clock)
        paused = self.paused_until > now
        if name == "start":
            if self._running() or paused or self.start_now:
                raise WorkerVariableError("Cannot start scrub worker: already running!")
            self.start_now = True
        elif name == "pause":
            if not self._running() and not self.start_now:
                raise WorkerVariableError("Cannot pause scrub worker: not running!")
            self._set_paused(now + int(PAUSE_DURATION * 1000))
        elif name == "resume":
            if not paused:
                raise WorkerVariableError("Cannot resume scrub worker: not paused!")
            self._set_paused(0)
        elif name == "cancel":
            if not self._running() and not paused and not self.start_now:
                raise WorkerVariableError("Cannot cancel scrub worker: not running!")
            self.start_now = self.scanning = False
            self._set_paused(0)
            # The pass is over: the next one comes a full interval later.
            self.state = ScrubState(b"", now, 0, self.state.corruptions_found)
            self._save()
        else:
            raise WorkerVariableError(f"unknown scrub command {name!r}: one of "
                                      + ", ".join(COMMANDS))
        self.epoch += 1
        self.log.info("scrub: {command}", command=name)

    def _set_paused(self, until_ms: int) -> None:
        self.paused_until = until_ms
        self.tree.insert(PAUSED_KEY, codec.dumps(until_ms))

    def work(self, now_ms: int | None = None):
        return defer.ensureDeferred(self._guarded_work(now_ms))

    async def _guarded_work(self, now_ms):
        try:
            return await self._work(now_ms, self.epoch)
        finally:
            self.scanning = False

    async def _work(self, now_ms, epoch):
        manager = self.manager
        now = now_msec(manager.clock) if now_ms is None else now_ms
        cursor, last_end = self.state.cursor, self.state.last_pass_end_ms
        checked, corrupt = self.state.checked_this_pass, self.state.corruptions_found
        if self.paused_until > now:
            self.next_idle_delay = (self.paused_until - now) / 1000
            return WorkerState.IDLE
        if cursor == b"" and last_end and now - last_end < SCRUB_INTERVAL * 1000 \
                and not self.start_now:
            self.next_idle_delay = SCRUB_INTERVAL - (now - last_end) / 1000
            return WorkerState.IDLE
        self.start_now = False
        self.scanning = True
        corrupt_before = corrupt
        hashes = await manager.store.hashes_after(cursor, BLOCKS_PER_STEP)
        for hash_ in hashes:
            try:
                await manager.store.read_and_verify(hash_)
            except CorruptBlock as e:  # already renamed aside by the read
                corrupt += 1
                manager.corrupt_found(hash_, e, "scrub", now)
            except MissingBlock:
                pass  # deleted since it was listed
            checked += 1
            cursor = hash_
        if self.epoch != epoch:
            # A command came while this step read blocks: it decides where
            # the scrub stands; only the corruptions found are kept.
            found = self.state.corruptions_found + corrupt - corrupt_before
            self.state = replace(self.state, corruptions_found=found)
            self._save()
            return WorkerState.BUSY
        if len(hashes) < BLOCKS_PER_STEP:
            self.state = ScrubState(b"", now, 0, corrupt)
            self._save()
            self.log.info("scrub pass done: {count} blocks checked", count=checked)
            self.next_idle_delay = SCRUB_INTERVAL
            return WorkerState.IDLE
        self.state = ScrubState(cursor, last_end, checked, corrupt)
        self._save()
        return WorkerState.BUSY

    def status(self) -> dict:
        state = self.state
        return {"checked_this_pass": state.checked_this_pass,
                "corrupt_found": state.corruptions_found,
                "last_pass_end_ms": state.last_pass_end_ms or None,
                "position": state.cursor.hex()[:8] or "start"}
