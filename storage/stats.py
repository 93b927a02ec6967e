"""Admin statistics: readers, preferences, pushes and feed health, counted by the database.

Every figure is an aggregate query (COUNT/SUM with GROUP BY), so a snapshot costs the same few
queries with ten readers or a million, and no user row is ever loaded into Python. The queries
are plain SQLAlchemy Core that SQLite and PostgreSQL both run:

- conditional counts are ``SUM(CASE WHEN … THEN 1 ELSE 0 END)`` rather than ``COUNT(*) FILTER``;
- per-day series are bucketed by a ``CASE`` over UTC day boundaries computed here, not by SQL date
  functions (``date()`` of a ``timestamptz`` depends on the PostgreSQL session's time zone, and
  SQLite stores text), then grouped by that bucket number;
- "never succeeded" sorts first with an explicit ``NULLS FIRST`` (the two disagree by default).

Times are UTC; a "day" is a UTC calendar day, the same for every admin whatever their timezone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select
from sqlalchemy.engine import Connection, Engine

from storage.errors import wraps_errors
from storage.tables import Delivery, FeedState, User, UserCategory, UserCountry, UserLanguage

_USERS: Table = User.__table__  # type: ignore[attr-defined]
_COUNTRIES: Table = UserCountry.__table__  # type: ignore[attr-defined]
_LANGUAGES: Table = UserLanguage.__table__  # type: ignore[attr-defined]
_CATEGORIES: Table = UserCategory.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = Delivery.__table__  # type: ignore[attr-defined]
_FEEDS: Table = FeedState.__table__  # type: ignore[attr-defined]
WORST_FEEDS = 5


@dataclass(frozen=True, slots=True)
class ReaderCounts:
    """Every user falls in exactly one of blocked / paused / setting up / active.

    ``blocked``: the bot can no longer reach them (``active`` is false). ``paused``: reachable, with
    a pause still running at the snapshot time (a pause whose end has passed no longer counts).
    ``setting_up``: reachable, not paused, setup unfinished. ``new_this_week`` counts every user
    created in the seven days before the snapshot, whatever their state now.
    """

    total: int
    active: int
    paused: int
    blocked: int
    setting_up: int
    new_this_week: int


@dataclass(frozen=True, slots=True)
class BroadcastCounts:
    """Broadcast pushes (outbox rows of kind "broadcast") by outcome, over all broadcasts."""

    broadcasts: int
    sent: int
    blocked: int
    failed: int
    pending: int


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """A failing feed, with what an operator needs to go and look at it."""

    source_id: str
    url: str
    category: str
    failures: int
    last_success_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """``ok``: last fetch succeeded. ``failing``: one or more failures in a row. ``backing_off``:
    pushed further out than the normal refresh interval. ``never_fetched``: not tried yet.
    ``worst``: up to five failing feeds, most failures first, then the longest without success."""

    total: int
    ok: int
    failing: int
    backing_off: int
    never_fetched: int
    worst: tuple[FeedProblem, ...]


@dataclass(frozen=True, slots=True)
class DayCount:
    """One UTC day of the chart: readers who joined and digests that went out."""

    day: date
    new_readers: int
    digests_sent: int


@dataclass(frozen=True, slots=True)
class Stats:
    """One snapshot. Breakdowns are (key, readers) pairs, largest first, over reachable readers
    (not blocked): country is the primary one, a reader counts once per language and category."""

    taken_at: datetime
    readers: ReaderCounts
    by_country: tuple[tuple[str, int], ...]
    by_language: tuple[tuple[str, int], ...]
    by_category: tuple[tuple[str, int], ...]
    digests_today: int
    digests_yesterday: int
    broadcasts: BroadcastCounts
    feeds: FeedHealth
    daily: tuple[DayCount, ...]


@wraps_errors
class StatsStore:
    """Read-only facade computing :class:`Stats` from the users, deliveries and feeds tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def snapshot(
        self, now: datetime, days: int = 30, *, refresh: timedelta = timedelta(seconds=900)
    ) -> Stats:
        """Everything /stats shows, as of ``now``, with a per-day series of ``days`` UTC days
        ending today. ``refresh`` is the normal feed interval: a feed due later than that is
        backing off."""
        if days < 1:
            raise ValueError("days must be at least 1")
        now = _utc(now)
        today = datetime.combine(now.date(), time(), UTC)
        starts = [today - timedelta(days=n) for n in range(max(days, 2) - 1, -1, -1)]
        with self._engine.connect() as conn:
            joined = _daily(conn, _USERS.c.created_at, starts)
            sent = _daily(
                conn, _OUTBOX.c.sent_at, starts, _OUTBOX.c.kind == "digest",
                _OUTBOX.c.status == "sent",
            )  # fmt: skip
            return Stats(
                taken_at=now,
                readers=_readers(conn, now),
                by_country=_breakdown(
                    conn, _COUNTRIES, _COUNTRIES.c.country, _COUNTRIES.c.is_primary.is_(True)
                ),
                by_language=_breakdown(conn, _LANGUAGES, _LANGUAGES.c.language),
                by_category=_breakdown(conn, _CATEGORIES, _CATEGORIES.c.category),
                digests_today=sent[-1],
                digests_yesterday=sent[-2],
                broadcasts=_broadcasts(conn),
                feeds=_feeds(conn, now, refresh),
                daily=tuple(
                    DayCount(start.date(), j, s)
                    for start, j, s in list(zip(starts, joined, sent, strict=True))[-days:]
                ),
            )


