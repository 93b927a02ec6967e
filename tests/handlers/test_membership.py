"""Readers who block the bot (#17.4): Telegram's my_chat_member update through the fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.schedule import next_due_for
from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.articles import ArticleInput
from storage.broadcasts import Audience, BroadcastStore
from storage.stats import StatsStore
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.news_catalog import news_bot_on, set_up_reader

# Tuesday 24 November 2026, 07:58 in Toronto (UTC-5); the reader's digest is at 08:00.
START = datetime(2026, 11, 24, 12, 58, tzinfo=UTC)
READER, OTHER = 51, 52


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def news_bot(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path, clock=clock) as running:
        yield running
    assert fake.errors == [], fake.describe()


def seed(bot: RunningBot, at: datetime) -> None:
    stories = [
        ArticleInput(
            entry_key=f"k{i}",
            url=f"https://news.example/{i}",
            title=f"Alpha story {i}",
            summary="What happened.",
            image_url=None,
            published_at=at - timedelta(hours=i + 1),
            language="en",
            categories=("national",),
        )  # fmt: skip
        for i in range(3)
    ]
    rows = bot.services.articles.upsert("alpha", stories, at).new
    bot.services.articles.set_clusters({row.id: row.id for row in rows})


def set_up(bot: RunningBot, fake: FakeBotAPI, clock: ManualClock, user_id: int) -> None:
    users = bot.services.users
    set_up_reader(users, user_id, ("alpha",), categories=("national", "sports"))
    fake.user_sends_text(user_id, "hi")  # the chat exists once the user wrote
    fake.wait_for(lambda: fake.last_message(user_id) is not None)
    reader = users.get(user_id)
    assert reader is not None
    users.set_next_due(user_id, next_due_for(reader, clock()))


def active(bot: RunningBot, user_id: int) -> bool:
    reader = bot.services.users.get(user_id)
    assert reader is not None
    return reader.active


def test_a_reader_who_blocks_the_bot_is_inactive_at_once_and_back_on_unblock(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    set_up(news_bot, fake, clock, READER)
    set_up(news_bot, fake, clock, OTHER)
    broadcasts = BroadcastStore(news_bot.services.engine)
    stats = StatsStore(news_bot.services.engine)
    assert broadcasts.audience_count(Audience("all"), clock()) == 2

    fake.user_blocks_bot(READER)
    fake.wait_for(lambda: not active(news_bot, READER), message="reader marked inactive")
    assert fake.dropped_updates == [], "the bot asks Telegram for my_chat_member updates"
    assert broadcasts.audience_count(Audience("all"), clock()) == 1
    assert stats.snapshot(clock(), 30, refresh=timedelta(minutes=15)).readers.blocked == 1

    clock.advance(minutes=2)  # 08:00 in Toronto: both were due
    tick, sent = news_bot.push()
    assert tick is not None and tick.enqueued == 1 and sent is not None and sent.sent == 1
    assert fake.calls_to("sendMessage")[-1].params["chat_id"] == OTHER
    assert not any("🗞" in m.text for m in fake.chat_messages(READER))

    before = news_bot.services.users.get(READER)
    clock.advance(days=2, minutes=30)  # away for two days: 08:30, the slot is long missed
    fake.user_unblocks_bot(READER)
    fake.wait_for(lambda: active(news_bot, READER), message="reader active again")
    after = news_bot.services.users.get(READER)
    assert after is not None and before is not None
    assert (after.categories, after.delivery_minutes, after.timezone, after.countries) == (
        before.categories, before.delivery_minutes, before.timezone, before.countries,
    )  # fmt: skip
    assert after.next_due_at == datetime(2026, 11, 27, 13, 0, tzinfo=UTC), "next 08:00, no catch-up"
    assert broadcasts.audience_count(Audience("all"), clock()) == 2
    assert stats.snapshot(clock(), 30, refresh=timedelta(minutes=15)).readers.blocked == 0


def test_without_allowed_updates_listing_it_telegram_never_sends_my_chat_member() -> None:
    """The fake honours allowed_updates as Telegram does: a bot that forgets to ask never hears."""
    with FakeBotAPI() as fake:
        fake._allowed_updates = ["message", "callback_query"]
        fake.user_blocks_bot(READER)
        assert [u for u in fake.dropped_updates if "my_chat_member" in u] != []
        fake._allowed_updates = None  # Telegram's default: every type but three
        update = fake.user_unblocks_bot(READER)
        change = update["my_chat_member"]
        assert fake.dropped_updates[-1]["update_id"] != update["update_id"]
        assert change["new_chat_member"] == {
            "user": {"id": fake.bot_id, "is_bot": True, "first_name": "NewsBot Test",
                     "username": fake.bot_username},
            "status": "member",
        }  # fmt: skip
        assert change["chat"]["id"] == READER and change["from"]["id"] == READER


def test_a_reader_back_by_start_alone_gets_the_next_slot_not_the_missed_one(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    """Unblocking without the update reaching us (or a 403 that marked them): /start reschedules."""
    set_up(news_bot, fake, clock, READER)
    news_bot.services.users.set_active(READER, False)  # as after a 403 from a send
    clock.advance(days=2, minutes=32)  # 08:30 two days later: the stored 08:00 slot is stale
    fake.user_sends_command(READER, "/start")
    fake.wait_for(lambda: active(news_bot, READER), message="reader active again")
    after = news_bot.services.users.get(READER)
    assert after is not None
    assert after.next_due_at == datetime(2026, 11, 27, 13, 0, tzinfo=UTC), "next 08:00, no catch-up"
