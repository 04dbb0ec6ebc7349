"""The node's blocks on disk: ``data_dir/aa/bb/<hash hex>[.zst]``.

``aa`` and ``bb`` are the first two bytes of the hash in hex (Garage's
layout), which keeps directories small. A block is written to a temporary
file in its final directory, optionally fsynced, then renamed: a crash never
leaves a half-written block under its final name, and stale ``.tmp`` files are
removed at start. Every method does its file I/O in the I/O thread pool and
returns a Deferred.
"""

import itertools
import os

from twisted.logger import Logger

from garage_twisted.block.data import DataBlock
from garage_twisted.block.errors import MissingBlock

COMPRESSED_SUFFIX = ".zst"
TMP_MARK = ".tmp"
CORRUPT_SUFFIX = ".corrupted"


class LocalBlockStore:
    """Block files of one data directory.

    :param data_dir: root directory of the blocks.
    :param run_in_thread: ``run(f, *args) -> Deferred`` on the I/O pool.
    :param fsync: fsync files and directories after each write.
    """

    log = Logger()

    def __init__(self, data_dir: str, run_in_thread, fsync: bool = False):
        self.data_dir = data_dir
        self.run_in_thread = run_in_thread
        self.fsync = fsync
        # Directories known to exist: saves a makedirs (several system
        # calls) per write. Only grows; a directory is never removed.
        self._known_dirs: set[str] = set()
        self._tmp_names = itertools.count()

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
        if directory not in self._known_dirs:
            os.makedirs(directory, exist_ok=True)
            self._known_dirs.add(directory)
        tmp = f"{final}{TMP_MARK}{os.getpid()}.{next(self._tmp_names)}"
        try:
            with open(tmp, "wb") as f:
                f.write(block.payload)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        if self.fsync:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return True

    def _read(self, hash_: bytes) -> DataBlock:
        # Opening is the existence check: one system call when it succeeds.
        for compressed in (False, True):
            try:
                with open(self.block_path(hash_, compressed), "rb") as f:
                    return DataBlock(compressed, f.read())
            except FileNotFoundError:
                continue
        raise MissingBlock(f"block {hash_.hex()} is not stored here")

    def _read_and_verify(self, hash_: bytes) -> bytes:
        return self._read(hash_).verify(hash_)

    def read_and_verify_now(self, hash_: bytes) -> bytes:
        """Blocking :meth:`read_and_verify`, for callers already in the pool."""
        return self._read(hash_).verify(hash_)

    def _delete(self, hash_: bytes) -> bool:
        deleted = False
        for compressed in (True, False):
            try:
                os.unlink(self.block_path(hash_, compressed))
                deleted = True
            except FileNotFoundError:
                pass
        return deleted

    def _quarantine(self, hash_: bytes) -> None:
        path, _ = self._find(hash_)
        if path is not None:
            os.replace(path, path + CORRUPT_SUFFIX)

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

    def read_and_verify(self, hash_: bytes):
        """Deferred[bytes] of plain, hash-checked data; errback CorruptBlock."""
        return self.run_in_thread(self._read_and_verify, hash_)

    def has_block(self, hash_: bytes):
        return self.run_in_thread(lambda: self._find(hash_)[0] is not None)

    def delete_block(self, hash_: bytes):
        return self.run_in_thread(self._delete, hash_)

    def quarantine(self, hash_: bytes):
        """Rename a corrupt block aside so it can be fetched again."""
        return self.run_in_thread(self._quarantine, hash_)

    def cleanup_tmp_files(self):
        """Remove temporary files left by a crash. Deferred[int]: how many."""
        return self.run_in_thread(self._cleanup_tmp_files)
