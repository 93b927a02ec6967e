"""Feed health and conditional-GET state: which feeds are due, and how each fetch went.

The schedule lives here (``next_fetch_at``) so that a restarted bot does not hammer every
publisher at once, and a failing feed keeps its back-off across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, Table, bindparam, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage.db import session_scope
from storage.errors import wraps_errors
from storage.tables import FeedState

_FEEDS: Table = FeedState.__table__  # type: ignore[attr-defined]
_SUCCESS = (
    update(_FEEDS)
    .where(_FEEDS.c.id == bindparam("b_id"))
    .values(
        last_fetch_at=bindparam("b_now"),
        last_success_at=bindparam("b_now"),
        last_error=None,
        consecutive_failures=0,
        next_fetch_at=bindparam("b_next"),
        etag=bindparam("b_etag"),
        last_modified=bindparam("b_modified"),
        items_seen=func.coalesce(bindparam("b_items", type_=Integer), _FEEDS.c.items_seen),
    )
)


@dataclass(frozen=True, slots=True)
class FetchSuccess:
    """One successful fetch (a 200 or a 304) to record; ``items_seen`` None keeps the count."""

    feed_id: int
    now: datetime
    next_fetch_at: datetime
    etag: str | None
    last_modified: str | None
    items_seen: int | None


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A feed as ingest sees it."""

    id: int
    source_id: str
    url: str
    category: str
    etag: str | None
    last_modified: str | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    items_seen: int
    next_fetch_at: datetime


@wraps_errors
class FeedStore:
    """Facade over the feeds table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def sync(self, feeds: Iterable[tuple[str, str, str]], now: datetime) -> int:
        """Make the table hold exactly the catalog's (source_id, url, category) feeds.

        Known feeds keep their health and validators; new ones are due at once; feeds gone from
        the catalog are removed. Returns how many feeds there are.
        """
        wanted = {(source, url): category for source, url, category in feeds}
        with session_scope(self._engine) as session:
            existing = {(f.source_id, f.url): f for f in session.exec(select(FeedState)).all()}
            for key, row in existing.items():
                if key not in wanted:
                    session.delete(row)
                elif row.category != wanted[key]:
                    row.category = wanted[key]
                    session.add(row)
            for (source, url), category in wanted.items():
                if (source, url) not in existing:
                    session.add(
                        FeedState(source_id=source, url=url, category=category, next_fetch_at=now)
                    )
        return len(wanted)

    def all(self) -> list[FeedRow]:
        with Session(self._engine) as session:
            rows = session.exec(select(FeedState).order_by(col(FeedState.id))).all()
            return [_row(f) for f in rows]

    def due(self, now: datetime) -> list[FeedRow]:
        """Feeds whose next fetch time has come, most overdue first."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(FeedState)
                .where(col(FeedState.next_fetch_at) <= now)
                .order_by(col(FeedState.next_fetch_at), col(FeedState.id))
            ).all()
            return [_row(f) for f in rows]

    def record_successes(self, successes: Iterable[FetchSuccess]) -> None:
        """Each a 200 or a 304: clear the failure streak, keep the validators for next time.
        One transaction, one executemany UPDATE for the whole batch."""
        rows = [
            {
                "b_id": s.feed_id,
                "b_now": s.now,
                "b_next": s.next_fetch_at,
                "b_etag": _clip(s.etag, 512),
                "b_modified": _clip(s.last_modified, 128),
                "b_items": s.items_seen,  # None keeps the stored count
            }
            for s in successes
        ]
        if rows:
            with self._engine.begin() as connection:
                connection.execute(_SUCCESS, rows)

    def record_failure(
        self, feed_id: int, *, now: datetime, error: str, next_fetch_at: datetime
    ) -> None:
        """A failed fetch or parse: count it, keep a short reason, back off."""
        self._update(
            feed_id,
            {
                "last_fetch_at": now,
                "last_error": _clip(error, 300),
                "consecutive_failures": _FEEDS.c.consecutive_failures + 1,
                "next_fetch_at": next_fetch_at,
            },
        )

    def _update(self, feed_id: int, values: dict[str, object]) -> None:
        # Core on a connection, not an ORM session: these run once per feed per pass, and a
        # session for one statement cost about ten times as much (1 ms against 0.1 ms, SQLite).
        with self._engine.begin() as connection:
            connection.execute(update(_FEEDS).where(_FEEDS.c.id == feed_id).values(**values))


def _clip(text: str | None, limit: int) -> str | None:
    return text[:limit] if text else None


def _row(feed: FeedState) -> FeedRow:
    assert feed.id is not None
    return FeedRow(
        id=feed.id,
        source_id=feed.source_id,
        url=feed.url,
        category=feed.category,
        etag=feed.etag,
        last_modified=feed.last_modified,
        last_success_at=feed.last_success_at,
        last_error=feed.last_error,
        consecutive_failures=feed.consecutive_failures,
        items_seen=feed.items_seen,
        next_fetch_at=feed.next_fetch_at,
    )
