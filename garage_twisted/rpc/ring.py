"""Partitions of the ring: how a 32-byte position hash maps to a partition.

The ring has ``2 ** PARTITION_BITS`` partitions; a hash's partition is given by
its top ``PARTITION_BITS`` bits. Everything that places data (layout, tables,
blocks, Merkle trees) goes through :func:`partition_of` so the number lives in
one place.
"""

PARTITION_BITS = 8
PARTITION_COUNT = 1 << PARTITION_BITS


def partition_of(position_hash: bytes) -> int:
    """Partition number of a 32-byte position hash.

    :param position_hash: at least two bytes; only the top bits are read.
    """
    top16 = (position_hash[0] << 8) | position_hash[1]
    return top16 >> (16 - PARTITION_BITS)


def partition_first_hash(partition: int) -> bytes:
    """The smallest 32-byte hash that falls in ``partition``."""
    top16 = partition << (16 - PARTITION_BITS)
    return top16.to_bytes(2, "big") + bytes(30)


def partition_hash_range(partition: int) -> tuple[bytes, bytes | None]:
    """``(start, end)`` of the hashes in ``partition``, ``end`` excluded
    (``None`` for the last partition: up to the end of the key space)."""
    end = partition_first_hash(partition + 1) if partition + 1 < PARTITION_COUNT else None
    return partition_first_hash(partition), end