def _readers(conn: Connection, now: datetime) -> ReaderCounts:
    u = _USERS.c
    reachable = u.active.is_(True)
    pausing = and_(u.paused.is_(True), or_(u.paused_until.is_(None), u.paused_until > now))
    row = conn.execute(
        select(
            func.count(),
            _count_if(and_(reachable, ~pausing, u.setup_complete.is_(True))),
            _count_if(and_(reachable, pausing)),
            _count_if(~reachable),
            _count_if(and_(reachable, ~pausing, u.setup_complete.is_(False))),
            _count_if(and_(u.created_at > now - timedelta(days=7), u.created_at <= now)),
        ).select_from(_USERS)
    ).one()
    return ReaderCounts(*(int(n or 0) for n in row))


def _breakdown(
    conn: Connection, table: Table, key: Any, *where: ColumnElement[bool]
) -> tuple[tuple[str, int], ...]:
    """Distinct reachable readers per ``key`` of a user_* table, largest first, then by key."""
    readers = func.count(func.distinct(table.c.user_id)).label("readers")
    stmt = (
        select(key, readers)
        .select_from(table.join(_USERS, _USERS.c.id == table.c.user_id))
        .where(_USERS.c.active.is_(True), *where)
        .group_by(key)
        .order_by(readers.desc(), key)
    )
    return tuple((str(k), int(n)) for k, n in conn.execute(stmt))


def _daily(
    conn: Connection, stamp: Any, starts: Sequence[datetime], *where: ColumnElement[bool]
) -> list[int]:
    """Rows per UTC day (one count per entry of ``starts``, zeros included).

    A CASE maps each timestamp to its day's index and the database groups by that index, so at
    most ``len(starts)`` rows come back whatever the row count.
    """
    end = starts[-1] + timedelta(days=1)
    bucket = case(
        *((stamp >= start, index) for index, start in reversed(list(enumerate(starts)))),
        else_=-1,
    ).label("bucket")
    stmt = (
        select(bucket, func.count())
        .where(stamp >= starts[0], stamp < end, *where)
        .group_by("bucket")
    )
    counts = [0] * len(starts)
    for index, n in conn.execute(stmt):
        if 0 <= index < len(counts):
            counts[index] = int(n)
    return counts


def _broadcasts(conn: Connection) -> BroadcastCounts:
    t = _OUTBOX.c
    row = conn.execute(
        select(
            func.count(func.distinct(t.broadcast_id)),
            _count_if(t.status == "sent"),
            _count_if(t.status == "blocked"),
            _count_if(t.status == "failed"),
            _count_if(t.status.in_(("pending", "sending"))),
        ).where(t.kind == "broadcast")
    ).one()
    return BroadcastCounts(*(int(n or 0) for n in row))


def _feeds(conn: Connection, now: datetime, refresh: timedelta) -> FeedHealth:
    f = _FEEDS.c
    row = conn.execute(
        select(
            func.count(),
            _count_if(and_(f.consecutive_failures == 0, f.last_success_at.is_not(None))),
            _count_if(f.consecutive_failures > 0),
            _count_if(f.next_fetch_at > now + refresh),
            _count_if(f.last_fetch_at.is_(None)),
        ).select_from(_FEEDS)
    ).one()
    worst = conn.execute(
        select(
            f.source_id, f.url, f.category, f.consecutive_failures, f.last_success_at, f.last_error
        )
        .where(f.consecutive_failures > 0)
        .order_by(f.consecutive_failures.desc(), f.last_success_at.asc().nulls_first(), f.id)
        .limit(WORST_FEEDS)
    )
    problems = tuple(
        FeedProblem(source, url, category, int(n), _utc_or_none(success), error)
        for source, url, category, n, success, error in worst
    )
    total, ok, failing, backing_off, never = (int(n or 0) for n in row)
    return FeedHealth(total, ok, failing, backing_off, never, problems)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """``SUM(CASE WHEN condition THEN 1 ELSE 0 END)``: a conditional count both databases run."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)
