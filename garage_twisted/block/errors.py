"""Errors of the block layer."""

from garage_twisted.util.errors import GarageError


class BlockError(GarageError):
    code = "BlockError"


class MissingBlock(BlockError):
    """The block is not stored on this node."""

    code = "MissingBlock"


class CorruptBlock(BlockError):
    """The stored block does not decode to bytes with its hash."""

    code = "CorruptBlock"
