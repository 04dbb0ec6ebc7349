"""Errors of the block layer."""

from garage_twisted.util.errors import GarageError


class BlockError(GarageError):
    code = "BlockError"


class MissingBlock(BlockError):
    """The block is not stored on this node."""

    code = "MissingBlock"


class BlockWriteRefused(BlockError):
    """The data disk refused a block write (full, failing): nothing was
    left under the block's name, and the write may be retried once the
    disk takes writes again."""

    code = "BlockWriteRefused"


class CorruptBlock(BlockError):
    """The stored block does not decode to bytes with its hash."""

    code = "CorruptBlock"
