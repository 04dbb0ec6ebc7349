"""Bring a metadata store that refused writes back, once its disk can take them.

After a failed write the LevelDB store refuses writes (see
:mod:`garage_twisted.db.leveldb`). This service waits for that, then every
:data:`PROBE_INTERVAL` seconds writes a probe file of :data:`PROBE_BYTES`
beside the database (in the I/O pool, fsynced, removed): when the file
system takes it, there is room for LevelDB to write its memtable out and
start a new log, and the store is reopened (which proves itself with a
synced probe write). Nothing is retried on a timer while the store is well.
"""

import os

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

PROBE_INTERVAL = 5.0
# Room for LevelDB's reopen: its memtable (``write_buffer_size``, 8 MiB)
# written out as a table, a new manifest and a new log.
PROBE_BYTES = 16 * 1024 * 1024
PROBE_NAME = ".write-probe"


def write_probe_file(directory: str, size: int = PROBE_BYTES) -> None:
    """Write ``size`` bytes to a file in ``directory``, fsync, remove it.

    Blocking: run it in a thread. :raises OSError: the disk refused.
    """
    path = os.path.join(directory, PROBE_NAME)
    chunk = b"\0" * (1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        left = size
        while left > 0:
            left -= os.write(fd, chunk[:min(left, len(chunk))])
        os.fsync(fd)
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class StoreRecovery(Service):
    """Reopen ``store`` once a probe file can be written again.

    :param store: the :class:`~garage_twisted.db.leveldb.LevelDBStore`.
    :param run_in_thread: ``run(f, *args) -> Deferred`` on the I/O pool.
    :param clock: an ``IReactorTime``.
    """

    log = Logger()
    name = "metadata recovery"

    def __init__(self, store, run_in_thread, clock, interval: float = PROBE_INTERVAL,
                 probe_bytes: int = PROBE_BYTES):
        self.store = store
        self.run_in_thread = run_in_thread
        self.clock = clock
        self.interval = interval
        self.probe_bytes = probe_bytes
        self._call = None
        self.attempts = 0

    def startService(self):
        super().startService()
        self.store.on_failure.append(self._failed)
        if self.store.failure is not None:
            self._schedule()

    def stopService(self):
        super().stopService()
        if self._failed in self.store.on_failure:
            self.store.on_failure.remove(self._failed)
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _failed(self, _cause) -> None:
        self._schedule()

    def _schedule(self) -> None:
        if self.running and (self._call is None or not self._call.active()):
            self._call = self.clock.callLater(self.interval, self._attempt)

    @defer.inlineCallbacks
    def _attempt(self):
        self._call = None
        if self.store.failure is None:
            return
        self.attempts += 1
        try:
            yield self.run_in_thread(write_probe_file, self.store.path, self.probe_bytes)
        except OSError as e:
            self.log.info("metadata store {path}: disk still refuses a probe file ({error})",
                          path=self.store.path, error=str(e))
        else:
            # Reopened on the reactor thread, between two requests.
            self.store.reopen()
        if self.store.failure is not None:
            self._schedule()
