"""Scrub: re-read and re-hash every stored block, slowly, to find bit rot.

:class:`BlockScrubber` walks the data directory in hash order, a few blocks
per step with a pause between steps (so it takes a small share of the disk
and CPU), and verifies each block against its name. A corrupt block is
renamed aside (``.corrupted``, kept for inspection) and queued for an
immediate resync, which fetches a good copy from another node. A pass that
ends waits ``SCRUB_INTERVAL`` (30 days, as Garage's default tranquility
roughly gives) before the next; the cursor and the last pass's end are in
the store (``block:scrub``), so restarts resume where they stopped.
"""

from twisted.internet import defer
from twisted.logger import Logger

from garage_twisted.block.errors import CorruptBlock, MissingBlock
from garage_twisted.util import codec
from garage_twisted.util.time import now_msec
from garage_twisted.util.worker import WorkerState

SCRUB_INTERVAL = 30 * 24 * 3600.0
BLOCKS_PER_STEP = 4
STEP_PAUSE = 0.25
STATE_KEY = b"state"


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
        # [cursor (last hash checked, b"" at a pass start), last pass end ms,
        #  blocks checked this pass, corrupt found ever]
        self.state = codec.loads(raw) if raw else [b"", 0, 0, 0]

    def _save(self) -> None:
        self.tree.insert(STATE_KEY, codec.dumps(self.state))

    def work(self, now_ms: int | None = None):
        return defer.ensureDeferred(self._work(now_ms))

    async def _work(self, now_ms):
        manager = self.manager
        now = now_msec(manager.clock) if now_ms is None else now_ms
        cursor, last_end, checked, corrupt = self.state
        if cursor == b"" and last_end and now - last_end < SCRUB_INTERVAL * 1000:
            self.next_idle_delay = SCRUB_INTERVAL - (now - last_end) / 1000
            return WorkerState.IDLE
        hashes = await manager.store.hashes_after(bytes(cursor), BLOCKS_PER_STEP)
        for hash_ in hashes:
            try:
                await manager.store.read_and_verify(hash_)
            except CorruptBlock as e:
                corrupt += 1
                self.log.warn("scrub: block {hash} is corrupt ({error}): renamed aside, "
                              "fetching a good copy", hash=hash_.hex(), error=str(e))
                await manager.store.quarantine(hash_)
                manager.resync_now([hash_], now)
            except MissingBlock:
                pass  # deleted since it was listed
            checked += 1
            cursor = hash_
        if len(hashes) < BLOCKS_PER_STEP:
            self.state = [b"", now, 0, corrupt]
            self._save()
            self.log.info("scrub pass done: {count} blocks checked", count=checked)
            self.next_idle_delay = SCRUB_INTERVAL
            return WorkerState.IDLE
        self.state = [cursor, last_end, checked, corrupt]
        self._save()
        return WorkerState.BUSY

    def status(self) -> dict:
        cursor, last_end, checked, corrupt = self.state
        return {"checked_this_pass": checked, "corrupt_found": corrupt,
                "last_pass_end_ms": last_end or None,
                "position": bytes(cursor).hex()[:8] or "start"}
