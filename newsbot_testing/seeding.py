"""A database with many readers whose digest is due now, inserted in bulk (tests only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from storage.articles import ArticleInput, ArticleStore
from storage.db import make_engine, migrate
from storage.tables import (
    User,
    UserCategory,
    UserCountry,
    UserDeliveryTime,
    UserLanguage,
    UserSource,
)

FIRST_ID = 500_000


def seed_due_readers(url: str, count: int) -> list[int]:
    """``count`` Canadian CBC readers of National news, due one minute ago (UTC)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    slot = now - timedelta(minutes=1)
    engine = make_engine(url)
    migrate(engine)
    articles = ArticleStore(engine)
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
    rows = articles.upsert("cbc", stories, now).new
    articles.set_clusters({r.id: r.id for r in rows})
    ids = list(range(FIRST_ID, FIRST_ID + count))
    with engine.begin() as conn:
        conn.execute(insert(User), [
            {"id": uid, "chat_id": uid, "ui_language": "en", "timezone": "UTC",
             "flow_mode": "settings", "setup_complete": True, "active": True, "paused": False,
             "next_due_at": slot, "stories_per_digest": 5, "empty_digest": "skip",
             "created_at": now, "updated_at": now}
            for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserCountry), [
            {"user_id": uid, "country": "CA", "is_primary": True, "position": 0} for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserLanguage), [
            {"user_id": uid, "country": "CA", "language": "en", "is_primary": True} for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserSource), [
            {"user_id": uid, "country": "CA", "source_id": "cbc", "is_primary": True}
            for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserCategory), [
            {"user_id": uid, "category": "national"} for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserDeliveryTime), [
            {"user_id": uid, "minute": slot.hour * 60 + slot.minute} for uid in ids
        ])  # fmt: skip
    engine.dispose()
    return ids
