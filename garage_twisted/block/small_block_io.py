"""Where small blocks' file I/O runs: the block I/O process, or a thread.

:class:`ISmallBlockIO` reads and writes whole small blocks (at most
``SMALL_BLOCK`` bytes). Two implementations:

- :class:`BlockIOProcess` (the node's): requests go over a pipe to the
  child process of :mod:`garage_twisted.block.io_child`, which runs on the
  other core; see that module for why.
- :class:`ThreadSmallBlockIO`: the same operations in the I/O thread pool
  (tests, and the fallback while the process is not running).

The process runs only while the node has small blocks to read or write:
it is started by the first request (an idle node does not pay its ~13 MB),
and asked to exit after ``CHILD_IDLE_SECONDS`` without a request. Requests
that arrive before it has announced itself ready (a Python start takes tens
of milliseconds) go to the thread pool, so none waits for the start. Both
write a block as a uniquely named temporary file renamed over the final
name, so a block written by both at once is still whole.

Invariants of :class:`BlockIOProcess`: every request gets exactly one
outcome (its answer, or a ``BlockError`` if the process died first); a dead
or retired process is started again by a later request, not sooner than
``RESTART_DELAY`` after one that died before it was ready; stopping closes
every child's input and waits for each to exit, so no process outlives the
service.
"""

import itertools
import os
import sys

from twisted.application.service import Service
from twisted.internet import defer, error
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from zope.interface import Interface, implementer

import garage_twisted
from garage_twisted.block import io_child as wire
from garage_twisted.block.data import compress
from garage_twisted.block.errors import (
    BlockError, BlockWriteRefused, CorruptBlock, MissingBlock)


class ISmallBlockIO(Interface):
    def read(hash_: bytes):
        """Deferred[bytes]: the block's plain, hash-checked bytes.

        Errback ``MissingBlock``, or ``CorruptBlock`` once the corrupt file
        has been renamed aside (by whatever did the read).
        """

    def write(hash_: bytes, data: bytes):
        """Deferred[bool]: compress and store the block; ``True`` if written."""


@implementer(ISmallBlockIO)
class ThreadSmallBlockIO:
    """Small-block I/O in the thread pool.

    :param store: the node's ``LocalBlockStore``.
    :param run_in_thread: ``run(f, *args) -> Deferred``.
    """

    def __init__(self, store, run_in_thread, compression_level):
        self.store = store
        self.run_in_thread = run_in_thread
        self.compression_level = compression_level

    def read(self, hash_):
        return self.run_in_thread(self.store.read_and_verify_now, hash_)

    def write(self, hash_, data):
        return self.run_in_thread(self._write, hash_, data)

    def _write(self, hash_, data):
        return self.store.write_block_now(hash_, compress(data, self.compression_level))


# The directory holding the garage_twisted package the node runs.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(garage_twisted.__file__)))

# A child that answered nothing for this long is asked to exit.
CHILD_IDLE_SECONDS = 60.0
# After a child died before it was ready (it cannot start: a broken
# installation, no memory), requests use the thread pool this long before
# another start is tried, not one start per request.
RESTART_DELAY = 10.0

_STATUS_ERRORS = {wire.MISSING: MissingBlock, wire.CORRUPT: CorruptBlock,
                  wire.REFUSED: BlockWriteRefused, wire.ERROR: BlockError}


class _ChildProtocol(ProcessProtocol):
    """The node's end of one block I/O process."""

    log = Logger()

    def __init__(self, owner: "BlockIOProcess"):
        self.owner = owner
        self.reader = wire.FrameReader()
        self.pending: dict[int, tuple[defer.Deferred, int]] = {}
        self.ended = defer.Deferred()
        self.alive = True
        # Set by the child's READY frame; requests go to it only then.
        self.ready = False
        self.became_ready = defer.Deferred()
        # Requests sent, read by the idle check.
        self.uses = 0

    def send(self, request_id: int, kind: int, payload: bytes, d: defer.Deferred):
        self.uses += 1
        self.pending[request_id] = (d, kind)
        self.transport.write(wire.encode_frame(request_id, kind, payload))

    def outReceived(self, data: bytes):
        try:
            frames = self.reader.feed(data)
        except ValueError as e:
            self.log.error("block I/O process sent a bad frame: {error}", error=str(e))
            self.transport.signalProcess("KILL")
            return
        for request_id, status, payload in frames:
            if request_id == wire.READY_ID:
                if not self.ready:
                    self.ready = True
                    self.owner._child_ready(self)
                    self.became_ready.callback(None)
                continue
            entry = self.pending.pop(request_id, None)
            if entry is None:
                self.log.error("block I/O process answered unknown request {id}",
                               id=request_id)
                continue
            d, kind = entry
            if status == wire.OK:
                d.callback(payload == b"\x01" if kind == wire.OP_WRITE else payload)
            else:
                error_class = _STATUS_ERRORS.get(status, BlockError)
                d.errback(error_class(payload.decode("utf-8", "replace")))

    def errReceived(self, data: bytes):
        self.log.error("block I/O process: {output}",
                       output=data.decode("utf-8", "replace").rstrip())

    def processEnded(self, reason):
        self.alive = False
        pending, self.pending = self.pending, {}
        if pending or not reason.check(error.ProcessDone):
            self.log.error("block I/O process exited ({reason}) with {n} requests pending",
                           reason=reason.getErrorMessage(), n=len(pending))
        for d, _ in pending.values():
            d.errback(BlockError("the block I/O process exited before answering"))
        self.owner._child_ended(self)
        self.ended.callback(None)


