"""Errors of the storage layer."""

from garage_twisted.util.errors import GarageError


class DatabaseError(GarageError):
    """The metadata database cannot be opened or used."""

    code = "DatabaseError"


class DatabaseLocked(DatabaseError):
    """Another process holds the database (probably another node)."""

    code = "DatabaseLocked"
