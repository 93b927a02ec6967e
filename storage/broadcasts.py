"""Broadcasts: an admin's message to many readers, and who those readers are.

A broadcast's life, and why it survives restarts:

1. A *draft* holds the message (a Bot API payload) and the admin's chat; nothing is queued.
2. *Confirm* records the audience and makes it ``queued`` (compare-and-set: a double tap, or a
   forged second confirm, changes nothing).
3. *Start* takes the oldest queued broadcast when none is ``sending`` and, in ONE transaction,
   marks it ``sending`` and writes one outbox row per reader of its audience. A partial unique
   index allows one ``sending`` broadcast at a time, so two processes starting two broadcasts at
   once cannot both win; and a crash leaves either no rows or all of them.
   The rows are due one after another at the broadcast rate (``next_attempt_at`` staggered),
   or all at once for a paid broadcast (``interval`` 0: the sender paces those by their own
   budget). The sender claims broadcast rows and the others in separate lanes, so a digest that
   falls due during a long broadcast goes out between its messages instead of after the last.
4. The outbox sender sends the rows; this module only reads their counts.
5. *Finish* (``done``, or a cancelled one whose in-flight rows settled) and *reported* (the final
   report is on the admin's screen) are recorded separately, so a crash between the two still
   ends with the report shown.

The audience is selected in SQL on the preference tables: readers who finished setup, did not
block the bot (``active``) and have not paused deliveries; by country = follows it (primary or
other), by language = any subscribed language, by UI language = ``users.ui_language``.

Over 350 lines on purpose: a broadcast's life (draft, confirm, audience, progress, cancel, report)
is one state machine over two tables, and its compare-and-set steps belong together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Interval,
    Table,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from storage.errors import wraps_errors
from storage.tables import Broadcast, Delivery, User, UserCountry, UserLanguage

AUDIENCE_KINDS = ("all", "country", "language", "ui_language")
KIND = "broadcast"  # the outbox ``kind`` of broadcast rows
_B: Table = Broadcast.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = Delivery.__table__  # type: ignore[attr-defined]
_USERS: Table = User.__table__  # type: ignore[attr-defined]
_COUNTRIES: Table = UserCountry.__table__  # type: ignore[attr-defined]
_LANGUAGES: Table = UserLanguage.__table__  # type: ignore[attr-defined]
_U, _UC, _UL = _USERS.c, _COUNTRIES.c, _LANGUAGES.c
_C = _B.c
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who gets a broadcast: everyone, or readers of one country / language / UI language."""

    kind: str
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in AUDIENCE_KINDS or (self.kind == "all") != (self.value is None):
            raise ValueError(f"not an audience: {self.kind!r} {self.value!r}")


@dataclass(frozen=True, slots=True)
class BroadcastRow:
    """A broadcast as stored; times are timezone-aware UTC."""

    id: int
    admin_id: int
    admin_chat_id: int
    admin_language: str
    status: str
    audience_kind: str | None
    audience_value: str | None
    payload: dict[str, Any]
    total: int
    progress_message_id: int | None
    progress_text: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reported_at: datetime | None

    @property
    def audience(self) -> Audience | None:
        return Audience(self.audience_kind, self.audience_value) if self.audience_kind else None


