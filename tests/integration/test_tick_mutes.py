"""Mutes in the digest tick: part of what makes digests equal, free for readers without any."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from digest.catalog import Catalog
from push.tick import DigestScheduler
from storage.articles import ArticleInput, ArticleStore
from storage.deliveries import DeliveryStore
from storage.mutes import MuteStore
from storage.users import UserStore

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def story(key: str, title: str, hours: float) -> ArticleInput:
    return ArticleInput(
        entry_key=key, url=f"https://news.example/{key}", title=title, summary="",
        image_url=None, published_at=NOW - timedelta(hours=hours), language="en",
        categories=("national",),
    )  # fmt: skip


def reader(users: UserStore, user_id: int, sources: tuple[str, ...]) -> None:
    users.ensure(user_id, user_id, "R", "en")
    users.set_primary_country(user_id, "US")
    users.set_primary_language(user_id, "US", "en")
    users.set_primary_source(user_id, "US", sources[0])
    for other in sources[1:]:
        users.toggle_other_source(user_id, "US", other)
    users.set_categories(user_id, ["national"])
    users.set_delivery_minutes(user_id, [720])
    users.set_timezone(user_id, "UTC")
    users.set_setup_complete(user_id)
    users.set_next_due(user_id, NOW - timedelta(seconds=30))


def test_mutes_split_shared_digests_only_for_those_who_mute(
    engine: Engine, catalog: Catalog
) -> None:
    us = [s.id for s in catalog.sources if s.offered and "US" in s.countries and s.language == "en"]
    first, second = us[0], us[1]
    articles = ArticleStore(engine)
    rows = articles.upsert(
        first,
        [story("a", "Senate passes the budget", 1), story("b", "Storm watch for the coast", 2)],
        NOW,
    ).new
    rows += articles.upsert(second, [story("c", "Budget reaction", 0.5)], NOW).new
    articles.set_clusters({r.id: r.id for r in rows})
    users, deliveries, mutes = UserStore(engine), DeliveryStore(engine), MuteStore(engine)
    for user_id in (1, 2, 3, 4):
        reader(users, user_id, (first, second))
    mutes.mute_word(3, "Budget", "budget")
    mutes.mute_source(4, second)
    scheduler = DigestScheduler(users, articles, deliveries, catalog, mutes=mutes)
    report = scheduler.tick(NOW)
    assert report.enqueued == 4
    assert report.messages == 3, "readers 1 and 2 share one message; 3 and 4 have their own"
    texts = {u: deliveries.for_user(u)[0].payload["text"] for u in (1, 2, 3, 4)}
    assert texts[1] == texts[2] and "Budget reaction" in texts[1]
    assert "Budget" not in texts[3] and "Storm watch" in texts[3]
    assert "Budget reaction" not in texts[4] and "Senate passes the budget" in texts[4]