@implementer(ISmallBlockIO)
class BlockIOProcess(Service):
    """Runs :mod:`garage_twisted.block.io_child` while the node has work for it.

    :param reactor: ``IReactorProcess`` and ``IReactorTime``.
    :param data_dir: the data directory the child writes to.
    :param fallback: an :class:`ISmallBlockIO` (the thread pool) used while
        no child is ready, and before start and after stop.
    """

    log = Logger()

    def __init__(self, reactor, data_dir: str, compression_level, fsync: bool,
                 fallback: ISmallBlockIO):
        self.reactor = reactor
        self.data_dir = data_dir
        self.compression_level = compression_level
        self.fsync = fsync
        self.fallback = fallback
        # The child requests go to once it is ready (None: none started).
        self._child: _ChildProtocol | None = None
        # Every child still running, the retired ones exiting included.
        self._running: set[_ChildProtocol] = set()
        self._ids = itertools.count(0)
        self._idle_check = None
        self._uses_at_check = 0
        self._no_start_before = 0.0

    def _spawn(self) -> _ChildProtocol:
        child = _ChildProtocol(self)
        level = "none" if self.compression_level is None else str(self.compression_level)
        # The child must run this very code, not a copy that happens to sit
        # in its working directory: -P keeps the working directory off
        # sys.path, and PYTHONPATH starts with the directory this package
        # was imported from.
        argv = [sys.executable, "-P", "-m", "garage_twisted.block.io_child",
                self.data_dir, level, "1" if self.fsync else "0"]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [PACKAGE_ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.reactor.spawnProcess(child, sys.executable, argv, env=env,
                                  childFDs={0: "w", 1: "r", 2: "r"})
        self._running.add(child)
        self.log.info("block I/O process started (pid {pid})", pid=child.transport.pid)
        return child

    def stopService(self):
        super().stopService()
        self._cancel_idle_check()
        self._child = None
        waits = []
        for child in list(self._running):
            # End of input: the child answers what it has read, then exits.
            child.transport.closeStdin()
            waits.append(child.ended)
        return defer.DeferredList(waits)

    def _child_ready(self, child: _ChildProtocol) -> None:
        if child is self._child and self.running and self._idle_check is None:
            self._uses_at_check = child.uses
            self._idle_check = self.reactor.callLater(CHILD_IDLE_SECONDS, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_check = None
        child = self._child
        if child is None:
            return
        if child.uses != self._uses_at_check or child.pending:
            self._uses_at_check = child.uses
            self._idle_check = self.reactor.callLater(CHILD_IDLE_SECONDS, self._check_idle)
            return
        # Retired: nothing is pending, and the next request starts another.
        self.log.info("block I/O process idle for {seconds:.0f} s, stopping it",
                      seconds=CHILD_IDLE_SECONDS)
        self._child = None
        child.transport.closeStdin()

    def _cancel_idle_check(self) -> None:
        if self._idle_check is not None:
            if self._idle_check.active():
                self._idle_check.cancel()
            self._idle_check = None

    def _child_ended(self, child: _ChildProtocol) -> None:
        self._running.discard(child)
        if self._child is child:
            self._child = None
            self._cancel_idle_check()
            if not child.ready:
                self._no_start_before = self.reactor.seconds() + RESTART_DELAY

    def _request(self, kind: int, payload: bytes) -> defer.Deferred | None:
        """Send a request to the ready child; ``None``: use the fallback."""
        child = self._child
        if child is None or not child.ready:
            if (child is None and self.running
                    and self.reactor.seconds() >= self._no_start_before):
                self._child = self._spawn()
            return None
        d = defer.Deferred()
        # Ids run from 1 to 2**32 - 1 and wrap, far beyond the requests ever
        # in flight; 0 is the child's READY frame.
        child.send(next(self._ids) % 0xFFFFFFFF + 1, kind, payload, d)
        return d

    def read(self, hash_: bytes):
        d = self._request(wire.OP_READ, hash_)
        return self.fallback.read(hash_) if d is None else d

    def write(self, hash_: bytes, data: bytes):
        d = self._request(wire.OP_WRITE, hash_ + data)
        return self.fallback.write(hash_, data) if d is None else d
