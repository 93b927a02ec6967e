"""Which Telegram updates have been taken on, so each one is handled once.

Telegram delivers an update again when it saw no 2xx answer (a webhook receiver that died or
timed out), and behind a load balancer the second try may reach another receiver process; a
long-polling process that stops before confirming its last batch gets it again too. Handlers
are not idempotent (a second /start would send a second menu), so every process records the
``update_id`` before any handler runs, and only the process whose row went in handles it.

One statement decides, atomically on both backends and across processes:
``INSERT ... ON CONFLICT DO NOTHING RETURNING update_id``; a row back means "first". Old rows go
in the daily prune: Telegram keeps an undelivered update at most 24 hours, and after a week
without updates it may start ids afresh at random, so ids older than ``RETENTION`` must go
(they can never come back, and could otherwise shadow a new id).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.errors import wraps_errors
from storage.tables import ProcessedUpdate

RETENTION = timedelta(days=2)

_UPDATES: Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
_C = _UPDATES.c


@wraps_errors
class ProcessedUpdateStore:
    """Facade over the processed_updates table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def first_delivery(self, update_id: int, now: datetime) -> bool:
        """Record ``update_id``; True for the first delivery, False for any redelivery."""
        with self._engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
            inserted = conn.execute(
                dialect.insert(_UPDATES)
                .values(update_id=update_id, received_at=_utc(now))
                .on_conflict_do_nothing()
                .returning(_C.update_id)
            )
            return inserted.first() is not None

    def prune(self, before: datetime) -> int:
        """Forget ids received before ``before``; how many were forgotten."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_UPDATES).where(_C.received_at < _utc(before)))
            return int(result.rowcount or 0)

    def count(self) -> int:
        """How many ids are remembered (for tests and stats)."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_UPDATES)).scalar_one())


def _utc(value: datetime) -> datetime:
    """SQLite stores no zone: everything is written in UTC so comparisons hold."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
