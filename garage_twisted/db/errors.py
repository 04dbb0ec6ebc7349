"""Errors of the storage layer."""

from garage_twisted.util.errors import GarageError


class DatabaseError(GarageError):
    """The metadata database cannot be opened or used."""

    code = "DatabaseError"


class DatabaseLocked(DatabaseError):
    """Another process holds the database (probably another node)."""

    code = "DatabaseLocked"


class MetadataStoreFailed(DatabaseError):
    """A metadata write failed, or writes are refused since one did: the
    store recovers by itself (see :mod:`garage_twisted.db.leveldb`). Nothing
    was acknowledged; the client may retry (503)."""

    code = "MetadataStoreFailed"
