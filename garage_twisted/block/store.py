"""The node's blocks on disk: ``data_dir/aa/bb/<hash hex>[.zst]``.

``aa`` and ``bb`` are the first two bytes of the hash in hex (Garage's
layout), which keeps directories small. A block is written to a temporary
file in its final directory, optionally fsynced, then renamed: a crash never
leaves a half-written block under its final name, and stale ``.tmp`` files are
removed at start. Every method does its file I/O in the I/O thread pool and
returns a Deferred.

A verified read (:meth:`LocalBlockStore.read_and_verify_now`, which every
read of a block for its bytes goes through: S3 reads, peers' fetches, the
block I/O process, resync, scrub) that finds a file whose bytes are not the
block renames that file aside (``CORRUPT_SUFFIX``) where it runs (a pool
thread or the block I/O process) before it raises ``CorruptBlock``: the
block then counts as missing here, so writes and resyncs store a good copy
instead of deduplicating against the bad one. Logging it and queueing the
resync are the block manager's part.

Large blocks are written with ``O_DIRECT`` (as MinIO writes large objects):
the kernel sends them to the disk from our buffer instead of first copying
them into the page cache. That copy was a quarter of a node's CPU time on a
large upload, and on a virtual machine whose page cache grows into memory it
never touched it costs as much as hashing. Such blocks are read with
``O_DIRECT`` too, so they never go through the page cache; small and
compressed blocks are written and read buffered, and stay cached. A file system
that refuses ``O_DIRECT`` (tmpfs, some FUSE) gets buffered writes instead,
decided once per store.
"""

import errno
import fcntl
import itertools
import mmap
import os
import threading

from garage_twisted.block.data import DataBlock, Pieces
from garage_twisted.block.errors import BlockWriteRefused, CorruptBlock, MissingBlock

COMPRESSED_SUFFIX = ".zst"
TMP_MARK = ".tmp"
CORRUPT_SUFFIX = ".corrupted"

# O_DIRECT needs the buffer, the length and the file offset aligned to the
# device's logical block size; 4 KiB covers every current disk. Stored forms
# whose size is not a multiple (compressed blocks, last blocks) are written
# buffered, and so are small ones, for which the page cache copy is cheap.
DIRECT_ALIGN = 4096
DIRECT_MIN = 256 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)

_local = threading.local()


def _aligned_buffer(size: int) -> mmap.mmap:
    """This thread's page-aligned buffer of at least ``size`` bytes.

    One per pool thread, reused: a fresh buffer per block would fault its
    pages in again on every write.
    """
    buffer = getattr(_local, "direct_buffer", None)
    if buffer is None or len(buffer) < size:
        if buffer is not None:
            buffer.close()
        buffer = _local.direct_buffer = mmap.mmap(-1, size)
    return buffer


