"""The ``x-amz-checksum-*`` algorithms, computed incrementally.

CRC32 comes from zlib and SHA-1/SHA-256 from hashlib (both fast, both release
the GIL on large buffers). CRC32C and CRC64-NVME come from ``awscrt`` (the
same native code botocore uses; a required dependency: ~11 GB/s here,
where table-driven Python managed ~12 MB/s holding the GIL). It is imported
on first use only: its library adds ~8 MB to a node's memory, and most
clients send CRC32 or no checksum at all.
"""

import base64
import enum
import hashlib
import zlib

_crt = None


def _crt_checksums():
    global _crt
    if _crt is None:
        from awscrt import checksums
        _crt = checksums
    return _crt


class ChecksumAlgorithm(enum.Enum):
    CRC32 = "crc32"
    CRC32C = "crc32c"
    CRC64NVME = "crc64nvme"
    SHA1 = "sha1"
    SHA256 = "sha256"

    @property
    def header(self) -> str:
        return f"x-amz-checksum-{self.value}"

    @property
    def xml_element(self) -> str:
        """``ChecksumCRC32`` and the like, in S3's XML documents."""
        return f"Checksum{self.name}"


class _Crc:
    def __init__(self, algorithm: ChecksumAlgorithm):
        self.algorithm = algorithm
        self.value = 0

    def update(self, data: bytes) -> None:
        alg = self.algorithm
        if alg == ChecksumAlgorithm.CRC32:
            self.value = zlib.crc32(data, self.value)
        elif alg == ChecksumAlgorithm.CRC32C:
            self.value = _crt_checksums().crc32c(data, self.value)
        else:
            self.value = _crt_checksums().crc64nvme(data, self.value)

    def digest(self) -> bytes:
        size = 8 if self.algorithm == ChecksumAlgorithm.CRC64NVME else 4
        return self.value.to_bytes(size, "big")


def new_hasher(algorithm: ChecksumAlgorithm):
    """An object with ``update(bytes)`` and ``digest() -> bytes``."""
    if algorithm == ChecksumAlgorithm.SHA1:
        return hashlib.sha1()
    if algorithm == ChecksumAlgorithm.SHA256:
        return hashlib.sha256()
    return _Crc(algorithm)


def encode(digest: bytes) -> str:
    """Checksums travel base64-encoded."""
    return base64.b64encode(digest).decode("ascii")


def algorithm_named(name: str) -> ChecksumAlgorithm | None:
    try:
        return ChecksumAlgorithm(name.strip().lower())
    except ValueError:
        return None


def algorithm_of_header(name: str) -> ChecksumAlgorithm | None:
    """The algorithm of an ``x-amz-checksum-*`` header name, if it is one."""
    prefix = "x-amz-checksum-"
    return algorithm_named(name[len(prefix):]) if name.startswith(prefix) else None
