"""The one root error of the storage package, so callers can catch database trouble in one place."""


class StorageError(Exception):
    """Raised when the database cannot do what was asked (bad URL, failed migration)."""
