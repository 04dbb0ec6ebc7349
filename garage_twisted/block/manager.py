"""Block manager: stores, serves and reference-counts content-addressed blocks.

Blocks are named by the BLAKE3-256 of their plain bytes and stored by the
local :class:`~garage_twisted.block.store.LocalBlockStore`. The reference
count of a block (how many live ``block_ref`` rows point to it) is kept in the
node's key-value store, tree ``block:rc`` (hash -> ``[count, delete_after_ms]``),
and changed inside the transaction that changes the ``block_ref`` row.

A block whose count drops to zero is deleted after ``BLOCK_GC_DELAY_MS``
(tree ``block:gc_todo``, key = deadline (8 bytes) + hash), not at once: an
upload of the same content may take a new reference in between, and the
delay also covers replicas that have not yet seen the new reference.

A block may be written before or after the ``block_ref`` row that takes its
reference (uploads send both at once). Writing and deleting a block hold the
block's lock, and a block written while nothing references it is given a
fresh ``BLOCK_GC_DELAY_MS`` before it may be deleted, so a deletion that
raced a new upload of the same content can never remove the file the upload
relies on: either the deleter runs first and the upload writes the file
again, or the deleter finds the delay renewed (by then the reference has
arrived). A block whose upload died before taking a reference is deleted
after the delay instead of staying forever.

Hashing, compression and file I/O run in the I/O thread pool, except small
blocks' file I/O, which goes to ``small_io`` (the block I/O process).

Every read of this node's copy of a block goes through :meth:`BlockManager.
get_local` (S3 reads, copies, peers' fetches, resync, hand-over) or, for
scrub, reports to :meth:`BlockManager.corrupt_found`. A copy whose bytes do
not match the block's hash has already been renamed aside by the read that
found it (the store does it in the thread or process that read it); the
manager logs it (error, with the hash) and queues a resync due now, which
fetches a good copy from another node. The read itself fails with
``CorruptBlock``, and the callers that can go elsewhere do: the replicator
tries the next node, and a peer asking this node gets ``CorruptBlock`` and
asks another.

A large block is compressed once, by the node that receives it from a
client (:meth:`BlockManager.name_and_pack`), and travels to the other nodes
in its stored form, as Garage does: they write it as it comes, without
trying to compress it again.
"""

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from garage_twisted.block.data import DataBlock, block_hash, compress, hash_matches
from garage_twisted.block.errors import CorruptBlock, MissingBlock
from garage_twisted.block.small_block_io import ThreadSmallBlockIO
from garage_twisted.block.store import CORRUPT_SUFFIX
from garage_twisted.util import codec
from garage_twisted.util.time import now_msec
from garage_twisted.util.worker import IntSetting, IWorker, WorkerState

BLOCK_GC_DELAY_MS = 10 * 60 * 1000
# A block a node starts referencing is checked this long after (the upload
# that took the reference is normally writing it meanwhile). Short, so that
# a node rebuilt by anti-entropy gets its blocks soon; a check that fires
# before a slow upload finished costs one extra transfer, never data.
RESYNC_DELAY_MS = 20 * 1000
RESYNC_BACKOFF_MAX_MS = 60 * 60 * 1000
RESYNC_BATCH = 20
# Garage's defaults: rest twice as long as each resync step took; one fetch
# at a time, up to MAX_RESYNC_WORKERS at once when an operator asks.
DEFAULT_RESYNC_TRANQUILITY = 2
MAX_RESYNC_WORKERS = 8
# Blocks up to this size have their file I/O done by ``small_io``.
SMALL_BLOCK = 64 * 1024
GC_BATCH = 100
# A block that could not be handed over to a node needing it is retried later.
GC_RETRY_MS = 60 * 1000


