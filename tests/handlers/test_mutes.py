"""Mutes through the fake Bot API: from a Related view, in /settings, and what they hide
(headlines, digests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsbot_testing.fakes.botapi import FakeBotAPI, Message
from storage.articles import ArticleInput
from storage.mutes import MuteStore
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.news_catalog import news_bot_on, set_up_reader
from tests.handlers.user import TelegramUser

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
READER = 61


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def mute_bot(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path, clock=clock) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    assert fake.errors == [], fake.describe()


def seed(bot: RunningBot) -> dict[str, int]:
    def item(key: str, title: str, hours: float) -> ArticleInput:
        return ArticleInput(
            entry_key=key, url=f"https://news.example/{key}", title=title,
            summary=f"About {title.lower()}.", image_url=None,
            published_at=NOW - timedelta(hours=hours), language="en", categories=("national",),
        )  # fmt: skip

    articles = bot.services.articles
    rows = articles.upsert("alpha", [
        item("a1", "Ferry strike halts crossings", 1),
        item("a2", "Museum reopens after renovation", 2),
        item("a3", "Council approves cycling lanes", 3),
    ], NOW).new + articles.upsert("beta", [
        item("b1", "Ferry operators meet unions", 0.5),
        item("b2", "Orchestra announces winter season", 4),
    ], NOW).new  # fmt: skip
    articles.set_clusters({r.id: r.id for r in rows})
    return {r.title: r.id for r in rows}


def reader(bot: RunningBot, fake: FakeBotAPI) -> TelegramUser:
    set_up_reader(bot.services.users, READER, ("alpha", "beta"))
    return TelegramUser(fake, READER, "Ada")


def wait_new(fake: FakeBotAPI, before: int) -> Message:
    fake.wait_for(lambda: len(fake.chat_messages(READER)) > before)
    message = fake.last_message(READER)
    assert message is not None
    return message


def test_mute_a_source_from_related(mute_bot: RunningBot, fake: FakeBotAPI) -> None:
    rows = seed(mute_bot)
    user = reader(mute_bot, fake)
    page = user.send("/headlines national")
    assert "Ferry operators meet unions" in page.text
    before = len(fake.chat_messages(READER))
    user.press_data(page.message_id, f"1|a|r|{rows['Ferry operators meet unions']}")
    related = wait_new(fake, before)
    labels = user.labels(related)
    assert "🔇 Mute Beta & Sons Times" in labels and "👎 Fewer like this" in labels
    toast = user.press_for_toast("Mute Beta & Sons Times", related)
    assert toast == "Muted Beta & Sons Times. Unmute it in /settings."
    page = user.send("/headlines national")
    assert "Beta & Sons" not in page.text and "Orchestra" not in page.text
    assert "Ferry strike halts crossings" in page.text
    assert MuteStore(mute_bot.services.engine).muted_sources(READER) == frozenset({"beta"})
    # /settings lists it with an Unmute button
    menu = user.send("/settings")
    listing = user.press("Muted sources", menu)
    assert "Beta & Sons Times" in listing.text
    listing = user.press("Unmute Beta & Sons Times", listing)
    assert "None." in listing.text
    assert "Orchestra announces winter season" in user.send("/headlines national").text
    back = user.press("Back", listing)
    assert "Tap a part to change it." in back.text


def test_fewer_like_this_mutes_a_word_the_reader_picks(
    mute_bot: RunningBot, fake: FakeBotAPI
) -> None:
    rows = seed(mute_bot)
    user = reader(mute_bot, fake)
    page = user.send("/headlines national")
    before = len(fake.chat_messages(READER))
    user.press_data(page.message_id, f"1|a|r|{rows['Ferry strike halts crossings']}")
    related = wait_new(fake, before)
    before = len(fake.chat_messages(READER))
    user.press_for_toast("Fewer like this", related)
    offer = wait_new(fake, before)
    assert "which word should I mute?" in offer.text
    assert user.labels(offer) == ["🔇 ferry", "🔇 strike", "🔇 crossings"]
    assert user.press_for_toast("🔇 ferry", offer) == "Muted “ferry”."
    fake.wait_for(
        lambda: any(
            m.message_id == offer.message_id and m.text.startswith("Muted “ferry”")
            for m in fake.chat_messages(READER)
        )
    )
    page = user.send("/headlines national")
    assert "Ferry" not in page.text and "Museum reopens" in page.text


def test_muted_words_from_settings_vanish_from_digests(
    mute_bot: RunningBot, fake: FakeBotAPI
) -> None:
    seed(mute_bot)
    user = reader(mute_bot, fake)
    menu = user.send("/settings")
    words = user.press("Muted words", menu)
    assert "None." in words.text
    prompt = user.press("Add a word", words)
    assert "Send a word or phrase to mute" in prompt.text
    refused = user.send("x" * 51)
    assert "at most 50 characters" in refused.text
    listing = user.send("FERRY")
    assert "Muted “FERRY”." in listing.text and "• FERRY" in listing.text
    before = len(fake.chat_messages(READER))
    user.send("/digest")
    fake.wait_for(lambda: any("🗞" in m.text for m in fake.chat_messages(READER)[before:]))
    digest = next(m for m in fake.chat_messages(READER)[before:] if "🗞" in m.text)
    assert "Museum reopens" in digest.text and "Ferry" not in digest.text
    listing = user.press("Unmute “FERRY”", listing)
    assert "FERRY" not in listing.text.replace("Muted words", "")
