"""/headlines through the fake Bot API, over articles stored the way ingest stores them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.articles import ArticleInput, ArticleStore
from tests.handlers.harness import RunningBot
from tests.handlers.news_catalog import news_bot_on, set_up_reader
from tests.handlers.user import TelegramUser


def article(key: str, title: str, hours: float, category: str = "national") -> ArticleInput:
    return ArticleInput(
        entry_key=key,
        url=f"https://news.example/{key}",
        title=title,
        summary=f"Summary of {title}.",
        image_url=None,
        published_at=datetime.now(UTC) - timedelta(hours=hours),
        language="en",
        categories=(category,),
    )


@pytest.fixture
def news_bot(fake: FakeBotAPI, db_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    assert fake.errors == [], fake.describe()


def seed(articles: ArticleStore) -> None:
    now = datetime.now(UTC)
    alpha = articles.upsert(
        "alpha",
        [article(f"a{i}", f"Alpha story {i}", hours=i + 1) for i in range(6)]
        + [article("a-sport", "Alpha sports story", 1, "sports")]
        + [article("a-html", "Prices <b>fall</b> & rise", 0.5)],
        now,
    )
    beta = articles.upsert("beta", [article("b0", "Beta copy of Alpha story 0", 0.2)], now)
    clusters = {row.id: row.id for row in alpha.new}
    shared = next(r.id for r in alpha.new if r.title == "Alpha story 0")
    clusters[beta.new[0].id] = shared
    articles.set_clusters(clusters)


def test_reader_without_setup_is_sent_to_start(news_bot: RunningBot, fake: FakeBotAPI) -> None:
    user = TelegramUser(fake, 5, "Eve")
    assert user.send("/headlines").text == "Set up your news first: send /start."


def test_paging_through_headlines_edits_one_message(news_bot: RunningBot, fake: FakeBotAPI) -> None:
    services = news_bot.services
    set_up_reader(services.users, 7, ("alpha", "beta"))
    seed(services.articles)
    user = TelegramUser(fake, 7, "Ada")
    picker = user.send("/headlines")
    assert "Which headlines?" in picker.text and "National" in user.labels(picker)
    first = user.press("National", picker)
    assert first.message_id == picker.message_id
    assert "Headlines · National" in first.text and "Page 1 of 2" in first.text
    # Feed-supplied markup arrives as text, escaped, and the fake's HTML check accepted it.
    assert "Prices <b>fall</b> & rise" in first.text
    # One story per cluster: Alpha's own copy (primary source) stands for both, credited.
    assert "Alpha story 0" in first.text and "Beta copy" not in first.text
    assert "Also covered by Beta & Sons Times" in first.text
    assert "Alpha sports story" not in first.text
    story_rows = [row for row in first.buttons if len(row) == 3]
    assert len(story_rows) == 5
    assert [b["text"] for b in story_rows[0]] == ["1 · 📖 Full story", "🔗 Related", "↗ Alpha News"]
    second = user.press("Next")
    assert "Page 2 of 2" in second.text and second.message_id == first.message_id
    assert "6." in second.text and "Next" not in " ".join(user.labels(second))
    assert "Page 1 of 2" in user.press("Previous").text


def test_category_argument_and_unknown_category(news_bot: RunningBot, fake: FakeBotAPI) -> None:
    services = news_bot.services
    set_up_reader(services.users, 8, ("alpha",))
    seed(services.articles)
    user = TelegramUser(fake, 8, "Ada")
    sports = user.send("/headlines Sports")
    assert "Headlines · Sports" in sports.text and "Alpha sports story" in sports.text
    assert "Page 1 of 1" in sports.text
    unknown = user.send("/headlines weather")
    assert "I don't know the category" in unknown.text and "Sports" in user.labels(unknown)


def test_only_the_readers_sources_are_shown(news_bot: RunningBot, fake: FakeBotAPI) -> None:
    services = news_bot.services
    set_up_reader(services.users, 9, ("beta",))
    seed(services.articles)
    user = TelegramUser(fake, 9, "Ada")
    page = user.send("/headlines all")
    assert "Beta copy of Alpha story 0" in page.text
    assert "Alpha story 1" not in page.text and "Page 1 of 1" in page.text


def test_empty_category_says_so(news_bot: RunningBot, fake: FakeBotAPI) -> None:
    set_up_reader(news_bot.services.users, 10, ("alpha",))
    user = TelegramUser(fake, 10, "Ada")
    assert "No stories from your sources here yet" in user.send("/headlines business").text


def test_forged_headline_buttons_get_a_polite_answer(
    news_bot: RunningBot, fake: FakeBotAPI
) -> None:
    set_up_reader(news_bot.services.users, 11, ("alpha",))
    user = TelegramUser(fake, 11, "Ada")
    picker = user.send("/headlines")
    for data in ("1|h|p|weather.0", "1|h|p|national.x", "1|h|z|national.0"):
        assert user.press_data(picker.message_id, data) == "This menu has expired — send /settings"
