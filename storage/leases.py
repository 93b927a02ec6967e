"""Named leases: so that of two ``newsbot run`` processes on one database, only one schedules
and sends.

A lease is a row (name, holder, expires_at). The holder renews it well before it expires; a
process that dies stops renewing, and another may take the lease once it has expired. Taking it
is atomic on both backends without explicit locks: an UPDATE that only matches a free or own
lease (compare-and-set), and failing that an INSERT that does nothing if someone else's row
appeared meanwhile. Whoever's statement changed a row holds the lease.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.errors import wraps_errors
from storage.tables import Lease

_LEASES: Table = Lease.__table__  # type: ignore[attr-defined]
_C = _LEASES.c


@wraps_errors
class LeaseStore:
    """Facade over the leases table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease until ``now + ttl``. True if ``holder`` now holds it.

        Succeeds if the lease is free, expired, or already ``holder``'s; fails while another
        holder's lease is live.
        """
        now = _utc(now)
        values = {"holder": holder[:64], "expires_at": now + ttl}
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(_LEASES)
                .where(_C.name == name, or_(_C.holder == holder[:64], _C.expires_at <= now))
                .values(**values)
            )
            if taken.rowcount:
                return True
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
            inserted = conn.execute(
                dialect.insert(_LEASES)
                .values(name=name, **values)
                .on_conflict_do_nothing()
                .returning(_C.name)
            )
            return inserted.first() is not None

    def take_over(
        self, name: str, old_holder: str, new_holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        """Take a live lease from ``old_holder`` (known dead) if nobody else took it meanwhile."""
        values = {"holder": new_holder[:64], "expires_at": _utc(now) + ttl}
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(_LEASES)
                .where(_C.name == name, _C.holder == old_holder[:64])
                .values(**values)
            )
            return bool(taken.rowcount)

    def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (on clean shutdown), if ``holder`` holds it."""
        with self._engine.begin() as conn:
            conn.execute(delete(_LEASES).where(_C.name == name, _C.holder == holder[:64]))

    def hold_until(self, name: str, holder: str, until: datetime) -> None:
        """Record a deadline every process must respect, such as Telegram's flood wait, so a
        process taking over honours what its predecessor was told; never shortened."""
        until = _utc(until)
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(_LEASES)
                .where(_C.name == name, _C.expires_at < until)
                .values(holder=holder[:64], expires_at=until)
            )
            if not moved.rowcount:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                conn.execute(
                    dialect.insert(_LEASES)
                    .values(name=name, holder=holder[:64], expires_at=until)
                    .on_conflict_do_nothing()
                )

    def until(self, name: str, now: datetime) -> datetime | None:
        """When a live lease or deadline ends, or None if it is free or over."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_C.expires_at).where(_C.name == name, _C.expires_at > _utc(now))
            ).first()
            return None if row is None else _utc(row.expires_at)

    def holder(self, name: str, now: datetime) -> str | None:
        """Who holds the lease now, or None if it is free or expired."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_C.holder).where(_C.name == name, _C.expires_at > _utc(now))
            ).first()
            return None if row is None else str(row.holder)

    def last_holder(self, name: str) -> str | None:
        """Who holds or last held the lease, expired or not (None if never taken or released)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_C.holder).where(_C.name == name)).first()
            return None if row is None else str(row.holder)


def _utc(value: datetime) -> datetime:
    """SQLite stores no zone: everything is written in UTC so comparisons hold."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
