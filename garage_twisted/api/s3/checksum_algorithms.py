"""The ``x-amz-checksum-*`` algorithms, computed incrementally.

CRC32 comes from zlib and SHA-1/SHA-256 from hashlib (both fast, both release
the GIL on large buffers). CRC32C and CRC64-NVME come from ``awscrt`` (the
same native code botocore uses) when it is installed, else from table-driven
pure Python, which is correct but slow (a few MB/s).
"""

import base64
import enum
import hashlib
import zlib

try:  # pragma: no cover - depends on the environment
    from awscrt import checksums as _crt
except ImportError:  # pragma: no cover
    _crt = None


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


def _reflected_table(poly: int, width: int):
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc & ((1 << width) - 1))
    return table


_CRC32C_TABLE = _reflected_table(0x82F63B78, 32)
_CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5, 64)


def _py_crc(table, width, data: bytes, crc: int) -> int:
    mask = (1 << width) - 1
    crc ^= mask
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


class _Crc:
    def __init__(self, algorithm: ChecksumAlgorithm):
        self.algorithm = algorithm
        self.value = 0

    def update(self, data: bytes) -> None:
        alg = self.algorithm
        if alg == ChecksumAlgorithm.CRC32:
            self.value = zlib.crc32(data, self.value)
        elif alg == ChecksumAlgorithm.CRC32C:
            self.value = (_crt.crc32c(data, self.value) if _crt is not None
                          else _py_crc(_CRC32C_TABLE, 32, data, self.value))
        else:
            self.value = (_crt.crc64nvme(data, self.value) if _crt is not None
                          else _py_crc(_CRC64NVME_TABLE, 64, data, self.value))

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
