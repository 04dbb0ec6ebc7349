"""``garage repair blocks``: make the block store agree with the reference
counts again, as Garage's block repair.

A one-off worker in two phases, a bounded batch per step:

1. every block this node has references to is queued for an immediate
   resync check (the resync worker fetches the ones missing here and
   skips the ones present);
2. every block file with no reference, and no deletion already planned, is
   planned for deletion after the usual delay (the deleter checks the
   count again before it deletes: a block referenced meanwhile stays).
"""

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.util import codec
from garage_twisted.util.time import now_msec
from garage_twisted.util.worker import IWorker, WorkerState

ROWS_PER_STEP = 1000
FILES_PER_STEP = 1000


@implementer(IWorker)
class BlockRepair:
    """One pass over the reference counts, then over the stored files.

    :param manager: the node's ``BlockManager``.
    """

    log = Logger()
    name = "block repair"

    def __init__(self, manager):
        self.manager = manager
        self.phase = "references"
        self.cursor = b""
        self.queued = 0
        self.orphans = 0

    def work(self):
        return defer.ensureDeferred(self._work())

    async def _work(self):
        manager = self.manager
        now = now_msec(manager.clock)
        if self.phase == "references":
            rows = list(manager.rc.range(self.cursor or None, limit=ROWS_PER_STEP))
            tx = manager.kv_store.transaction()
            for hash_, raw in rows:
                if codec.loads(raw)[0] > 0:
                    manager.queue_resync(tx, hash_, now, 0)
                    self.queued += 1
            tx.commit()
            if len(rows) == ROWS_PER_STEP:
                self.cursor = rows[-1][0] + b"\x00"
                return WorkerState.BUSY
            self.phase, self.cursor = "files", b""
            return WorkerState.BUSY
        hashes = await manager.store.hashes_after(self.cursor, FILES_PER_STEP)
        tx = manager.kv_store.transaction()
        found = 0
        for hash_ in hashes:
            if tx.get(manager.rc, hash_) is None:
                manager.delete_later(tx, hash_)
                found += 1
        tx.commit()
        if found:
            self.orphans += found
            for callback in manager.on_gc_todo:
                callback()
        if len(hashes) == FILES_PER_STEP:
            self.cursor = hashes[-1]
            return WorkerState.BUSY
        self.log.info("block repair done: {queued} referenced blocks checked, {orphans} "
                      "unreferenced files to delete", queued=self.queued, orphans=self.orphans)
        return WorkerState.DONE

    def status(self) -> dict:
        return {"phase": self.phase, "resyncs_queued": self.queued,
                "orphan_files": self.orphans}
