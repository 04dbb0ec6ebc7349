"""Worker that delivers a table's insert queue through the replicated table.

Entries land in ``T:insert_queue`` inside the transaction of the update that
caused them (a schema's ``updated()`` hook). This worker inserts them in
batches with the table's normal quorum write and then removes each queued
entry, but only if it was not re-queued (merged with a newer value) while the
write was in flight.
"""

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.table.table import Table
from garage_twisted.util.worker import IWorker, WorkerState

BATCH_SIZE = 100


@implementer(IWorker)
class InsertQueueWorker:
    """Drains one table's insert queue.

    :param table: the :class:`Table` whose queue this is.
    """

    log = Logger()

    def __init__(self, table: Table):
        self.table = table
        self.name = f"{table.name} queue"

    @defer.inlineCallbacks
    def work(self):
        """Insert up to ``BATCH_SIZE`` queued entries."""
        queue = self.table.data.insert_queue
        items = list(queue.range(limit=BATCH_SIZE + 1))
        batch = items[:BATCH_SIZE]
        if not batch:
            return WorkerState.IDLE
        decode = self.table.schema.decode_entry
        yield self.table.insert_many([decode(raw) for _, raw in batch])
        tx = self.table.data.store.transaction()
        for key, raw in batch:
            if tx.get(queue, key) == raw:
                tx.remove(queue, key)
        tx.commit()
        return WorkerState.BUSY if len(items) > BATCH_SIZE else WorkerState.IDLE

    def status(self) -> dict:
        return {"queue_length": self.table.data.insert_queue.key_count.value}
