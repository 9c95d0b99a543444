"""Typed errors of fieldcrm; `str()` of each is safe to show to a user."""

from __future__ import annotations


class FieldCrmError(Exception):
    """Base of every error fieldcrm raises on purpose; its text is meant for users."""


class NotFound(FieldCrmError):
    """A row the caller named does not exist (or was deleted)."""


class InvalidInput(FieldCrmError):
    """Input that fails validation.

    ``errors`` maps a field name to a message, so that a form can show each
    message next to its field.
    """

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, str] = dict(errors or {})


class DatabaseError(FieldCrmError):
    """The local database cannot be opened or written (corrupt, locked, read-only...)."""


class DatabaseTooNew(DatabaseError):
    """The database was written by a newer fieldcrm; it is left untouched."""


class GeocodeError(FieldCrmError):
    """An address could not be geocoded (offline gazetteer or online provider)."""


class RouteError(FieldCrmError):
    """A route could not be planned or a TSPLIB file could not be read."""


class ImportFileError(FieldCrmError):
    """A file to import is unreadable; the message names the row and column."""


class SyncError(FieldCrmError):
    """Sync failed; ``kind`` says why (offline, auth, protocol, server, forbidden...)."""

    def __init__(self, message: str, kind: str = "server") -> None:
        super().__init__(message)
        self.kind = kind


class Cancelled(FieldCrmError):
    """The user cancelled a long job; shown nowhere."""
