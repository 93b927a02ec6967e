"""Keyword alerts end to end: /follow, a real ingest pass over a local feed, the outbox, the
fake Bot API. The clock is the test's (quiet hours are entered and left by moving it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from bot.app import build_ingestor
from digest.fetch import Fetcher
from digest.ingest import IngestReport
from newsbot_testing.fakes.botapi import FakeBotAPI, Message
from newsbot_testing.feedserver import FeedServer
from storage.alerts import AlertStore
from storage.follows import FollowStore
from storage.mutes import MuteStore
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.news_catalog import set_up_reader
from tests.handlers.user import TelegramUser
from tests.integration.news_fixtures import write_catalog

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
READER = 51
B1 = "b1"
# Different enough from each other and from Alpha's story not to be clustered with it.
B1_TEXT = "University study weighs tidal-power costs against offshore wind farms"
B1_SUMMARY = "Economists compared estuary projects."
B2_TEXT = "Tidal power sequel: second lagoon approved by regional council"


def rss(items: list[tuple[str, str, str]], at: datetime) -> bytes:
    """A feed of (key, title, summary) items, each published an hour before ``at``."""
    when = format_datetime(at - timedelta(hours=1))
    body = "".join(
        f"<item><guid>https://news.example/{key}</guid><link>https://news.example/{key}</link>"
        f"<title>{escape(title)}</title><description>{escape(summary)}</description>"
        f"<pubDate>{when}</pubDate></item>"
        for key, title, summary in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://news.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feeds:
        yield feeds


@pytest.fixture
def alert_bot(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock, server: FeedServer
) -> Iterator[RunningBot]:
    feeds = {"alpha": [("national", "/alpha")], "beta": [("national", "/beta")]}
    catalog = write_catalog(tmp_path / "catalog.toml", server, feeds)
    with RunningBot(fake, db_url, catalog=catalog, clock=clock) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    assert fake.errors == [], fake.describe()


def ingest(bot: RunningBot) -> IngestReport:
    """One real fetch pass (as `newsbot fetch` runs it), alerts included."""

    async def one_pass() -> IngestReport:
        async with Fetcher() as fetcher:
            ingestor = build_ingestor(bot.services, fetcher, bot.clock)
            return await ingestor.run_once(only_due=False)

    return bot.call(one_pass)


def reader(bot: RunningBot, fake: FakeBotAPI, **options: object) -> TelegramUser:
    set_up_reader(bot.services.users, READER, ("alpha", "beta"), **options)  # type: ignore[arg-type]
    user = TelegramUser(fake, READER, "Ada")
    user.send("/help")  # the chat exists for the fake once the user wrote
    return user


def alerts(fake: FakeBotAPI) -> list[Message]:
    return [m for m in fake.chat_messages(READER) if m.text.startswith("🔔")]


def test_a_followed_word_alerts_once_per_story(
    alert_bot: RunningBot, fake: FakeBotAPI, server: FeedServer, clock: ManualClock
) -> None:
    user = reader(alert_bot, fake)
    assert "Following “Tidal power”" in user.send("/follow Tidal power").text
    server.add_file("/alpha", rss([
        ("a1", "Harbour city opens its TIDAL POWER station", "Turbines spin."),
        ("a2", "Budget talks resume", "Nothing about the sea."),
    ], clock.now))  # fmt: skip
    server.add_file("/beta", rss([(B1, B1_TEXT, B1_SUMMARY)], clock.now))
    report = ingest(alert_bot)
    assert report.new_articles == 3
    sent = alert_bot.call(alert_bot.pusher.drain)
    assert sent is not None and sent.sent == 1, "several matches in one pass: one message"
    (alert,) = alerts(fake)
    assert alert.text.splitlines()[0] == "🔔 New stories about “Tidal power”", "as typed"
    assert "Harbour city opens its TIDAL POWER station" in alert.text
    assert B1_TEXT in alert.text and "Budget talks" not in alert.text
    assert [b["text"] for b in alert.buttons[0]][:2] == ["1 · 📖 Full story", "🔗 Related"]
    # The next pass finds the same stories again (nothing new) and a new one elsewhere.
    server.add_file("/beta", rss([
        (B1, B1_TEXT, B1_SUMMARY),
        ("b2", B2_TEXT, "Planners voted on Tuesday."),
    ], clock.now))  # fmt: skip
    clock.advance(minutes=15)
    assert ingest(alert_bot).new_articles == 1
    alert_bot.call(alert_bot.pusher.drain)
    first, second = alerts(fake)
    assert B2_TEXT in second.text and B1_TEXT not in second.text
    assert AlertStore(alert_bot.services.engine).sent_count(READER) == 3
    clock.advance(minutes=15)
    assert ingest(alert_bot).new_articles == 0
    alert_bot.call(alert_bot.pusher.drain)
    assert len(alerts(fake)) == 2, "a story is alerted once"


def test_quiet_hours_hold_an_alert_until_they_end(
    alert_bot: RunningBot, fake: FakeBotAPI, server: FeedServer, clock: ManualClock
) -> None:
    user = reader(alert_bot, fake, timezone="America/Toronto")  # 10:00 there
    alert_bot.services.users.set_quiet_hours(READER, 9 * 60, 11 * 60)
    user.send("/follow turbines")
    server.add_file("/alpha", rss([("a1", "New turbines for the harbour", "")], clock.now))
    ingest(alert_bot)
    alert_bot.call(alert_bot.pusher.drain)
    assert alerts(fake) == []
    clock.advance(minutes=59)  # 10:59: still quiet
    alert_bot.call(alert_bot.pusher.drain)
    assert alerts(fake) == []
    clock.advance(minutes=1)  # 11:00: quiet hours are over
    alert_bot.call(alert_bot.pusher.drain)
    (alert,) = alerts(fake)
    assert "New turbines for the harbour" in alert.text


def test_an_alert_held_for_quiet_hours_is_dropped_when_the_reader_pauses(
    alert_bot: RunningBot, fake: FakeBotAPI, server: FeedServer, clock: ManualClock
) -> None:
    user = reader(alert_bot, fake, timezone="America/Toronto")  # 10:00 there
    alert_bot.services.users.set_quiet_hours(READER, 9 * 60, 11 * 60)
    user.send("/follow turbines")
    server.add_file("/alpha", rss([("a1", "New turbines for the harbour", "")], clock.now))
    ingest(alert_bot)
    paused = user.press("1 day", user.send("/pause")).text
    assert "paused until" in paused
    assert "phrases you follow are paused too" in paused  # they follow one: they are told
    clock.advance(hours=2)  # quiet hours are over, the pause is not
    alert_bot.call(alert_bot.pusher.drain)
    assert alerts(fake) == []
    rows = alert_bot.services.deliveries.for_user(READER)
    assert [(r.kind, r.status) for r in rows] == [("alert", "cancelled")]
    assert "phrases you follow are back on too" in user.send("/resume").text


def test_no_alert_from_a_muted_source_or_with_a_muted_word_or_while_paused(
    alert_bot: RunningBot, fake: FakeBotAPI, server: FeedServer, clock: ManualClock
) -> None:
    user = reader(alert_bot, fake)
    user.send("/follow election")
    mutes = MuteStore(alert_bot.services.engine)
    mutes.mute_source(READER, "beta")
    mutes.mute_word(READER, "Polls", "polls")
    server.add_file("/alpha", rss([
        ("a1", "Election night live", "Results as they come."),
        ("a2", "Election polls tighten", "A muted word."),
    ], clock.now))  # fmt: skip
    server.add_file("/beta", rss([("b1", "Election: what to know", "")], clock.now))
    ingest(alert_bot)
    alert_bot.call(alert_bot.pusher.drain)
    (alert,) = alerts(fake)
    assert "Election night live" in alert.text
    assert "polls" not in alert.text and "what to know" not in alert.text
    alert_bot.services.users.set_paused(READER, True)
    server.add_file("/alpha", rss([("a3", "Election recount ordered", "")], clock.now))
    clock.advance(minutes=15)
    ingest(alert_bot)
    alert_bot.call(alert_bot.pusher.drain)
    assert len(alerts(fake)) == 1, "a paused reader gets no alert"


def test_follow_limits_and_the_following_list(alert_bot: RunningBot, fake: FakeBotAPI) -> None:
    user = reader(alert_bot, fake)
    assert "/follow" in user.send("/follow").text, "alone: how to use it"
    refused = user.send("/follow " + "x" * 51)
    assert "at most 50 characters" in refused.text
    assert "at most 8 words" in user.send("/follow a b c d e f g h i").text
    assert "Send words to follow" in user.send("/follow ?!").text
    assert "Following “topic0”" in user.send("/follow topic0").text
    follows = FollowStore(alert_bot.services.engine)
    for n in range(1, 20):  # stored as /follow stores them: 19 more replies would take 19 s
        assert follows.add(user.id, f"topic{n}", f"topic{n}", limit=20)
    assert "You follow 20 phrases already" in user.send("/follow one more").text
    assert "You already follow" in user.send("/follow TOPIC3").text
    listing = user.send("/following")
    assert "Phrases you follow (20 of 20)" in listing.text
    assert len(listing.buttons) == 20
    assert all(len(b["callback_data"].encode()) <= 64 for row in listing.buttons for b in row)
    after = user.press("Remove “topic3”", listing)
    assert "topic3" not in after.text and "(19 of 20)" in after.text
    assert "Following “one more”" in user.send("/follow one more").text
    # someone else's phrase id is not theirs to remove
    other = TelegramUser(fake, 52, "Eve")
    set_up_reader(alert_bot.services.users, 52, ("alpha",))
    own = other.send("/following")
    assert other.press_data(own.message_id, "1|F|x|1") == "Already removed."
    assert "(20 of 20)" in user.send("/following").text
