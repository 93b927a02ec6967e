"""The one root error of the storage package, so callers catch database trouble in one place.

Every store facade (``UserStore``, ``ArticleStore``, ...) is decorated with :func:`wraps_errors`:
a SQLAlchemy error raised by one of its public methods leaves it as a :class:`QueryError`
subclass, ``raise … from e``, with the driver's error kept in ``.orig``. Inside the package,
code still catches SQLAlchemy's own classes (an ``IntegrityError`` that means "someone else got
there first" is an answer, not a failure); only what crosses the boundary is converted.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

_C = TypeVar("_C", bound=type)


class StorageError(Exception):
    """Root of every error the storage package raises."""


class ConfigurationError(StorageError):
    """``DATABASE_URL`` is not a usable database (bad URL, missing driver)."""


class MigrationError(StorageError):
    """The schema could not be brought up to date."""


class QueryError(StorageError):
    """A statement failed. ``orig`` is the driver's exception (None if SQLAlchemy raised
    before reaching the driver); ``__cause__`` the SQLAlchemy one."""

    def __init__(self, message: str, orig: BaseException | None = None) -> None:
        super().__init__(message)
        self.orig = orig


class ConflictError(QueryError):
    """A key or constraint refused the row (SQLAlchemy's ``IntegrityError``)."""


class UnavailableError(QueryError):
    """The database could not run the statement now: locked, disk full, connection lost
    (SQLAlchemy's ``OperationalError``). Worth retrying later."""


def query_error(error: SQLAlchemyError, where: str) -> QueryError:
    """The storage error for ``error``: one line, no statement or parameters (they hold
    readers' data and would end up in logs)."""
    orig = getattr(error, "orig", None)
    kind = (
        ConflictError
        if isinstance(error, IntegrityError)
        else UnavailableError
        if isinstance(error, OperationalError)
        else QueryError
    )
    reason = str(orig if orig is not None else error.__class__.__name__).strip().splitlines()
    return kind(f"{where}: {reason[0] if reason else error.__class__.__name__}", orig)


def _wrapped(method: Callable[..., Any], where: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as e:
            raise query_error(e, where) from e

    return call


def wraps_errors(cls: _C) -> _C:
    """Class decorator: each public method of ``cls`` raises :class:`QueryError` subclasses
    instead of SQLAlchemy errors. Methods named with a leading underscore are left alone, so
    the public methods' own ``except IntegrityError`` around them keep working."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        setattr(cls, name, _wrapped(member, f"{cls.__name__}.{name}"))
    return cls
