"""Statements run on the DB-API cursor itself, for the few hot reads where SQLAlchemy's per-row
processing was most of the cost (the digest tick's 100,000 readers: ``storage.due_readers``,
``DeliveryStore.received_digests``).

Statement text stays constant (dialect-specific constants where the SQL differs) and every value
is a bound parameter; what SQLAlchemy's types did to values is done here, the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Connection


def fetch(connection: Connection, statement: str, params: Sequence[Any]) -> list[Any]:
    """Rows of ``statement`` as the driver's tuples, in ``connection``'s transaction."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def bound_time(dialect: Any, moment: datetime) -> Any:
    """``moment`` as the columns hold it: naive UTC, and on SQLite the text SQLAlchemy's
    ``DateTime`` writes (``storage`` stores every time through it)."""
    value = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    process = DateTime().dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


def time_reader(dialect: Any) -> Any:
    """A function from a column's raw value to an aware datetime in ``datetime.UTC`` (or
    None), as the ORM and Core reads of ``storage`` give it (SQLite: parsed from text)."""
    parse = DateTime().dialect_impl(dialect).result_processor(dialect, None)

    def read(raw: Any) -> datetime | None:
        value = parse(raw) if parse is not None and raw is not None else raw
        if value is None or value.tzinfo is UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        # psycopg gives timestamptz in the session's zone object (``Etc/UTC``): the same
        # instant in ``datetime.UTC``, as SQLAlchemy's reads give it
        return value.astimezone(UTC)

    return read