class BlockManager:
    """The node's blocks.

    :param store: the node's ``LocalBlockStore``.
    :param kv_store: the node's ``IKeyValueStore`` (for reference counts).
    :param run_in_thread: ``run(f, *args) -> Deferred`` on the I/O pool.
    :param clock: ``IReactorTime``.
    :param compression_level: zstd level, or ``None`` for no compression.
    :param small_io: ``ISmallBlockIO`` for blocks up to ``SMALL_BLOCK`` bytes
        (default: the thread pool).
    :param replicator_factory: ``(manager) -> BlockReplicator``, called once
        by the constructor, last: the blocks' placement over the cluster,
        built around this manager (it serves peers from this manager's
        store, and this manager sends blocks through it); ``None``: this node
        alone (unit tests).
    """

    log = Logger()

    def __init__(self, store, kv_store, run_in_thread, clock, compression_level=1,
                 small_io=None, replicator_factory=None):
        self.store = store
        self.kv_store = kv_store
        self.run_in_thread = run_in_thread
        self.small_io = small_io or ThreadSmallBlockIO(store, run_in_thread,
                                                       compression_level)
        self.clock = clock
        self.compression_level = compression_level
        self.rc = kv_store.open_tree("block:rc")
        # The queues keep running key counts (db/counts.py) for /metrics
        # and ListWorkers.
        self.gc_todo = kv_store.open_tree("block:gc_todo", counted=True)
        # Blocks to check (and fetch if missing): key = when (8 bytes) + hash,
        # value = attempts so far.
        self.resync = kv_store.open_tree("block:resync", counted=True)
        # Blocks whose last resync failed: hash -> [errors, last try ms,
        # next try ms, message] (``garage block list-errors``).
        self.resync_errors = kv_store.open_tree("block:resync_errors", counted=True)
        self.on_gc_todo = []
        # Called when a resync is queued due now (a corrupt copy was found).
        self.on_resync_due = []
        # Since start (``/metrics``): bytes stored (plain, or as received
        # for blocks that came already packed: a compressed one counts its
        # compressed size) and plain bytes served by this node's store,
        # and blocks deleted.
        self.counts = {"bytes_written": 0, "bytes_read": 0, "deleted": 0, "corrupt": 0}
        self._locks: dict[bytes, defer.DeferredLock] = {}
        # Last: the replicator is given a manager with every attribute set.
        self.replicator = None if replicator_factory is None else replicator_factory(self)

    def _lock(self, hash_: bytes) -> defer.DeferredLock:
        lock = self._locks.get(hash_)
        if lock is None:
            lock = self._locks[hash_] = defer.DeferredLock()
        return lock

    def _locked(self, hash_: bytes, f, *args) -> defer.Deferred:
        """``f(*args)`` under the block's lock (Deferred of its result).
        Plain callbacks, not a generator: every block write goes through."""
        lock = self._lock(hash_)

        def release(result):
            lock.release()
            if not lock.locked and not lock.waiting:
                self._locks.pop(hash_, None)
            return result

        return lock.acquire().addCallback(lambda _: f(*args)).addBoth(release)

    # -- data ------------------------------------------------------------

    def _compress_and_write(self, hash_: bytes, data: bytes, verify: bool = False) -> None:
        # One trip to the pool for all: check, compression and the file write.
        if verify and not hash_matches(data, hash_):
            raise CorruptBlock(f"block {hash_.hex()} does not match its hash")
        self.store.write_block_now(hash_, compress(data, self.compression_level))

    @defer.inlineCallbacks
    def put_block(self, data: bytes, known_hash: bytes | None = None):
        """Hash (unless ``known_hash`` is given) and store one block on the
        nodes that hold it (this node only, without a replicator).

        :returns: a Deferred firing with the block's hash.
        """
        small = len(data) <= SMALL_BLOCK
        hash_ = known_hash
        if hash_ is None:
            # A small block hashes in microseconds: not worth a thread trip.
            hash_ = block_hash(data) if small else (yield self.run_in_thread(block_hash, data))
        if self.replicator is not None and not self.replicator.only_local(hash_):
            yield self.replicator.put(hash_, data)
        else:
            yield self.put_local(hash_, data)
        return hash_

    def name_and_pack(self, data: bytes) -> tuple[bytes, DataBlock]:
        """Blocking (run it in the pool): a large block's name and the form
        it is stored in on every node (compressed if that pays)."""
        return block_hash(data), compress(data, self.compression_level)

    def put_packed(self, hash_: bytes, block: DataBlock) -> defer.Deferred:
        """Store a block already in its stored form (from
        :meth:`name_and_pack`) on the nodes that hold it."""
        if self.replicator is not None and not self.replicator.only_local(hash_):
            return self.replicator.put_packed(hash_, block)
        return self.write_packed(hash_, block)

    def write_packed(self, hash_: bytes, block: DataBlock) -> defer.Deferred:
        """Store a block in its stored form on this node, as it is."""
        self.counts["bytes_written"] += len(block.payload)
        return self._locked(hash_, self._write_and_hold, hash_, self.run_in_thread,
                            self.store.write_block_now, hash_, block)

    def put_local(self, hash_: bytes, data: bytes, verify: bool = False) -> defer.Deferred:
        """Compress and store a block (of known hash) on this node.

        :param verify: check ``data`` against ``hash_`` first (bytes from
            another node); errback ``CorruptBlock`` on a mismatch.
        """
        self.counts["bytes_written"] += len(data)
        if len(data) <= SMALL_BLOCK:
            # Hashing a small block takes microseconds: done here.
            if verify and not hash_matches(data, hash_):
                return defer.fail(CorruptBlock(f"block {hash_.hex()} does not match its hash"))
            return self._locked(hash_, self._write_and_hold, hash_, self.small_io.write,
                                hash_, data)
        return self._locked(hash_, self._write_and_hold, hash_, self.run_in_thread,
                            self._compress_and_write, hash_, data, verify)

    def _write_and_hold(self, hash_: bytes, write, *args) -> defer.Deferred:
        """Run ``write(*args)`` (under the block's lock), then give the block
        a fresh deletion delay if nothing references it yet."""
        d = defer.maybeDeferred(write, *args)

        def hold(result):
            tx = self.kv_store.transaction()
            count, _ = self._read_rc(tx, hash_)
            if count == 0:
                self.delete_later(tx, hash_)
                tx.commit()
            else:
                tx.abort()
            return result
        return d.addCallback(hold)

    def get_block(self, hash_: bytes, size: int | None = None, then=None) -> defer.Deferred:
        """Read, decompress and verify one block, from this node or, with a
        replicator, from the other nodes that hold it.

        :param size: the block's size if known (small blocks go to the
            ``small_io`` reader).
        :param then: ``then(plain bytes) -> result``, or ``None``: applied
            to the verified bytes (SSE decryption). For a large block it
            runs in the pool, in the same thread trip as the read and hash
            check where it can: a second trip per MiB costs a GET stream
            its pace. Its exceptions fail the Deferred as they are.
        :returns: a Deferred firing with the plain bytes (or ``then``'s result).
        """
        if self.replicator is None:
            return self.get_local(hash_, size, then)
        if not self.replicator.only_local(hash_):
            return self.replicator.get(hash_, size, then)
        # This node alone should hold it, but a node that has just been
        # given the block's partition (a single node joined by another)
        # fetches it from the nodes that held it before: the replicator
        # falls back to them.
        return self.get_local(hash_, size, then).addErrback(
            self._get_elsewhere, hash_, size, then)

    def _get_elsewhere(self, failure, hash_: bytes, size: int | None, then=None):
        # A corrupt copy is set aside and counts as missing: another node
        # may hold a good one.
        failure.trap(MissingBlock, CorruptBlock)
        return self.replicator.get(hash_, size, then)

    def get_local(self, hash_: bytes, size: int | None = None, then=None) -> defer.Deferred:
        """Read a block from this node's store.

        :param then: as :meth:`get_block`.
        :returns: a Deferred firing with the plain bytes; errback
            ``MissingBlock`` if absent, ``CorruptBlock`` if this node's copy
            is corrupt (then renamed aside, logged and queued for resync).
        """
        if then is not None and (size is None or size > SMALL_BLOCK):
            d = self.store.read_and_verify(hash_, then)
        else:
            d = self.apply_then(self._read_local(hash_, size), then)

        def counted(data):
            self.counts["bytes_read"] += len(data)
            return data

        def corrupt(failure):
            if failure.check(CorruptBlock):
                self.corrupt_found(hash_, failure.value, "read")
            return failure
        return d.addCallbacks(counted, corrupt)

    def corrupt_found(self, hash_: bytes, error, found_by: str,
                      now_ms: int | None = None) -> None:
        """This node's copy of ``hash_`` was found corrupt by ``found_by``
        (a read, the scrub) and renamed aside: log it and queue a resync due
        now, which fetches a good copy from another node."""
        now = now_msec(self.clock) if now_ms is None else now_ms
        self.counts["corrupt"] += 1
        self.log.error("block {hash} is corrupt on this node, found by {found_by} ({error}): "
                       "set aside with suffix {suffix}, resync queued",
                       hash=hash_.hex(), found_by=found_by, error=str(error),
                       suffix=CORRUPT_SUFFIX)
        try:
            tx = self.kv_store.transaction()
            self.queue_resync(tx, hash_, now, 0)
            tx.commit()
        except Exception as e:  # the read still fails as corrupt; scrub finds it later
            self.log.error("block {hash}: resync not queued: {error}", hash=hash_.hex(),
                           error=str(e))
            return
        for callback in self.on_resync_due:
            callback()

    def apply_then(self, d: defer.Deferred, then) -> defer.Deferred:
        """``d``'s bytes passed through ``then`` (see :meth:`get_block`):
        on the reactor thread for a small block, in the pool otherwise."""
        if then is None:
            return d

        def apply(data):
            if len(data) <= SMALL_BLOCK:
                return then(data)
            return self.run_in_thread(then, data)
        return d.addCallback(apply)

    def _read_local(self, hash_: bytes, size: int | None) -> defer.Deferred:
        if size is not None and size <= SMALL_BLOCK:
            return self.small_io.read(hash_)
        return self.store.read_and_verify(hash_)

    # -- reference counting (inside the caller's transaction) -----------

    def _read_rc(self, tx, hash_):
        raw = tx.get(self.rc, hash_)
        return (0, 0) if raw is None else tuple(codec.loads(raw))

    def incref(self, tx, hash_: bytes) -> None:
        count, _ = self._read_rc(tx, hash_)
        tx.insert(self.rc, hash_, codec.dumps([count + 1, 0]))
        if count == 0:
            # A block this node must now hold: check it arrived after a delay
            # that leaves the upload which took the reference time to write
            # it (the resync worker fetches it from a replica otherwise).
            self.queue_resync(tx, hash_, now_msec(self.clock) + RESYNC_DELAY_MS, 0)

    def queue_resync(self, tx, hash_: bytes, when_ms: int, attempts: int) -> bytes:
        """Queue a check of ``hash_`` at ``when_ms``; returns the entry's key."""
        key = when_ms.to_bytes(8, "big") + hash_
        tx.insert(self.resync, key, codec.dumps(attempts))
        return key

    def decref(self, tx, hash_: bytes) -> None:
        count, _ = self._read_rc(tx, hash_)
        if count <= 1:
            self.delete_later(tx, hash_)
            for callback in self.on_gc_todo:
                callback()
        else:
            tx.insert(self.rc, hash_, codec.dumps([count - 1, 0]))

    def delete_later(self, tx, hash_: bytes) -> None:
        """Count zero: the block may be deleted ``BLOCK_GC_DELAY_MS`` from
        now, unless a reference is taken meanwhile."""
        deadline = now_msec(self.clock) + BLOCK_GC_DELAY_MS
        tx.insert(self.rc, hash_, codec.dumps([0, deadline]))
        tx.insert(self.gc_todo, deadline.to_bytes(8, "big") + hash_, b"")

    def resync_now(self, hashes=None, now_ms: int | None = None) -> int:
        """Make queued resyncs due now: all of them (``hashes`` is None) or
        those of ``hashes`` (queued if absent). Returns how many."""
        now = now_msec(self.clock) if now_ms is None else now_ms
        wanted = None if hashes is None else set(hashes)
        found, moved = set(), 0
        tx = self.kv_store.transaction()
        for key, value in list(self.resync.range()):
            hash_ = key[8:]
            if wanted is not None and hash_ not in wanted:
                continue
            found.add(hash_)
            if int.from_bytes(key[:8], "big") > now:
                tx.remove(self.resync, key)
                tx.insert(self.resync, now.to_bytes(8, "big") + hash_, value)
            moved += 1
        for hash_ in (wanted or set()) - found:
            self.queue_resync(tx, hash_, now, 0)
            moved += 1
        tx.commit()
        return moved

    def list_resync_errors(self) -> list:
        """``[(hash, errors, last try ms, next try ms, message)]``."""
        return [(hash_, *codec.loads(raw)) for hash_, raw in self.resync_errors.range()]

    def refcount(self, hash_: bytes) -> int:
        raw = self.rc.get(hash_)
        return 0 if raw is None else codec.loads(raw)[0]

    def delete_if_unused(self, hash_: bytes, now_ms: int) -> defer.Deferred:
        """Delete a block whose count is zero and whose delay has passed.

        :returns: a Deferred firing with ``True`` if the block was deleted.
        """
        return self._locked(hash_, self._delete_if_unused, hash_, now_ms)

    @defer.inlineCallbacks
    def _delete_if_unused(self, hash_, now_ms):
        raw = self.rc.get(hash_)
        if raw is None:
            return False
        count, deadline = codec.loads(raw)
        if count != 0 or deadline > now_ms:
            return False
        if self.replicator is not None and (yield self.store.has_block(hash_)):
            # The block's other nodes get this copy first if they need it
            # (raises, and the block stays, if one cannot be asked).
            yield defer.ensureDeferred(self.replicator.hand_over(hash_))
        yield self.store.delete_block(hash_)
        self.counts["deleted"] += 1
        # Uploads take their reference outside the lock: only drop the
        # counter if nobody did so during the deletion.
        if self.rc.get(hash_) == raw:
            self.rc.remove(hash_)
        return True


