"""Which Telegram updates have been taken on and which are done, so each one is handled once and
none is lost when the process handling it dies.

Telegram delivers an update again when it saw no 2xx answer (a webhook receiver that died or
timed out), and behind a load balancer the second try may reach another receiver process; a
long-polling process that stops before confirming its last batch gets it again too. Handlers
are not idempotent (a second /start would send a second menu), so a process *takes* an update
before any handler runs, and marks it *done* once handled:

- the first delivery takes it (a new row: ``taken_by`` this worker, ``taken_at`` now);
- a copy of a done update is a duplicate (``DONE``): dropped;
- a copy of an update taken but not done is ``BUSY`` while its taker is alive (it renews
  ``taken_at`` as it works); once the claim is older than the TTL (its taker went silent) the
  copy takes it over and is handled. ``take_from`` takes it over at once from a taker known to
  be dead (a dead pid on this host), compare-and-set on the old taker.

An update still being handled when the webhook had to answer Telegram (a slow handler) is
*parked*: its JSON goes in ``payload``. Telegram will not send it again, so if its taker dies
before it is done, a live process finds it among the ``orphans`` and takes it over itself.

One statement decides the common case, atomically on both backends and across processes:
``INSERT ... ON CONFLICT DO UPDATE ... WHERE <done_at is null and the claim is stale>
RETURNING update_id``; a row back means "taken". Old rows go in the daily prune: Telegram keeps
an undelivered update at most 24 hours, and after a week without updates it may start ids
afresh at random, so ids older than ``RETENTION`` must go (they can never come back, and could
otherwise shadow a new id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.errors import wraps_errors
from storage.tables import ProcessedUpdate

RETENTION = timedelta(days=2)

_UPDATES: Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
_C = _UPDATES.c


class Verdict(Enum):
    """What a delivery of an update may do."""

    TAKEN = "taken"  # this worker handles it now
    DONE = "done"  # handled already: drop the copy
    BUSY = "busy"  # another worker holds a live claim on it


@dataclass(frozen=True)
class Claim:
    """The verdict, and who holds the update when it is ``BUSY``."""

    verdict: Verdict
    taker: str = ""


@dataclass(frozen=True)
class Orphan:
    """A parked update: who took it, when the claim was last renewed, its JSON."""

    update_id: int
    taker: str
    taken_at: datetime
    payload: str


@wraps_errors
class ProcessedUpdateStore:
    """Facade over the processed_updates table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def take(self, update_id: int, worker: str, now: datetime, ttl: timedelta) -> Claim:
        """Take ``update_id`` for ``worker`` if nobody has, or if its taker's claim is older
        than ``ttl`` and it is not done; otherwise say why not."""
        now, worker = _utc(now), worker[:64]
        with self._engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(_UPDATES).values(
                update_id=update_id, received_at=now, taken_by=worker, taken_at=now
            )
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.
            taken = conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[_C.update_id],
                    set_={"taken_by": worker, "taken_at": now},
                    where=_C.done_at.is_(None) & (_C.taken_at < now - ttl),
                ).returning(_C.update_id)
            )
            if taken.first() is not None:
                return Claim(Verdict.TAKEN)
            row = conn.execute(
                select(_C.taken_by, _C.done_at).where(_C.update_id == update_id)
            ).one()
        if row.done_at is not None:
            return Claim(Verdict.DONE)
        return Claim(Verdict.BUSY, row.taken_by or "")

    def take_from(self, update_id: int, old: str, worker: str, now: datetime) -> bool:
        """Take a not-done update over from ``old`` (known dead); False if someone else did."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(_UPDATES)
                .where(_C.update_id == update_id, _C.taken_by == old, _C.done_at.is_(None))
                .values(taken_by=worker[:64], taken_at=_utc(now))
            )
            return bool(result.rowcount)

    def renew(self, update_id: int, worker: str, now: datetime) -> None:
        """Still working on it: push ``taken_at`` forward so nobody takes it over."""
        with self._engine.begin() as conn:
            conn.execute(
                update(_UPDATES)
                .where(_C.update_id == update_id, _C.taken_by == worker[:64])
                .values(taken_at=_utc(now))
            )

    def finish(self, update_id: int, now: datetime) -> None:
        """Handled: every later copy is a duplicate (and a parked payload is not needed)."""
        with self._engine.begin() as conn:
            conn.execute(
                update(_UPDATES)
                .where(_C.update_id == update_id)
                .values(done_at=_utc(now), payload=None)
            )

    def park(self, update_id: int, payload: str) -> None:
        """Telegram was answered before the update was done: keep its JSON for an adopter."""
        with self._engine.begin() as conn:
            conn.execute(
                update(_UPDATES)
                .where(_C.update_id == update_id, _C.done_at.is_(None))
                .values(payload=payload)
            )

    def orphans(self, limit: int = 20) -> list[Orphan]:
        """Parked updates not done yet, oldest claim first (their takers may be alive: the
        caller checks, and takes one over with ``take_from``)."""
        query = (
            select(_C.update_id, _C.taken_by, _C.taken_at, _C.payload)
            .where(_C.payload.is_not(None), _C.done_at.is_(None))
            .order_by(_C.taken_at)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                Orphan(row.update_id, row.taken_by or "", _utc(row.taken_at), row.payload)
                for row in conn.execute(query)
            ]

    def prune(self, before: datetime) -> int:
        """Forget ids received before ``before``; how many were forgotten."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_UPDATES).where(_C.received_at < _utc(before)))
            return int(result.rowcount or 0)

    def count(self, *, done: bool | None = None) -> int:
        """How many ids are remembered (``done``: only those handled, or only those not yet)."""
        query = select(func.count()).select_from(_UPDATES)
        if done is not None:
            query = query.where(_C.done_at.is_not(None) if done else _C.done_at.is_(None))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _utc(value: datetime) -> datetime:
    """SQLite stores no zone: everything is written in UTC so comparisons hold."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
