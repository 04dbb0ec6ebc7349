"""The checksum of a multipart object, from its parts' checksums.

An upload created with ``x-amz-checksum-algorithm`` checksums every part
with that algorithm; at completion the object's checksum is either

- ``COMPOSITE`` (any algorithm but CRC64NVME): the algorithm over the
  concatenated raw checksums of the parts, written ``base64-N`` for N parts;
- ``FULL_OBJECT`` (the CRCs only; CRC64NVME's only type): the CRC of the
  whole object, combined from the parts' CRCs and sizes without reading the
  data again (zlib's ``crc32_combine`` method, for any reflected CRC).

Values travel base64-encoded, as in the ``x-amz-checksum-*`` headers.
"""

import base64
import binascii

from garage_twisted.api.s3.checksum_algorithms import ChecksumAlgorithm, encode, new_hasher

COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"

# Reflected polynomial and width of each CRC.
_CRCS = {
    ChecksumAlgorithm.CRC32: (0xEDB88320, 32),
    ChecksumAlgorithm.CRC32C: (0x82F63B78, 32),
    ChecksumAlgorithm.CRC64NVME: (0x9A6C9329AC4BC9B5, 64),
}


def checksum_type(algorithm: ChecksumAlgorithm, requested: str | None) -> str | None:
    """The type an upload's checksum gets (S3's defaults), or ``None`` if
    ``requested`` does not go with ``algorithm``."""
    if requested is None:
        return FULL_OBJECT if algorithm == ChecksumAlgorithm.CRC64NVME else COMPOSITE
    requested = requested.strip().upper()
    if requested == FULL_OBJECT and algorithm in _CRCS:
        return FULL_OBJECT
    if requested == COMPOSITE and algorithm != ChecksumAlgorithm.CRC64NVME:
        return COMPOSITE
    return None


def decode(value: str) -> bytes | None:
    """The raw bytes of a base64 checksum (a ``-N`` suffix dropped), or None."""
    try:
        return base64.b64decode(value.strip().split("-", 1)[0], validate=True)
    except (binascii.Error, ValueError):
        return None


def composite(algorithm: ChecksumAlgorithm, part_values: list) -> str:
    """``base64-N`` of the algorithm over the parts' raw checksums."""
    hasher = new_hasher(algorithm)
    for value in part_values:
        hasher.update(decode(value) or b"")
    return f"{encode(hasher.digest())}-{len(part_values)}"


def full_object(algorithm: ChecksumAlgorithm, parts: list) -> str:
    """The CRC of the concatenation of ``parts``: ``[(base64 CRC, size)]``."""
    poly, width = _CRCS[algorithm]
    size = width // 8
    crc = 0
    # Parts mostly share one size: x^(8n) is computed once per size.
    powers = {}
    for value, length in parts:
        part_crc = int.from_bytes(decode(value) or bytes(size), "big")
        power = powers.get(length)
        if power is None:
            power = powers[length] = _x_power_8n(length, poly, width)
        # CRC(A + B) = CRC(A) * x^(8 len B) + CRC(B), as zlib's crc32_combine.
        crc = _multiply(power, crc, poly, width) ^ part_crc
    return encode(crc.to_bytes(size, "big"))


def _multiply(a: int, b: int, poly: int, width: int) -> int:
    """a * b modulo the polynomial, in the reflected bit order of CRCs."""
    top = 1 << (width - 1)
    product = 0
    while a:
        if a & top:
            product ^= b
        a = (a << 1) & ((1 << width) - 1)
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


def _x_power_8n(n: int, poly: int, width: int) -> int:
    """x^(8n) modulo the polynomial (reflected), by squaring."""
    result = 1 << (width - 1)  # x^0
    square = 1 << (width - 9)  # x^8
    while n:
        if n & 1:
            result = _multiply(square, result, poly, width)
        square = _multiply(square, square, poly, width)
        n >>= 1
    return result