@wraps_errors
class BroadcastStore:
    """Facade over the broadcasts table and the audience queries behind it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ----------------------------------------------------------------- drafts
    def create_draft(
        self, admin_id: int, admin_chat_id: int, language: str, payload: dict[str, Any],
        now: datetime,
    ) -> BroadcastRow:  # fmt: skip
        """Store what the admin wants to send; nothing is queued until it is confirmed."""
        values = {
            "admin_id": admin_id, "admin_chat_id": admin_chat_id, "admin_language": language,
            "status": "draft", "payload": payload, "total": 0, "created_at": _utc(now),
        }  # fmt: skip
        with self._engine.begin() as conn:
            found = conn.execute(_B.insert().values(**values).returning(*_C)).one()
        return _row(found)

    def set_progress_message(self, broadcast_id: int, message_id: int, text: str | None) -> None:
        """The admin's menu message, which becomes the progress line once confirmed."""
        self._set(broadcast_id, progress_message_id=message_id, progress_text=text)

    def get(self, broadcast_id: int) -> BroadcastRow | None:
        with self._engine.connect() as conn:
            found = conn.execute(select(*_C).where(_C.id == broadcast_id)).first()
        return _row(found) if found is not None else None

    # --------------------------------------------------------------- audience
    def audience_count(self, audience: Audience, now: datetime) -> int:
        stmt = select(func.count()).select_from(_USERS).where(_audience(audience, now))
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def audience_breakdown(self, kind: str, now: datetime) -> dict[str, int]:
        """Reachable readers per country, language or UI language (for the audience menu)."""
        source: FromClause
        if kind == "country":
            key, source = _UC.country, _USERS.join(_COUNTRIES, _UC.user_id == _U.id)
        elif kind == "language":
            key, source = _UL.language, _USERS.join(_LANGUAGES, _UL.user_id == _U.id)
        elif kind == "ui_language":
            key, source = _U.ui_language, _USERS
        else:
            raise ValueError(f"no breakdown by {kind!r}")
        stmt = (
            select(key, func.count(func.distinct(_U.id)))
            .select_from(source)
            .where(_reachable(now))
            .group_by(key)
        )
        with self._engine.connect() as conn:
            return {str(k): int(n) for k, n in conn.execute(stmt)}

    # -------------------------------------------------------------- lifecycle
    def confirm(self, broadcast_id: int, audience: Audience) -> bool:
        """draft → queued with its audience; False if it is no longer a draft."""
        return self._move(broadcast_id, ("draft",), "queued",
                          audience_kind=audience.kind, audience_value=audience.value)  # fmt: skip

    def discard(self, broadcast_id: int, now: datetime) -> bool:
        """Drop a draft (the admin pressed Cancel before confirming); nothing was ever queued."""
        now = _utc(now)
        return self._move(broadcast_id, ("draft",), "cancelled", finished_at=now, reported_at=now)

    def cancel(self, broadcast_id: int, now: datetime) -> bool:
        """Stop a queued or sending broadcast. The caller cancels its pending outbox rows; rows
        already in flight still go out, and ``finish`` records the end once they have."""
        # One statement, so a broadcast starting meanwhile is cancelled as what it has become;
        # a queued one has no rows at all, so it is finished at once.
        finished = case((_C.status == "queued", _utc(now)), else_=None)
        return self._move(broadcast_id, ("queued", "sending"), "cancelled", finished_at=finished)

    def start_next(
        self, now: datetime, interval: timedelta, extra: dict[str, Any] | None = None
    ) -> BroadcastRow | None:
        """Start the oldest queued broadcast if none is sending: its outbox rows are written,
        due ``interval`` apart from ``now``, with ``extra`` merged into the payload.

        Returns the started broadcast, or None (nothing queued, or one is already sending).
        """
        now = _utc(now)
        with self._engine.connect() as conn:
            if conn.execute(select(_C.id).where(_C.status == "sending").limit(1)).first():
                return None
            queued = conn.execute(
                select(_C.id).where(_C.status == "queued").order_by(_C.id).limit(1)
            ).scalar()
        if queued is None:
            return None
        try:
            with self._engine.begin() as conn:
                moved = conn.execute(
                    update(_B).where(_C.id == queued, _C.status == "queued")
                    .values(status="sending", started_at=now)
                )  # fmt: skip
                if moved.rowcount != 1:
                    return None  # another process started it first
                row = _row(conn.execute(select(*_C).where(_C.id == queued)).one())
                assert row.audience is not None  # confirmed broadcasts have one
                payload = {**row.payload, **(extra or {})}
                total = _write_outbox(conn, row, payload, now, interval)
                conn.execute(update(_B).where(_C.id == queued).values(total=total))
        except IntegrityError:
            return None  # the unique index: another process made a broadcast sending first
        return self.get(queued)

    def finish(self, broadcast_id: int, now: datetime) -> bool:
        """Nothing of it is in flight any more: sending → done, or a cancelled one finished."""
        now = _utc(now)
        if self._move(broadcast_id, ("sending",), "done", finished_at=now):
            return True
        stmt = (
            update(_B)
            .where(_C.id == broadcast_id, _C.status == "cancelled", _C.finished_at.is_(None))
            .values(finished_at=now)
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def unfinished(self) -> list[BroadcastRow]:
        """Every broadcast the progress job still has to look after: queued, sending, or over
        without its final report shown yet; oldest first."""
        over_unreported = and_(_C.status.in_(("done", "cancelled")), _C.reported_at.is_(None))
        stmt = select(*_C).where(or_(_C.status.in_(("queued", "sending")), over_unreported))
        with self._engine.connect() as conn:
            return [_row(r) for r in conn.execute(stmt.order_by(_C.id))]

    def swap_progress_text(self, broadcast_id: int, expected: str | None, new: str | None) -> bool:
        """Compare-and-set the progress text: the one caller that wins makes the edit, so two
        processes (or a retry) never send the same edit twice ("message is not modified")."""
        expected_is = _C.progress_text.is_(None) if expected is None else (
            _C.progress_text == expected
        )  # fmt: skip
        stmt = update(_B).where(_C.id == broadcast_id, expected_is).values(progress_text=new)
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def mark_reported(self, broadcast_id: int, now: datetime) -> None:
        self._set(broadcast_id, reported_at=_utc(now))

    # ---------------------------------------------------------------- reading
    def failure_reasons(self, broadcast_id: int, limit: int = 3) -> list[tuple[str, int]]:
        """The most common reasons of the broadcast's failed rows, most frequent first."""
        count = func.count().label("n")
        stmt = (
            select(_OUTBOX.c.last_error, count)
            .where(_OUTBOX.c.broadcast_id == broadcast_id, _OUTBOX.c.status == "failed")
            .group_by(_OUTBOX.c.last_error)
            .order_by(count.desc(), _OUTBOX.c.last_error)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [(str(reason or "?"), int(n)) for reason, n in conn.execute(stmt)]

    # ---------------------------------------------------------------- helpers
    def _move(self, broadcast_id: int, sources: Sequence[str], target: str, **values: Any) -> bool:
        stmt = (
            update(_B)
            .where(_C.id == broadcast_id, _C.status.in_(sources))
            .values(status=target, **values)
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def _set(self, broadcast_id: int, **values: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(_B).where(_C.id == broadcast_id).values(**values))


def _paused(now: datetime) -> ColumnElement[bool]:
    """Paused until resumed (no end), or until a time still ahead."""
    return and_(_U.paused.is_(True), or_(_U.paused_until.is_(None), _U.paused_until > _utc(now)))


def _reachable(now: datetime) -> ColumnElement[bool]:
    """A reader a broadcast may go to: set up, has not blocked the bot, not paused."""
    return and_(_U.active.is_(True), _U.setup_complete.is_(True), ~_paused(now))


def _audience(audience: Audience, now: datetime) -> ColumnElement[bool]:
    reachable = _reachable(now)
    if audience.kind == "country":
        follows = select(_UC.user_id).where(_UC.user_id == _U.id, _UC.country == audience.value)
        return and_(reachable, exists(follows))
    if audience.kind == "language":
        reads = select(_UL.user_id).where(_UL.user_id == _U.id, _UL.language == audience.value)
        return and_(reachable, exists(reads))
    if audience.kind == "ui_language":
        return and_(reachable, _U.ui_language == audience.value)
    return reachable


def _write_outbox(
    conn: Connection,
    row: BroadcastRow,
    payload: dict[str, Any],
    now: datetime,
    interval: timedelta,
) -> int:
    """One outbox row per reader of the audience, the n-th (by user id) due at
    ``now + n * interval``; returns how many. One INSERT ... SELECT: the rows never pass
    through Python (100,000 of them took 6.6 s as parameter lists, mostly SQLAlchemy's
    per-row processing, and held SQLite's write lock all that time)."""
    assert row.audience is not None
    position = func.row_number().over(order_by=_U.id) - 1
    columns = {
        "user_id": _U.id,
        "chat_id": _U.chat_id,
        "kind": literal(KIND),
        "slot_key": literal(f"b{row.id}"),
        "broadcast_id": literal(row.id, BigInteger),
        "payload": literal(payload, JSON),
        "status": literal("pending"),
        "attempts": literal(0),
        "next_attempt_at": _due(conn.dialect.name, now, interval, position),
        "created_at": literal(now, DateTime(timezone=True)),
    }
    rows = select(*(c.label(name) for name, c in columns.items()))
    rows = rows.where(_audience(row.audience, now))
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_OUTBOX).from_select(list(columns), rows)
    conn.execute(stmt.on_conflict_do_nothing())
    # Counted, not taken from rowcount: psycopg reports -1 for this statement.
    count = select(func.count()).where(_OUTBOX.c.broadcast_id == row.id)
    return int(conn.execute(count).scalar_one())


def _due(
    dialect: str, now: datetime, interval: timedelta, position: ColumnElement[int]
) -> ColumnElement[Any]:
    """``now + position * interval`` in SQL. SQLite has no datetime arithmetic to the
    microsecond, so it is done in integer microseconds and written in the exact text format
    SQLAlchemy stores (``YYYY-MM-DD HH:MM:SS.ffffff``), which the outbox compares as text."""
    if dialect == "postgresql":
        return literal(now, DateTime(timezone=True)) + position * literal(interval, Interval)
    micros = timedelta(microseconds=1)
    at = literal((now - _EPOCH) // micros) + position * (interval // micros)
    seconds = func.strftime("%Y-%m-%d %H:%M:%S", at // 1_000_000, "unixepoch")
    return seconds.concat(".").concat(func.printf("%06d", at % 1_000_000))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(r: Row[Any]) -> BroadcastRow:
    values = dict(r._mapping)
    for key in ("created_at", "started_at", "finished_at", "reported_at"):
        if values[key] is not None:
            values[key] = _utc(values[key])
    values["payload"] = dict(values["payload"])
    return BroadcastRow(**values)
