"""Copies of the metadata database taken while the node runs (``garage meta
snapshot``), as Garage's: one directory per copy under the snapshots
directory, named by its UTC time, the ``KEEP`` newest kept.

A copy is a LevelDB database holding every tree as it was at one instant
(a LevelDB snapshot), written by a thread of the pool while the node goes
on serving. It is written under a temporary name and renamed once
complete, so a directory named by a time is always a whole copy. To
restore, stop the node and put a copy in place of ``db.leveldb``.
"""

import os
import shutil

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.db.leveldb import write_copy
from garage_twisted.util.time import rfc3339_msec

KEEP = 2
TMP_SUFFIX = ".tmp"


class MetadataSnapshots:
    """Takes and prunes copies of a store.

    :param store: the node's ``IKeyValueStore``.
    :param directory: where the copies go (``metadata_snapshots_dir``).
    :param run_in_thread: ``f(callable, *args) -> Deferred`` (the I/O pool).
    :param clock: ``IReactorTime`` (names the copies).
    """

    log = Logger()

    def __init__(self, store, directory: str, run_in_thread, clock):
        self.store = store
        self.directory = directory
        self.run_in_thread = run_in_thread
        self.clock = clock
        self._lock = defer.DeferredLock()

    def create(self) -> defer.Deferred:
        """Take a copy now (one at a time). Deferred[path of the copy]."""
        return self._lock.run(lambda: defer.ensureDeferred(self._create()))

    async def _create(self) -> str:
        name = rfc3339_msec(int(self.clock.seconds() * 1000))
        path = os.path.join(self.directory, name)
        # The items are taken here, on the reactor thread: the copy is the
        # database as it is now, whatever the thread's pace.
        items = self.store.frozen_items()
        rows = await self.run_in_thread(self._write, items, path)
        self.log.info("metadata snapshot {path}: {rows} rows", path=path, rows=rows)
        await self.run_in_thread(self._prune)
        return path

    @staticmethod
    def _write(items, path: str) -> int:
        # Each copy holds every secret key: for the node's user alone.
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = path + TMP_SUFFIX
        shutil.rmtree(tmp, ignore_errors=True)  # a copy cut short by a crash
        rows = write_copy(items, tmp)
        os.rename(tmp, path)
        # The rename itself made durable: after a power cut, a name that is
        # a time is a whole copy.
        fd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return rows

    def _prune(self) -> None:
        """Keep the ``KEEP`` newest copies (names sort as their times), and
        drop copies a crash cut short."""
        names = os.listdir(self.directory)
        copies = sorted(name for name in names if not name.endswith(TMP_SUFFIX))
        stale = [name for name in names if name.endswith(TMP_SUFFIX)]
        for name in copies[:-KEEP] + stale:
            shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def list(self) -> list:
        """Paths of the complete copies, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        return [os.path.join(self.directory, name) for name in sorted(os.listdir(self.directory))
                if not name.endswith(TMP_SUFFIX)]