@implementer(IWorker)
class BlockDeleter:
    """Worker deleting blocks whose reference count stayed zero past the delay."""

    log = Logger()
    name = "block deleter"

    def __init__(self, manager: BlockManager):
        self.manager = manager
        self.errors = 0
        self.last_error = None

    @defer.inlineCallbacks
    def work(self, now_ms: int | None = None):
        manager = self.manager
        now = now_msec(manager.clock) if now_ms is None else now_ms
        due = []
        for key, _ in manager.gc_todo.range(limit=GC_BATCH):
            if int.from_bytes(key[:8], "big") > now:
                break
            due.append(key)
        if not due:
            return WorkerState.IDLE
        for key in due:
            hash_ = key[8:]
            try:
                deleted = yield manager.delete_if_unused(hash_, now)
            except Exception as e:  # kept, and tried again later
                self.errors += 1
                self.last_error = f"{hash_.hex()[:16]}: {e}"
                self.log.info("block {hash} kept for now: {error}", hash=hash_.hex()[:16],
                              error=str(e))
                tx = manager.kv_store.transaction()
                tx.remove(manager.gc_todo, key)
                tx.insert(manager.gc_todo, (now + GC_RETRY_MS).to_bytes(8, "big") + hash_, b"")
                tx.commit()
                continue
            if deleted:
                self.log.debug("deleted block {hash}", hash=hash_.hex())
            manager.gc_todo.remove(key)
        return WorkerState.BUSY

    def status(self) -> dict:
        return {"gc_todo_length": self.manager.gc_todo.key_count.value, "errors": self.errors,
                "last_error": self.last_error}


