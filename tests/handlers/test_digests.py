"""Scheduled digests through the fake Bot API, with a clock the test moves (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.schedule import next_due_for
from newsbot_testing.fakes.botapi import FakeBotAPI, Message
from storage.articles import ArticleInput
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.news_catalog import news_bot_on, set_up_reader
from tests.handlers.user import TelegramUser

# Tuesday 24 November 2026, 06:58 in Toronto (UTC-5).
START = datetime(2026, 11, 24, 11, 58, tzinfo=UTC)
READER = 31


def story(key: str, title: str, published: datetime, category: str = "national") -> ArticleInput:
    return ArticleInput(
        entry_key=key,
        url=f"https://news.example/{key}",
        title=title,
        summary=f"What happened in {title}.",
        image_url=None,
        published_at=published,
        language="en",
        categories=(category,),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def news_bot(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path, clock=clock) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    # A 403 is the reader's doing (they blocked the bot); anything else would be ours.
    assert [c for c in fake.errors if c.status != 403] == [], fake.describe()


def seed(bot: RunningBot, at: datetime, *, prefix: str = "n", count: int = 4) -> None:
    articles = bot.services.articles
    alpha = [
        story(f"{prefix}{i}", f"Alpha {prefix} story {i}", at - timedelta(hours=i + 1))
        for i in range(count)
    ]
    alpha.append(
        story(f"{prefix}-sp", f"Alpha {prefix} match report", at - timedelta(hours=1), "sports")
    )
    beta = [story(f"{prefix}-b", f"Beta {prefix} exclusive", at - timedelta(minutes=30))]
    rows = articles.upsert("alpha", alpha, at).new + articles.upsert("beta", beta, at).new
    articles.set_clusters({row.id: row.id for row in rows})


def reader(bot: RunningBot, clock: ManualClock, fake: FakeBotAPI, **kwargs: object) -> TelegramUser:
    """A reader of Alpha News only, digest at 07:00 Toronto time, due from the clock's now."""
    users = bot.services.users
    options = {"categories": ("national", "sports"), "minutes": (420,), **kwargs}
    set_up_reader(users, READER, ("alpha",), **options)  # type: ignore[arg-type]
    fake.user_sends_text(READER, "hi")  # the chat exists for the fake once the user wrote
    fake.wait_for(lambda: fake.last_message(READER) is not None)
    user = users.get(READER)
    assert user is not None
    users.set_next_due(READER, next_due_for(user, clock()))
    return TelegramUser(fake, READER, "Ada")


def digests(fake: FakeBotAPI, after: int = 0) -> list[Message]:
    return [m for m in fake.chat_messages(READER) if "🗞" in m.text][after:]


