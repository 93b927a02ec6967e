"""Many set-up readers, and the stories they read, written to a database in bulk.

The per-user store API costs a round trip per row: fine for a handful of readers, far too slow
for the hundreds an e2e fan-out needs or the 100,000 of a benchmark. Here one INSERT per table
writes them all, rows shaped as the setup flow leaves them (set up, active, not paused, five
stories per digest, empty digests skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from storage.articles import ArticleInput, ArticleStore
from storage.db import make_engine, migrate
from storage.due_readers import refresh_preferences
from storage.tables import (
    User,
    UserCategory,
    UserCountry,
    UserDeliveryTime,
    UserLanguage,
    UserSource,
)

FIRST_ID = 500_000


@dataclass(frozen=True)
class OtherCountry:
    """A secondary country of a seeded reader: its languages and sources, primary first."""

    country: str
    languages: Sequence[str]
    sources: Sequence[str] = ()


@dataclass(frozen=True)
class Reader:
    """One set-up reader: one country and news language, ``sources`` (the first is primary),
    ``categories``, and delivery ``minutes`` after local midnight. ``other_languages`` are more
    languages for the primary country, ``others`` more countries (the benchmark's spread)."""

    id: int
    country: str
    language: str
    sources: Sequence[str] = ()
    categories: Sequence[str] = ()
    minutes: Sequence[int] = ()
    timezone: str = "UTC"
    next_due_at: datetime | None = None
    other_languages: Sequence[str] = ()
    others: Sequence[OtherCountry] = ()
    ui_language: str = "en"
    stories_per_digest: int = 5
    empty_digest: str = "skip"

    def choices(self) -> list[OtherCountry]:
        """Every followed country, the primary first."""
        primary = OtherCountry(self.country, (self.language, *self.other_languages), self.sources)
        return [primary, *self.others]


def insert_readers(conn: Connection, readers: Sequence[Reader], now: datetime) -> None:
    """Insert ``readers`` (chat id = user id) with one statement per table, and their
    preferences text with one more, in ``conn``'s transaction."""
    conn.execute(insert(User), [
        {"id": r.id, "chat_id": r.id, "ui_language": r.ui_language, "timezone": r.timezone,
         "flow_mode": "settings", "setup_complete": True, "active": True, "paused": False,
         "next_due_at": r.next_due_at, "stories_per_digest": r.stories_per_digest,
         "empty_digest": r.empty_digest, "created_at": now, "updated_at": now}
        for r in readers
    ])  # fmt: skip
    conn.execute(insert(UserCountry), [
        {"user_id": r.id, "country": c.country, "is_primary": p == 0, "position": p}
        for r in readers for p, c in enumerate(r.choices())
    ])  # fmt: skip
    conn.execute(insert(UserLanguage), [
        {"user_id": r.id, "country": c.country, "language": lang, "is_primary": i == 0}
        for r in readers for c in r.choices() for i, lang in enumerate(c.languages)
    ])  # fmt: skip
    rows: dict[type[SQLModel], list[dict[str, Any]]] = {
        UserSource: [
            {"user_id": r.id, "country": c.country, "source_id": s, "is_primary": i == 0}
            for r in readers for c in r.choices() for i, s in enumerate(c.sources)
        ],
        UserCategory: [{"user_id": r.id, "category": c} for r in readers for c in r.categories],
        UserDeliveryTime: [{"user_id": r.id, "minute": m} for r in readers for m in r.minutes],
    }  # fmt: skip
    for table, values in rows.items():
        if values:
            conn.execute(insert(table), values)
    # the preferences text the setters keep, here for all of them at once: one statement
    refresh_preferences(conn, [r.id for r in readers])


def add_stories(
    store: ArticleStore, source_id: str, items: Sequence[ArticleInput], now: datetime
) -> None:
    """Store ``items`` from ``source_id``, each new article a story (cluster) of its own."""
    rows = store.upsert(source_id, items, now).new
    store.set_clusters({r.id: r.id for r in rows})


def seed_due_readers(url: str, count: int) -> list[int]:
    """``count`` Canadian CBC readers of National news, due one minute ago (UTC), in a migrated
    database at ``url``, with six CBC stories to send them."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    slot = now - timedelta(minutes=1)
    engine: Engine = make_engine(url)
    migrate(engine)
    stories = [
        ArticleInput(
            entry_key=f"cbc-{i}",
            url=f"https://www.cbc.ca/news/{i}",
            title=f"CBC national story number {i}",
            summary="What happened, in one sentence.",
            image_url=None,
            published_at=now - timedelta(hours=i + 1),
            language="en",
            categories=("national",),
        )
        for i in range(6)
    ]
    add_stories(ArticleStore(engine), "cbc", stories, now)
    ids = list(range(FIRST_ID, FIRST_ID + count))
    minute = slot.hour * 60 + slot.minute
    readers = [
        Reader(uid, "CA", "en", ("cbc",), ("national",), (minute,), next_due_at=slot) for uid in ids
    ]
    with engine.begin() as conn:
        insert_readers(conn, readers, now)
    engine.dispose()
    return ids