@implementer(IWorker)
class BlockResyncer:
    """Worker fetching blocks this node references but does not hold.

    Entries come from :meth:`BlockManager.incref` (a block this node must
    now hold, checked after ``RESYNC_DELAY_MS``). A due entry whose block is
    referenced and missing is fetched from the other nodes that hold it
    (through the replicator) and stored; a failure is retried with
    exponential backoff (1 min doubling up to ``RESYNC_BACKOFF_MAX_MS``) and
    counted in :meth:`status`. The queue is in the store, so a restart
    forgets nothing.

    Variables (``garage worker get/set``, kept in ``block:resync_settings``):
    ``resync-tranquility`` (the runner rests that many times a step's
    duration after it) and ``resync-worker-count`` (blocks fetched at once).
    """

    log = Logger()
    name = "block resync"

    def __init__(self, manager: BlockManager):
        self.manager = manager
        self.fetched = 0
        self.errors = 0
        self.last_error = None
        settings = manager.kv_store.open_tree("block:resync_settings")
        self.tranquility_setting = IntSetting(settings, b"tranquility",
                                              DEFAULT_RESYNC_TRANQUILITY)
        self.worker_count = IntSetting(settings, b"worker_count", 1, 1, MAX_RESYNC_WORKERS)
        self.variables = {"resync-tranquility": self.tranquility_setting.variable(),
                          "resync-worker-count": self.worker_count.variable()}

    @property
    def tranquility(self) -> int:
        return self.tranquility_setting.value

    def work(self, now_ms: int | None = None):
        return defer.ensureDeferred(self._work(now_ms))

    async def _work(self, now_ms):
        manager = self.manager
        now = now_msec(manager.clock) if now_ms is None else now_ms
        due = []
        for key, value in manager.resync.range(limit=RESYNC_BATCH):
            if int.from_bytes(key[:8], "big") > now:
                break
            due.append((key, codec.loads(value)))
        if not due:
            return WorkerState.IDLE
        # One fetch per block at a time: a block queued twice (a repair, a
        # scrub) is checked once; its other entries are dropped.
        seen, unique = set(), []
        for key, attempts in due:
            if key[8:] in seen:
                manager.resync.remove(key)
            else:
                seen.add(key[8:])
                unique.append((key, attempts))
        count = self.worker_count.value
        for start in range(0, len(unique), count):
            await defer.gatherResults(
                [defer.ensureDeferred(self._resync(key, attempts, now))
                 for key, attempts in unique[start:start + count]], consumeErrors=True)
        return WorkerState.BUSY

    async def _resync(self, key: bytes, attempts: int, now: int) -> None:
        """Fetch one queued block (its queue entry is ``key``) if still needed.

        The entry first moves to its retry time, in one transaction and
        before anything is awaited, so a crash or a shutdown during the
        fetch leaves the block queued, and a step running meanwhile does not
        see it due again; the retry entry goes once the block is here or no
        longer needed.
        """
        manager = self.manager
        hash_ = key[8:]
        when = now + min(RESYNC_BACKOFF_MAX_MS, 60_000 * 2 ** min(attempts, 16))
        tx = manager.kv_store.transaction()
        tx.remove(manager.resync, key)
        retry = manager.queue_resync(tx, hash_, when, attempts + 1)
        tx.commit()
        try:
            if manager.refcount(hash_) > 0 and not (await manager.store.has_block(hash_)):
                data = await manager.get_block(hash_)
                await manager.put_local(hash_, data)
                self.fetched += 1
        except Exception as e:  # the retry entry stays: tried again after the backoff
            self.errors += 1
            self.last_error = f"{hash_.hex()[:16]}: {e}"
            manager.resync_errors.insert(
                hash_, codec.dumps([attempts + 1, now, when, str(e)[:500]]))
            return
        tx = manager.kv_store.transaction()
        tx.remove(manager.resync, retry)
        tx.remove(manager.resync_errors, hash_)
        tx.commit()

    def status(self) -> dict:
        return {"queue_length": self.manager.resync.key_count.value, "fetched": self.fetched,
                "errors": self.errors,
                "blocks_with_errors": self.manager.resync_errors.key_count.value,
                "last_error": self.last_error}