class LocalBlockStore:
    """Block files of one data directory.

    :param data_dir: root directory of the blocks.
    :param run_in_thread: ``run(f, *args) -> Deferred`` on the I/O pool.
    :param fsync: fsync files and directories after each write.
    """

    def __init__(self, data_dir: str, run_in_thread, fsync: bool = False):
        self.data_dir = data_dir
        self.run_in_thread = run_in_thread
        self.fsync = fsync
        # Directories known to exist: saves a makedirs (several system
        # calls) per write. Only grows; a directory is never removed.
        self._known_dirs: set[str] = set()
        self._tmp_names = itertools.count()
        # Cleared the first time the file system refuses O_DIRECT.
        self.direct_io = bool(_O_DIRECT)
        self.direct_writes = 0

    def block_dir(self, hash_: bytes) -> str:
        hex_ = hash_.hex()
        return os.path.join(self.data_dir, hex_[0:2], hex_[2:4])

    def block_path(self, hash_: bytes, compressed: bool) -> str:
        name = hash_.hex() + (COMPRESSED_SUFFIX if compressed else "")
        return os.path.join(self.block_dir(hash_), name)

    # -- blocking implementations (run in the thread pool) -------------

    def _find(self, hash_: bytes):
        for compressed in (True, False):
            path = self.block_path(hash_, compressed)
            if os.path.exists(path):
                return path, compressed
        return None, None

    def write_block_now(self, hash_: bytes, block: DataBlock) -> bool:
        """Blocking :meth:`write_block`, for callers already in the pool."""
        return self._write(hash_, block)

    def _write(self, hash_: bytes, block: DataBlock) -> bool:
        final = self.block_path(hash_, block.compressed)
        # Dedup on the form about to be written; the other form of the same
        # block (compressed vs plain) would only be a wasted copy, removed
        # with the block.
        if os.path.exists(final):
            return False
        directory = self.block_dir(hash_)
        tmp = f"{final}{TMP_MARK}{os.getpid()}.{next(self._tmp_names)}"
        payload = block.payload
        size = len(payload)
        parts = payload.parts if isinstance(payload, Pieces) else (payload,)
        try:
            if directory not in self._known_dirs:
                # Inside the try: a full disk here is a refusal (503) too.
                os.makedirs(directory, exist_ok=True)
                self._known_dirs.add(directory)
            if not (self.direct_io and size >= DIRECT_MIN and size % DIRECT_ALIGN == 0
                    and self._write_direct(tmp, parts, size)):
                with open(tmp, "wb") as f:
                    f.writelines(parts)
                    if self.fsync:
                        f.flush()
                        os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException as e:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if isinstance(e, OSError):
                # ENOSPC, EDQUOT, EIO...: the caller answers 503 (a replica's
                # refusal counts against its quorum); nothing is at ``final``.
                raise BlockWriteRefused(
                    f"data disk refused block {hash_.hex()[:16]}: {e.strerror or e}") from e
            raise
        if self.fsync:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return True

    def _write_direct(self, tmp: str, parts, size: int) -> bool:
        """Write ``parts`` (buffers, ``size`` bytes in all) to the new file
        ``tmp`` with O_DIRECT.

        :returns: False (and nothing left at ``tmp``) if the file system
            refuses O_DIRECT; the store then writes buffered from now on.
        """
        buffer = _aligned_buffer(size)
        offset = 0
        for part in parts:
            end = offset + len(part)
            buffer[offset:end] = part
            offset = end
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | _O_DIRECT,
                         0o666)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            return self._refuse_direct(e)
        try:
            with memoryview(buffer) as view:
                written = 0
                while written < size:
                    # A short write leaves an aligned offset in practice; if
                    # not, the next write fails with EINVAL and we fall back.
                    written += os.write(fd, view[written:size])
            if self.fsync:
                os.fsync(fd)
        except OSError as e:
            os.close(fd)
            if e.errno != errno.EINVAL:
                raise
            os.unlink(tmp)
            return self._refuse_direct(e)
        os.close(fd)
        self.direct_writes += 1
        return True

    def _refuse_direct(self, error) -> bool:
        # Imported here: the block I/O process imports this module, and
        # twisted.logger would cost it ~15 MB for this one rare message.
        from twisted.logger import Logger

        self.direct_io = False
        Logger(namespace=__name__).info("block store {data_dir}: O_DIRECT refused ({error}); writing buffered",
                      data_dir=self.data_dir, error=str(error))
        return False

    def _read(self, hash_: bytes) -> DataBlock:
        return self._read_located(hash_)[0]

    def _read_located(self, hash_: bytes) -> tuple[DataBlock, str, tuple]:
        """The block as stored, the path it was read from, and that file's
        identity ``(st_dev, st_ino)``."""
        # Opening is the existence check: one system call when it succeeds.
        for compressed in (False, True):
            path = self.block_path(hash_, compressed)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                stat = os.fstat(fd)
                return (DataBlock(compressed, self._read_file(fd, stat.st_size)), path,
                        (stat.st_dev, stat.st_ino))
            finally:
                os.close(fd)
        raise MissingBlock(f"block {hash_.hex()} is not stored here")

    def _read_file(self, fd: int, size: int) -> bytes:
        """The whole file: with O_DIRECT if it is large and aligned.

        Blocks written with O_DIRECT are not in the page cache; reading them
        buffered would fill it with pages nobody reads again soon (a large
        object is rarely re-read at once), at the cost of the copy the write
        avoided. Small and compressed blocks stay buffered, and cached.
        """
        if self.direct_io and size >= DIRECT_MIN and size % DIRECT_ALIGN == 0:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            try:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self._refuse_direct(e)
            else:
                buffer = _aligned_buffer(size)
                with memoryview(buffer) as view:
                    done = 0
                    while done < size:
                        count = os.preadv(fd, [view[done:size]], done)
                        if count == 0:  # truncated under us: read what is there
                            break
                        done += count
                    return bytes(view[:done])
        chunks = []
        while True:
            chunk = os.read(fd, max(size, 65536))
            if not chunk:
                return b"".join(chunks) if len(chunks) != 1 else chunks[0]
            chunks.append(chunk)

    def read_and_verify_now(self, hash_: bytes) -> bytes:
        """Blocking :meth:`read_and_verify`, for callers already in the pool
        (or in the block I/O process).

        :raises CorruptBlock: the file read does not hold the block; it has
            been renamed aside (see :meth:`_quarantine`).
        """
        block, path, identity = self._read_located(hash_)
        try:
            return block.verify(hash_)
        except CorruptBlock as e:
            moved = self._quarantine(path, identity)
            raise CorruptBlock(f"{e} ({os.path.basename(path)} "
                               f"{'renamed aside' if moved else 'already set aside'})") from None

    def _delete(self, hash_: bytes) -> bool:
        deleted = False
        for compressed in (True, False):
            try:
                os.unlink(self.block_path(hash_, compressed))
                deleted = True
            except FileNotFoundError:
                pass
        return deleted

    def _quarantine(self, path: str, identity: tuple) -> bool:
        """Rename the corrupt block file at ``path`` to ``path +
        CORRUPT_SUFFIX`` (kept for inspection; an older one there is
        replaced), unless the file now at ``path`` is no longer the one read
        (``identity``): another read set it aside first, and a good copy
        may have been fetched since. True if renamed. This narrows the race
        with a concurrent resync to the microseconds between the check and
        the rename, it does not close it: a good copy renamed aside then is
        fetched again by the resync the read queued."""
        try:
            current = os.stat(path)
        except FileNotFoundError:
            return False
        if (current.st_dev, current.st_ino) != identity:
            return False
        os.replace(path, path + CORRUPT_SUFFIX)
        return True

    def iter_block_hashes(self):
        """Hashes of every block on disk (blocking: call from a thread)."""
        for top in sorted(os.listdir(self.data_dir)) if os.path.isdir(self.data_dir) else []:
            top_path = os.path.join(self.data_dir, top)
            if len(top) != 2 or not os.path.isdir(top_path):
                continue
            for sub in sorted(os.listdir(top_path)):
                sub_path = os.path.join(top_path, sub)
                if len(sub) != 2 or not os.path.isdir(sub_path):
                    continue
                for name in sorted(os.listdir(sub_path)):
                    stem = name[:-len(COMPRESSED_SUFFIX)] if name.endswith(COMPRESSED_SUFFIX) else name
                    if len(stem) == 64:
                        try:
                            yield bytes.fromhex(stem)
                        except ValueError:
                            continue

    def _hashes_after(self, cursor: bytes, limit: int) -> list:
        """Up to ``limit`` block hashes greater than ``cursor``, in order."""
        found = []
        start = cursor.hex()
        if not os.path.isdir(self.data_dir):
            return found
        for top in sorted(os.listdir(self.data_dir)):
            if len(top) != 2 or top < start[:2]:
                continue
            top_path = os.path.join(self.data_dir, top)
            if not os.path.isdir(top_path):
                continue
            for sub in sorted(os.listdir(top_path)):
                if len(sub) != 2 or top + sub < start[:4]:
                    continue
                sub_path = os.path.join(top_path, sub)
                if not os.path.isdir(sub_path):
                    continue
                for name in sorted(os.listdir(sub_path)):
                    stem = name[:-len(COMPRESSED_SUFFIX)] if name.endswith(
                        COMPRESSED_SUFFIX) else name
                    if len(stem) != 64 or stem <= start:
                        continue
                    try:
                        found.append(bytes.fromhex(stem))
                    except ValueError:
                        continue
                    if len(found) >= limit:
                        return found
        return found

    def hashes_after(self, cursor: bytes, limit: int):
        """Deferred list of up to ``limit`` stored hashes after ``cursor``."""
        return self.run_in_thread(self._hashes_after, cursor, limit)

    def _cleanup_tmp_files(self) -> int:
        removed = 0
        for directory, _, files in os.walk(self.data_dir):
            for name in files:
                if TMP_MARK in name:
                    os.unlink(os.path.join(directory, name))
                    removed += 1
        return removed

    # -- asynchronous API ------------------------------------------------

    def write_block(self, hash_: bytes, block: DataBlock):
        """Store a block unless present (either form). Deferred[bool]: written."""
        return self.run_in_thread(self._write, hash_, block)

    def read_block(self, hash_: bytes):
        """Deferred[DataBlock]; errback MissingBlock if absent."""
        return self.run_in_thread(self._read, hash_)

    def read_and_verify(self, hash_: bytes, then=None):
        """Deferred[bytes] of plain, hash-checked data; errback MissingBlock,
        or CorruptBlock (the bad file renamed aside). ``then``, if given, is
        applied to the data in the same pool thread (its result fires)."""
        if then is None:
            return self.run_in_thread(self.read_and_verify_now, hash_)
        return self.run_in_thread(lambda: then(self.read_and_verify_now(hash_)))

    def has_block(self, hash_: bytes):
        return self.run_in_thread(lambda: self._find(hash_)[0] is not None)

    def delete_block(self, hash_: bytes):
        return self.run_in_thread(self._delete, hash_)

    def cleanup_tmp_files(self):
        """Remove temporary files left by a crash. Deferred[int]: how many."""
        return self.run_in_thread(self._cleanup_tmp_files)
