"""Block payloads: plain or zstd-compressed bytes, named by BLAKE3-256.

A block's name is the BLAKE3-256 of its *plain* bytes, whatever its stored
form, so identical content dedups whether or not it was compressed.
Compression is skipped when it does not save at least ``MIN_SAVING``: random
or already-compressed data (photos, videos) is stored as is and costs no
decompression on read.

Why BLAKE3 and not Garage's BLAKE2b: every byte an API node receives is
hashed three times (MD5 for the ETag, SHA-256 for the signature, the block
name), on the node that is a cluster's busiest. BLAKE3 names a MiB in 0.13
ms here against 0.92 for libsodium's AVX2 BLAKE2b, and its SIMD code (SSE2
to AVX-512) keeps the lead on old machines. Blocks written before the switch
are named by BLAKE2b-256 (:func:`blake2sum`): :func:`hash_matches`, which
every check of stored or received bytes uses, accepts either name, so those
blocks stay readable and scrub does not take them for corrupt. (The same
content uploaded again is stored a second time under its BLAKE3 name.)

ZstdCompressor/Decompressor objects are not safe to share between threads:
each thread of the pool keeps its own.
"""

import threading
from collections import namedtuple

import zstandard
from blake3 import blake3

from garage_twisted.block.errors import CorruptBlock

try:
    # hashlib's BLAKE2b without hashlib: importing hashlib loads OpenSSL's
    # libcrypto (3.8 MB), which the block I/O process, importing this
    # module, otherwise never needs.
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover - another Python implementation
    from hashlib import blake2b as _blake2b

MIN_SAVING = 1 / 16
_local = threading.local()


HASH_SIZE = 32
# From this size on, libsodium's BLAKE2b is faster than hashlib's.
SODIUM_HASH_MIN = 16 * 1024


def block_hash(data) -> bytes:
    """The name of a block of plain bytes ``data`` (bytes or a buffer):
    its BLAKE3-256. Releases the GIL on large inputs, like hashlib."""
    return blake3(data).digest()


def hash_matches(data, hash_: bytes) -> bool:
    """Whether ``data`` is the block named ``hash_``: by its BLAKE3 name,
    or by the BLAKE2b one of a block written before blocks were named by
    BLAKE3 (hashed only when the first does not match)."""
    return block_hash(data) == hash_ or blake2sum(data) == hash_


def _sodium():
    """libsodium's cffi ``(ffi, lib)``, initialised, imported on first use:
    only the BLAKE2b of a block written before BLAKE3 needs it, and the block
    I/O process (which imports this module) then stays without cffi and
    libsodium (0.6 MB)."""
    from nacl._sodium import ffi, lib

    # sodium_init() picks the SIMD code (idempotent, cheap after the first
    # call). Called here rather than by importing nacl.bindings, whose 19
    # modules the block I/O process never uses.
    if lib.sodium_init() < 0:
        raise RuntimeError("libsodium could not be initialised")
    return ffi, lib


def blake2sum(data) -> bytes:
    """blake2b-256 of ``data`` (bytes or a buffer), the name of blocks
    written before BLAKE3; libsodium's AVX2 code from ``SODIUM_HASH_MIN``
    bytes (hashlib's below, where a call into libsodium costs more than it
    saves). Releases the GIL on large inputs, like hashlib does."""
    if len(data) < SODIUM_HASH_MIN:
        return _blake2b(data, digest_size=HASH_SIZE).digest()
    _ffi, _lib = _sodium()
    out = _ffi.new("unsigned char[]", HASH_SIZE)
    source = data if isinstance(data, bytes) else _ffi.from_buffer(data)
    if _lib.crypto_generichash_blake2b_salt_personal(
            out, HASH_SIZE, source, len(data), _ffi.NULL, 0, _ffi.NULL, _ffi.NULL) != 0:
        raise ValueError("BLAKE2b failed")
    return _ffi.buffer(out, HASH_SIZE)[:]


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


class Pieces:
    """Bytes that arrived as several buffers (a block over the peer
    protocol), kept apart until the store writes them: joining them first
    would copy every byte once more, on the reactor thread. ``len()`` is
    their total size."""

    __slots__ = ("parts", "size")

    def __init__(self, parts):
        self.parts = tuple(parts)
        self.size = sum(len(part) for part in self.parts)

    def __len__(self) -> int:
        return self.size


class DataBlock(namedtuple("DataBlock", ("compressed", "payload"))):
    """A block as stored: ``payload`` is zstd data if ``compressed``; bytes,
    or :class:`Pieces` on its way to the store.

    An immutable value, as a frozen dataclass would be; a named tuple
    because ``dataclasses`` (and the ``inspect`` it imports) would cost the
    block I/O process, which imports this module, ~2.5 MB.
    """

    __slots__ = ()

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
        if not hash_matches(data, hash_):
            raise CorruptBlock(f"block {hash_.hex()} does not match its hash")
        return data


# Blocks from this size on are sampled before being compressed whole: two
# pieces of SAMPLE_PIECE bytes (the start and the middle). Random data and
# data already compressed (photos, videos, archives: most large uploads)
# then cost two small attempts instead of a whole one, which also copies the
# block into zstd's raw blocks: 0.12 ms and a memcpy per MiB, a few percent
# of a large PUT's CPU. The sample must save at least half of MIN_SAVING for
# the whole block to be tried, so borderline data is still tried whole.
SAMPLED_MIN = 256 * 1024
SAMPLE_PIECE = 32 * 1024


def _sample_saves(data, level: int) -> bool:
    """Whether a sample of ``data`` (at least ``SAMPLED_MIN`` bytes)
    compresses enough for the whole block to be worth trying."""
    middle = len(data) // 2
    view = memoryview(data)
    try:
        sample = b"".join((view[:SAMPLE_PIECE], view[middle:middle + SAMPLE_PIECE]))
    finally:
        view.release()
    packed = _compressor(level).compress(sample)
    return len(packed) <= len(sample) * (1 - MIN_SAVING / 2)


def compress(data: bytes, level: int | None) -> DataBlock:
    """Compress ``data`` at zstd ``level`` if that saves enough; ``None``: never.

    Large blocks whose sample does not compress are stored as they are
    without a whole attempt (:func:`_sample_saves`)."""
    if level is None or not data:
        return DataBlock(False, data)
    if len(data) >= SAMPLED_MIN and not _sample_saves(data, level):
        return DataBlock(False, data)
    packed = _compressor(level).compress(data)
    if len(packed) <= len(data) * (1 - MIN_SAVING):
        return DataBlock(True, packed)
    return DataBlock(False, data)