def test_digest_arrives_at_local_time_with_only_the_readers_sources(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    reader(news_bot, clock, fake)
    tick, _ = news_bot.push()
    assert tick is not None and tick.readers == 0 and digests(fake) == []
    clock.advance(minutes=2)  # 07:00 in Toronto
    tick, sent = news_bot.push()
    assert tick is not None and tick.enqueued == 2
    assert sent is not None and sent.sent == 2
    national, sports = digests(fake)
    assert "National · Tuesday, November 24, 2026" in national.text
    assert "Sports · Tuesday, November 24, 2026" in sports.text
    assert "Alpha n story 0" in national.text and "Beta" not in national.text
    assert "Alpha n match report" in sports.text
    assert len(national.text) <= 4096
    first_row = [b["text"] for b in national.buttons[0]]
    assert first_row == ["1 · 📖 Full story", "🔗 Related", "↗ Alpha News"]
    sends = [c for c in fake.calls_to("sendMessage") if "🗞" in str(c.params.get("text"))]
    assert sends[1].at - sends[0].at >= 0.9, "two digests to one chat are paced, not bursted"
    user = news_bot.services.users.get(READER)
    assert user is not None and user.next_due_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_next_slot_repeats_nothing(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    reader(news_bot, clock, fake, categories=("national",))
    clock.advance(minutes=2)
    news_bot.push()
    (first,) = digests(fake)
    clock.advance(days=1)
    seed(news_bot, clock.now, prefix="m", count=1)
    news_bot.push()
    (second,) = digests(fake, after=1)
    assert "Alpha m story 0" in second.text
    assert "Alpha n story" not in second.text, second.text
    # Nothing new on the third day: the reader chose to skip empty digests (the default).
    clock.advance(days=1)
    tick, _ = news_bot.push()
    assert tick is not None and tick.empty == 1 and len(digests(fake)) == 2


def test_empty_digest_says_so_when_the_reader_wants(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    reader(news_bot, clock, fake, categories=("business",))
    news_bot.services.users.set_empty_digest(READER, "say")
    clock.advance(minutes=2)
    news_bot.push()
    assert fake.last_message(READER).text == "Nothing new in Business since your last digest."  # type: ignore[union-attr]


def test_dst_change_day_fires_at_local_time(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    # New York falls back on Sunday 1 November 2026: 07:00 is 11:00Z before, 12:00Z after.
    clock.now = datetime(2026, 10, 31, 10, 0, tzinfo=UTC)
    seed(news_bot, clock.now, count=10)
    reader(news_bot, clock, fake, categories=("national",), timezone="America/New_York")
    news_bot.services.users.set_stories_per_digest(READER, 3)
    sent_at: list[datetime] = []
    for _ in range(30 * 60 // 10):  # every 10 minutes for 30 hours
        clock.advance(minutes=10)
        before = len(digests(fake))
        news_bot.call(news_bot.pusher.tick)
        news_bot.call(news_bot.pusher.drain)
        if len(digests(fake)) > before:
            sent_at.append(clock.now)
    assert sent_at == [
        datetime(2026, 10, 31, 11, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    ]


def test_quiet_hours_hold_a_digest_until_they_end(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    clock.now = datetime(2026, 11, 24, 3, 55, tzinfo=UTC)  # 22:55 Toronto
    reader(news_bot, clock, fake, categories=("national",), minutes=(23 * 60,))
    news_bot.services.users.set_quiet_hours(READER, 22 * 60, 7 * 60)
    user = news_bot.services.users.get(READER)
    assert user is not None
    news_bot.services.users.set_next_due(READER, next_due_for(user, clock()))
    clock.advance(minutes=10)  # 23:05: inside the quiet hours
    news_bot.push()
    assert digests(fake) == []
    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 07:00: the window ends
    news_bot.push()
    assert len(digests(fake)) == 1


def test_missed_by_more_than_the_grace_period_is_skipped(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    reader(news_bot, clock, fake, categories=("national",))
    clock.advance(hours=3)  # the bot was down from 06:58 to 09:58
    tick, _ = news_bot.push()
    assert tick is not None and tick.skipped_slots == 1 and digests(fake) == []
    user = news_bot.services.users.get(READER)
    assert user is not None and user.next_due_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_missed_within_grace_is_sent_once(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    reader(news_bot, clock, fake, categories=("national",))
    clock.advance(hours=1)
    news_bot.push()
    news_bot.push()
    assert len(digests(fake)) == 1


def test_pause_and_resume(news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock) -> None:
    seed(news_bot, START)
    user = reader(news_bot, clock, fake, categories=("national",))
    menu = user.send("/pause")
    done = user.press("1 week", menu)
    assert "paused until" in done.text
    assert "phrases you follow" not in done.text  # they follow nothing: no word of alerts
    clock.advance(minutes=2)
    news_bot.push()
    assert digests(fake) == []
    resumed = user.send("/resume").text
    assert "back on" in resumed and "phrases you follow" not in resumed
    clock.advance(days=1)
    news_bot.push()
    assert len(digests(fake)) == 1


def test_blocked_reader_is_marked_inactive(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    reader(news_bot, clock, fake)
    fake.block_bot(READER)
    clock.advance(minutes=2)
    _, sent = news_bot.push()
    assert sent is not None and sent.blocked == 1
    assert news_bot.services.users.get(READER).active is False  # type: ignore[union-attr]
    refused = [c for c in fake.calls_to("sendMessage") if c.status == 403]
    assert len(refused) == 1, "one attempt, then the reader's other digest is cancelled"


def test_digest_command_sends_now_and_keeps_the_schedule(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START)
    user = reader(news_bot, clock, fake, categories=("national",))
    user.send("/digest")
    fake.wait_for(lambda: len(digests(fake)) == 1)
    assert news_bot.services.users.get(READER).next_due_at == datetime(
        2026, 11, 24, 12, 0, tzinfo=UTC
    )  # type: ignore[union-attr]
    seed(news_bot, START, prefix="x", count=1)
    clock.advance(minutes=2)
    news_bot.push()
    scheduled = digests(fake, after=1)
    assert len(scheduled) == 1 and "Alpha x story 0" in scheduled[0].text
    assert "Alpha n story 0" not in scheduled[0].text


def test_stories_per_digest_setting(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    seed(news_bot, START, count=8)
    reader(news_bot, clock, fake, categories=("national",))
    news_bot.services.users.set_stories_per_digest(READER, 3)
    clock.advance(minutes=2)
    news_bot.push()
    (digest,) = digests(fake)
    assert "3." in digest.text and "4." not in digest.text and len(digest.buttons) == 3


def test_a_link_telegram_refuses_costs_only_its_button(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock
) -> None:
    """#14.2: one entry linking to http://localhost/... once made Telegram refuse the digest."""
    odd = ArticleInput(
        entry_key="odd", url="http://localhost/x", title="Alpha odd link story",
        summary="Linked to a host Telegram refuses.", image_url=None,
        published_at=START - timedelta(minutes=10), language="en", categories=("national",),
    )  # fmt: skip
    seed(news_bot, START)
    (row,) = news_bot.services.articles.upsert("alpha", [odd], START).new
    news_bot.services.articles.set_clusters({row.id: row.id})
    reader(news_bot, clock, fake, categories=("national",))
    clock.advance(minutes=2)
    _tick, sent = news_bot.push()
    assert sent is not None and sent.sent == 1
    (national,) = digests(fake)
    assert "1. Alpha odd link story" in national.text and "Alpha n story 0" in national.text
    rows = [[b["text"] for b in row] for row in national.buttons]
    assert rows[0] == ["1 · 📖 Full story", "🔗 Related"], "no link button for the odd link"
    assert rows[1] == ["2 · 📖 Full story", "🔗 Related", "↗ Alpha News"]
