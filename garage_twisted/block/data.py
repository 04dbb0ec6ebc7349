"""Block payloads: plain or zstd-compressed bytes, named by blake2b-256.

A block's name is the blake2b-256 of its *plain* bytes, whatever its stored
form, so identical content dedups whether or not it was compressed.
Compression is skipped when it does not save at least ``MIN_SAVING``: random
or already-compressed data (photos, videos) is stored as is and costs no
decompression on read.

ZstdCompressor/Decompressor objects are not safe to share between threads:
each thread of the pool keeps its own.
"""

import hashlib
import threading
from dataclasses import dataclass

import zstandard

from garage_twisted.block.errors import CorruptBlock

MIN_SAVING = 1 / 16
_local = threading.local()


def blake2sum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _compressor(level: int):
    cache = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    compressor = cache.get(level)
    if compressor is None:
        compressor = cache[level] = zstandard.ZstdCompressor(level=level)
    return compressor


def _decompressor():
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


@dataclass(frozen=True)
class DataBlock:
    """A block as stored: ``payload`` is zstd data if ``compressed``."""

    compressed: bool
    payload: bytes

    def plain(self) -> bytes:
        """The block's plain bytes (decompressing if needed).

        :raises CorruptBlock: if the zstd data is invalid.
        """
        if not self.compressed:
            return self.payload
        try:
            return _decompressor().decompress(self.payload)
        except zstandard.ZstdError as e:
            raise CorruptBlock(f"invalid zstd data: {e}") from e

    def verify(self, hash_: bytes) -> bytes:
        """Plain bytes, checked against ``hash_``.

        :raises CorruptBlock: on a mismatch.
        """
        data = self.plain()
        if blake2sum(data) != hash_:
            raise CorruptBlock(f"block {hash_.hex()} does not match its hash")
        return data


def compress(data: bytes, level: int | None) -> DataBlock:
    """Compress ``data`` at zstd ``level`` if that saves enough; ``None``: never."""
    if level is None or not data:
        return DataBlock(False, data)
    packed = _compressor(level).compress(data)
    if len(packed) <= len(data) * (1 - MIN_SAVING):
        return DataBlock(True, packed)
    return DataBlock(False, data)
