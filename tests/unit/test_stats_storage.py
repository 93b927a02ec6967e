"""StatsStore: every figure of /stats against a database whose answers are known by construction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from storage.stats import DayCount, FeedProblem, Stats, StatsStore
from storage.tables import Delivery, FeedState, User, UserCategory, UserCountry, UserLanguage

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 25, tzinfo=UTC)
REFRESH = timedelta(minutes=15)


def reader(
    user_id: int,
    created_at: datetime,
    *,
    countries: dict[str, list[str]] | None = None,
    categories: tuple[str, ...] = (),
    setup: bool = True,
    active: bool = True,
    paused: bool = False,
    paused_until: datetime | None = None,
) -> list[SQLModel]:
    """The rows of one reader: the user, their countries (first is primary), languages (first
    of each country is primary) and categories."""
    rows: list[SQLModel] = [
        User(id=user_id, chat_id=user_id, setup_complete=setup, active=active, paused=paused,
             paused_until=paused_until, created_at=created_at)
    ]  # fmt: skip
    for position, (country, languages) in enumerate((countries or {}).items()):
        rows.append(UserCountry(user_id=user_id, country=country, is_primary=position == 0,
                                position=position))  # fmt: skip
        rows += [
            UserLanguage(user_id=user_id, country=country, language=lang, is_primary=i == 0)
            for i, lang in enumerate(languages)
        ]
    rows += [UserCategory(user_id=user_id, category=c) for c in categories]
    return rows


def seed_readers(engine: Engine) -> None:
    rows = [
        *reader(1, T0 - timedelta(days=40), countries={"IN": ["en", "hi"], "US": ["en"]},
                categories=("national", "sports")),
        *reader(2, T0 - timedelta(days=3), countries={"US": ["en"]}, categories=("national",)),
        *reader(3, T0 - timedelta(days=10), countries={"DE": ["de"]}, categories=("business",),
                paused=True),
        # A pause that ended an hour ago no longer counts: the reader gets digests again.
        *reader(4, TODAY - timedelta(microseconds=1), countries={"IN": ["hi"]},
                categories=("national",), paused=True, paused_until=T0 - timedelta(hours=1)),
        *reader(5, T0 - timedelta(days=20), countries={"IN": ["en"]}, paused=True,
                paused_until=T0 + timedelta(days=1)),
        # Blocked: counted in the totals and "new this week", never in the breakdowns.
        *reader(6, T0 - timedelta(days=2), countries={"IN": ["en"]}, categories=("national",),
                active=False),
        *reader(7, TODAY, countries={"QA": ["ar"]}, setup=False),
        *reader(8, T0 - timedelta(days=8), setup=False, paused=True),
    ]  # fmt: skip
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def outbox(user_id: int, slot: str, status: str, sent_at: datetime | None, kind: str = "digest",
           broadcast_id: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "user_id": user_id, "chat_id": user_id, "kind": kind, "slot_key": slot,
        "broadcast_id": broadcast_id, "payload": {}, "status": status, "attempts": 1,
        "next_attempt_at": T0 - timedelta(days=40), "sent_at": sent_at,
        "created_at": T0 - timedelta(days=40),
    }  # fmt: skip


def seed_deliveries(engine: Engine) -> None:
    rows = [
        outbox(1, "d1", "sent", T0 - timedelta(hours=1)),
        outbox(2, "d2", "sent", TODAY),  # midnight belongs to the new day
        outbox(4, "d3", "sent", TODAY - timedelta(seconds=1)),
        outbox(1, "d4", "sent", TODAY - timedelta(hours=16)),
        outbox(2, "d5", "sent", TODAY - timedelta(days=1, hours=1)),
        outbox(1, "d6", "failed", None),
        outbox(4, "d7", "pending", None),
        outbox(1, "d8", "sent", TODAY - timedelta(days=31)),  # before the 30-day window
        outbox(1, "b1", "sent", T0, kind="broadcast", broadcast_id=1),
        outbox(2, "b1", "sent", T0, kind="broadcast", broadcast_id=1),
        outbox(6, "b1", "blocked", None, kind="broadcast", broadcast_id=1),
        outbox(5, "b1", "failed", None, kind="broadcast", broadcast_id=1),
        outbox(1, "b2", "pending", None, kind="broadcast", broadcast_id=2),
        outbox(2, "b2", "sending", None, kind="broadcast", broadcast_id=2),
    ]
    with engine.begin() as conn:
        conn.execute(insert(Delivery), rows)


def feed(
    name: str,
    next_in: timedelta,
    *,
    success_ago: timedelta | None = None,
    failures: int = 0,
    error: str | None = None,
) -> FeedState:
    """A feed as ingest leaves it: fetched at T0 unless it never succeeded nor failed."""
    fetched = success_ago is not None or failures > 0
    return FeedState(
        source_id=name, url=f"https://{name}.example/rss", category="national",
        last_fetch_at=T0 if fetched else None,
        last_success_at=None if success_ago is None else T0 - success_ago,
        consecutive_failures=failures, last_error=error, next_fetch_at=T0 + next_in,
    )  # fmt: skip


def seed_feeds(engine: Engine) -> None:
    minutes = timedelta(minutes=1)
    feeds = [
        feed("a", 5 * minutes, success_ago=10 * minutes),
        feed("b", 120 * minutes, success_ago=timedelta(days=5), failures=3, error="HTTP 500"),
        feed("c", 10 * minutes, failures=3, error="timeout"),  # never succeeded: worse than b
        feed("d", 360 * minutes, failures=5, error="DNS <lookup> failed"),
        feed("e", -2 * timedelta(days=1)),  # never fetched
        feed("f", REFRESH, success_ago=60 * minutes),  # due one interval out: not backing off
        feed("g", 5 * minutes, success_ago=timedelta(hours=3), failures=1, error="HTTP 404"),
        feed("h", 5 * minutes, success_ago=timedelta(days=1), failures=1, error="HTTP 404"),
        feed("i", 5 * minutes, success_ago=timedelta(0), failures=1, error="HTTP 404"),
    ]
    with Session(engine) as session:
        session.add_all(feeds)
        session.commit()


@pytest.fixture
def stats(engine: Engine) -> Stats:
    seed_readers(engine)
    seed_deliveries(engine)
    seed_feeds(engine)
    return StatsStore(engine).snapshot(T0, refresh=REFRESH)


def test_reader_counts_partition_every_user(stats: Stats) -> None:
    r = stats.readers
    assert (r.total, r.active, r.paused, r.blocked, r.setting_up) == (8, 3, 3, 1, 1)
    assert r.active + r.paused + r.blocked + r.setting_up == r.total
    assert r.new_this_week == 4  # readers 2, 4, 6 and 7
    assert stats.taken_at == T0


def test_breakdowns_count_reachable_readers_once(stats: Stats) -> None:
    assert stats.by_country == (("IN", 3), ("DE", 1), ("QA", 1), ("US", 1))
    # Reader 1 reads English in two countries and still counts once.
    assert stats.by_language == (("en", 3), ("hi", 2), ("ar", 1), ("de", 1))
    assert stats.by_category == (("national", 3), ("business", 1), ("sports", 1))


def test_digests_and_broadcasts(stats: Stats) -> None:
    assert (stats.digests_today, stats.digests_yesterday) == (2, 2)
    b = stats.broadcasts
    assert (b.broadcasts, b.sent, b.blocked, b.failed, b.pending) == (2, 2, 1, 1, 2)


def test_daily_series_covers_the_window_in_utc_days(stats: Stats) -> None:
    assert len(stats.daily) == 30
    assert stats.daily[0].day == date(2026, 10, 27)
    assert stats.daily[-1] == DayCount(date(2026, 11, 25), new_readers=1, digests_sent=2)
    assert stats.daily[-2] == DayCount(date(2026, 11, 24), new_readers=1, digests_sent=2)
    assert stats.daily[-3] == DayCount(date(2026, 11, 23), new_readers=1, digests_sent=1)
    assert sum(d.new_readers for d in stats.daily) == 7  # reader 1 joined 40 days ago
    assert sum(d.digests_sent for d in stats.daily) == 5  # the 31-day-old digest is outside
    joined = {d.day: d.new_readers for d in stats.daily if d.new_readers}
    assert joined == {
        date(2026, 11, 22): 1, date(2026, 11, 15): 1, date(2026, 11, 5): 1,
        date(2026, 11, 23): 1, date(2026, 11, 17): 1, date(2026, 11, 24): 1,
        date(2026, 11, 25): 1,
    }  # fmt: skip


def test_feed_health_and_the_worst_five(stats: Stats) -> None:
    f = stats.feeds
    assert (f.total, f.ok, f.failing, f.backing_off, f.never_fetched) == (9, 2, 6, 2, 1)
    assert [(p.source_id, p.failures) for p in f.worst] == [
        ("d", 5), ("c", 3), ("b", 3), ("h", 1), ("g", 1),
    ]  # fmt: skip
    assert f.worst[0] == FeedProblem(
        "d", "https://d.example/rss", "national", 5, None, "DNS <lookup> failed"
    )
    assert f.worst[2].last_success_at == T0 - timedelta(days=5)


def test_one_day_window_still_counts_yesterday(engine: Engine) -> None:
    seed_readers(engine)
    seed_deliveries(engine)
    snap = StatsStore(engine).snapshot(T0, days=1)
    assert [d.day for d in snap.daily] == [date(2026, 11, 25)]
    assert (snap.digests_today, snap.digests_yesterday) == (2, 2)
    with pytest.raises(ValueError):
        StatsStore(engine).snapshot(T0, days=0)


def test_empty_database_is_all_zeros_in_a_fixed_number_of_queries(engine: Engine) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    snap = StatsStore(engine).snapshot(T0 - timedelta(hours=3), days=7)
    event.remove(engine, "before_cursor_execute", count)
    assert snap.readers.total == 0 and snap.readers.new_this_week == 0
    assert snap.by_country == snap.by_language == snap.by_category == ()
    assert snap.broadcasts.broadcasts == snap.feeds.total == snap.digests_today == 0
    assert snap.feeds.worst == ()
    assert [d.new_readers + d.digests_sent for d in snap.daily] == [0] * 7
    assert len(statements) == 9  # aggregates only: the same however many readers there are
