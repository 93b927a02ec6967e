"""Keyword alerts: who may get one (targets), and writing them exactly once (sent_alerts).

A fetch pass that found matches calls :meth:`AlertStore.targets` for the matched readers only,
then :meth:`AlertStore.deliver`: in one transaction the (reader, story) pairs go into
``sent_alerts`` (its primary key is the dedupe: a pair already there is skipped), and only the
pairs that were new become outbox rows. A second pass over the same story, or a second fetch
worker racing the first, therefore alerts nobody twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.deliveries import DeliveryStore, OutboxItem
from storage.errors import wraps_errors
from storage.mutes import NO_MUTES, MuteSet, MuteStore
from storage.tables import SentAlert, User, UserLanguage

_SA: Table = SentAlert.__table__  # type: ignore[attr-defined]
_U: Table = User.__table__  # type: ignore[attr-defined]
_UL: Table = UserLanguage.__table__  # type: ignore[attr-defined]
_CHUNK = 5000

Build = Callable[[dict[int, list[int]]], list[OutboxItem]]


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """What deciding and rendering one reader's alert needs; times are aware UTC."""

    user_id: int
    chat_id: int
    ui_language: str
    timezone: str | None
    quiet_start: int | None
    quiet_end: int | None
    paused: bool
    paused_until: datetime | None
    languages: frozenset[str]
    mutes: MuteSet = NO_MUTES


@wraps_errors
class AlertStore:
    """Facade over sent_alerts, reading the readers' rows it needs."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._deliveries = DeliveryStore(engine)
        self._mutes = MuteStore(engine)

    def targets(self, user_ids: Iterable[int]) -> dict[int, AlertTarget]:
        """The active, set-up readers among ``user_ids`` with their news languages and mutes
        (three queries a chunk of 5,000)."""
        ids = sorted(set(user_ids))
        out: dict[int, AlertTarget] = {}
        with self._engine.connect() as conn:
            mutes = self._mutes.many(ids, conn)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                languages: dict[int, set[str]] = {}
                for uid, language in conn.execute(
                    select(_UL.c.user_id, _UL.c.language).where(_UL.c.user_id.in_(chunk))
                ):
                    languages.setdefault(uid, set()).add(language)
                users = conn.execute(
                    select(
                        _U.c.id, _U.c.chat_id, _U.c.ui_language, _U.c.timezone,
                        _U.c.quiet_start, _U.c.quiet_end, _U.c.paused, _U.c.paused_until,
                    ).where(
                        _U.c.id.in_(chunk), _U.c.active.is_(True), _U.c.setup_complete.is_(True)
                    )
                )  # fmt: skip
                for uid, chat, ui, zone, q_start, q_end, paused, until in users:
                    out[uid] = AlertTarget(
                        uid, chat, ui, zone, q_start, q_end, bool(paused), _aware(until),
                        frozenset(languages.get(uid, ())), mutes.get(uid, NO_MUTES),
                    )  # fmt: skip
        return out

    def deliver(self, pairs: Sequence[tuple[int, int]], build: Build, now: datetime) -> int:
        """Record (reader, story key) pairs; ``build`` gets each reader's new story keys and
        returns their outbox rows, written in the same transaction. Returns the rows written."""
        if not pairs:
            return 0
        now = _aware(now) or now
        rows = [{"user_id": u, "story_key": k, "created_at": now} for u, k in dict.fromkeys(pairs)]
        fresh: dict[int, list[int]] = {}
        with self._engine.begin() as conn:
            stmt = (
                _insert(conn, _SA)
                .on_conflict_do_nothing()
                .returning(_SA.c.user_id, _SA.c.story_key)
            )
            for start in range(0, len(rows), _CHUNK):
                for uid, key in conn.execute(stmt, rows[start : start + _CHUNK]):
                    fresh.setdefault(int(uid), []).append(int(key))
            if not fresh:
                return 0
            return self._deliveries.enqueue(build(fresh), now, connection=conn)

    def sent_count(self, user_id: int) -> int:
        """How many stories ``user_id`` was alerted to (API for tests and operators)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_SA.c.story_key).where(_SA.c.user_id == user_id))
            return len(rows.all())

    def prune(self, before: datetime) -> int:
        """Forget alerts older than ``before`` (their stories are pruned by then)."""
        with self._engine.begin() as conn:
            return int(conn.execute(delete(_SA).where(_SA.c.created_at < before)).rowcount)


def _insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
