"""/search, inline mode and the "Read in newsbot" deep link, through the fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.feedserver import FeedServer
from storage.articles import ArticleInput, ArticleStore
from storage.mutes import MuteStore
from tests.handlers.harness import RunningBot
from tests.handlers.news_catalog import news_bot_on, set_up_reader
from tests.handlers.user import TelegramUser

READER = 61
STRANGER = 62


def item(key: str, title: str, hours: float, *, language: str = "en", url: str = "",
         image: str | None = None) -> ArticleInput:  # fmt: skip
    return ArticleInput(
        entry_key=key, url=url or f"https://news.example/{key}", title=title,
        summary=f"Summary of {title}.", image_url=image,
        published_at=datetime.now(UTC) - timedelta(hours=hours), language=language,
        categories=("national",),
    )  # fmt: skip


@pytest.fixture
def pages() -> Iterator[FeedServer]:
    with FeedServer(Path(__file__).parents[1] / "data" / "pages") as server:
        server.add_file("/tidal", "article.html", headers={"Content-Type": "text/html"})
        yield server


@pytest.fixture
def search_bot(fake: FakeBotAPI, db_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path, allow_private=True) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks(), message="every press answered")
        fake.wait_for(lambda: not fake.unanswered_inline_queries(), message="every query answered")
    assert fake.errors == [], fake.describe()


def seed(articles: ArticleStore) -> dict[str, int]:
    """Seven election stories from Alpha, a newer one from Beta, one in French from Gamma."""
    alpha = articles.upsert(
        "alpha",
        [item(f"a{i}", f"Election night {i}", hours=i + 1,
              image="https://img.example/a.jpg" if i == 0 else None) for i in range(7)]
        + [item("a-zh", "中国经济增长超过预期", hours=2, language="zh")],
        datetime.now(UTC),
    )  # fmt: skip
    beta = articles.upsert("beta", [item("b0", "Beta election special", 0.1)], datetime.now(UTC))
    gamma = articles.upsert(
        "gamma", [item("g0", "Élection partielle election", 0.2, language="fr")], datetime.now(UTC)
    )
    return {row.title: row.id for row in (*alpha.new, *beta.new, *gamma.new)}


def test_search_pages_five_at_a_time_own_sources_first(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    set_up_reader(search_bot.services.users, READER, ("alpha",))
    seed(search_bot.services.articles)
    user = TelegramUser(fake, READER, "Ada")
    first = user.send("/search ELECTION")
    assert "Search: ELECTION" in first.text and "Page 1" in first.text
    assert "1. Election night 0" in first.text and "5. Election night 4" in first.text
    assert "Beta election special" not in first.text  # newest, but not the reader's source
    assert "Élection partielle" not in first.text  # French: not the reader's language
    story_rows = [row for row in first.buttons if any("Full story" in b["text"] for b in row)]
    assert len(story_rows) == 5
    assert [b["text"] for b in story_rows[0]][:2] == ["1 · 📖 Full story", "🔗 Related"]
    assert "Previous" not in " ".join(user.labels(first))
    second = user.press("Next", first)
    assert second.message_id == first.message_id and "Page 2" in second.text
    assert "6. Election night 5" in second.text and "8. Beta election special" in second.text
    assert "Next" not in " ".join(user.labels(second))
    assert "Page 1" in user.press("Previous", second).text
    data = [b.get("callback_data", "") for row in second.buttons for b in row]
    assert all(len(d.encode()) <= 64 for d in data)


def test_usage_no_result_long_and_hostile_queries(search_bot: RunningBot, fake: FakeBotAPI) -> None:
    set_up_reader(search_bot.services.users, READER, ("alpha",))
    seed(search_bot.services.articles)
    user = TelegramUser(fake, READER, "Ada")
    assert user.send("/search").text.startswith("Send /search and a few words")
    nothing = user.send("/search election volcano")
    assert "Nothing found for “election volcano”" in nothing.text
    assert "Try fewer or other words." in nothing.text
    assert "too long" in user.send("/search " + "x" * 10_000).text
    for hostile in ('"AND OR NEAR(', "*", "election OR NOT", "<b>&"):
        reply = user.send(f"/search {hostile}")
        assert "Nothing found" in reply.text or "Election night" in reply.text


def test_forged_or_foreign_page_buttons_expire(search_bot: RunningBot, fake: FakeBotAPI) -> None:
    set_up_reader(search_bot.services.users, READER, ("alpha",))
    set_up_reader(search_bot.services.users, STRANGER, ("alpha",))
    seed(search_bot.services.articles)
    user = TelegramUser(fake, READER, "Ada")
    page = user.send("/search election")
    mine = next(b["callback_data"] for row in page.buttons for b in row if "Next" in b["text"])
    other = TelegramUser(fake, STRANGER, "Eve")
    other_page = other.send("/search election")
    expired = "This menu has expired — send /settings"
    assert other.press_data(other_page.message_id, mine) == expired
    for data in ("1|sr|p|99999.1", "1|sr|p|x.1", "1|sr|q|1.1"):
        assert user.press_data(page.message_id, data) == expired


def test_search_in_chinese_for_a_reader_not_set_up(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    seed(search_bot.services.articles)
    user = TelegramUser(fake, STRANGER, "Li")
    assert "中国经济增长超过预期" in user.send("/search 经济").text


def test_muted_sources_and_words_stay_out_of_search_and_inline_results(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    """The reader's mutes, as the Mute buttons and /settings store them, reach /search."""
    set_up_reader(search_bot.services.users, READER, ("beta",))  # then Beta comes first
    seed(search_bot.services.articles)
    mutes = MuteStore(search_bot.services.engine)
    assert mutes.mute_source(READER, "beta")
    assert mutes.mute_word(READER, "Night 3", "night 3")
    user = TelegramUser(fake, READER, "Ada")
    found = user.send("/search election")
    assert "Election night 0" in found.text
    assert "Beta election special" not in found.text and "Election night 3" not in found.text
    query_id = fake.user_sends_inline_query(READER, "election")["inline_query"]["id"]
    fake.wait_for(lambda: fake.inline_answer(query_id) is not None)
    titles = [r["title"] for r in (fake.inline_answer(query_id) or {})["results"]]
    assert "Election night 0" in titles
    assert "Beta election special" not in titles and "Election night 3" not in titles


def test_search_in_german_and_hindi_through_the_bot(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    """Case and accents fold in German; Hindi words keep their vowel signs."""
    search_bot.services.articles.upsert(
        "gamma",
        [item("de1", "Streik in MÜNCHEN: Straße gesperrt", 1, language="de"),
         item("de2", "Wetter in Hamburg", 2, language="de"),
         item("hi1", "दिल्ली में चुनाव आज", 1, language="hi"),
         item("hi2", "मुंबई में बारिश", 2, language="hi")],
        datetime.now(UTC),
    )  # fmt: skip
    user = TelegramUser(fake, STRANGER, "Li")
    german = user.send("/search munchen strasse").text
    assert "Streik in MÜNCHEN" in german and "Hamburg" not in german
    hindi = user.send("/search चुनाव").text
    assert "दिल्ली में चुनाव आज" in hindi and "बारिश" not in hindi
    assert "Nothing found" in user.send("/search चुन").text  # a whole word, not a prefix


def test_inline_query_answers_within_telegrams_rules(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    ids = seed(search_bot.services.articles)
    update = fake.user_sends_inline_query(STRANGER, "election")
    query_id = update["inline_query"]["id"]
    fake.wait_for(lambda: fake.inline_answer(query_id) is not None)
    answer = fake.inline_answer(query_id)
    assert answer is not None
    assert answer["is_personal"] is True and answer["cache_time"] == 30
    assert answer.get("next_offset", "") == ""
    results = answer["results"]
    titles = [r["title"] for r in results]
    assert titles[0] == "Beta election special" and len(results) == 9  # any language: a stranger
    first_alpha = next(r for r in results if r["title"] == "Election night 0")
    assert first_alpha["description"].startswith("Alpha News · ")
    assert first_alpha["thumbnail_url"] == "https://img.example/a.jpg"
    assert "thumbnail_url" not in results[0]
    card = fake.user_chooses_inline_result(STRANGER, query_id, str(ids["Election night 0"]))
    assert card.text.startswith("Election night 0\nAlpha News · ")
    link = next(b for row in card.buttons for b in row if "Read in newsbot" in b["text"])
    assert link["url"] == f"https://t.me/newsbot_test_bot?start=s_{ids['Election night 0']}"


def test_inline_pages_with_next_offset_and_empty_query(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    articles = search_bot.services.articles
    articles.upsert(
        "alpha", [item(f"m{i}", f"Market report {i}", hours=i + 1) for i in range(25)],
        datetime.now(UTC),
    )  # fmt: skip
    articles.upsert("beta", [item("b-only", "Beta weather", 0.5)], datetime.now(UTC))
    first = fake.user_sends_inline_query(STRANGER, "market")["inline_query"]["id"]
    fake.wait_for(lambda: fake.inline_answer(first) is not None)
    answer = fake.inline_answer(first) or {}
    assert len(answer["results"]) == 20 and answer["next_offset"] == "20"
    second = fake.user_sends_inline_query(STRANGER, "market", "20")["inline_query"]["id"]
    fake.wait_for(lambda: fake.inline_answer(second) is not None)
    rest = fake.inline_answer(second) or {}
    assert [r["title"] for r in rest["results"]] == [f"Market report {i}" for i in range(20, 25)]
    assert rest.get("next_offset", "") == ""
    # Empty query: a reader's headlines (their sources only); a stranger's latest stories.
    set_up_reader(search_bot.services.users, READER, ("alpha",))
    mine = fake.user_sends_inline_query(READER, "")["inline_query"]["id"]
    latest = fake.user_sends_inline_query(STRANGER, "")["inline_query"]["id"]
    fake.wait_for(lambda: None not in (fake.inline_answer(mine), fake.inline_answer(latest)))
    mine_titles = [r["title"] for r in (fake.inline_answer(mine) or {})["results"]]
    latest_titles = [r["title"] for r in (fake.inline_answer(latest) or {})["results"]]
    assert "Beta weather" not in mine_titles and "Market report 0" in mine_titles
    assert latest_titles[0] == "Beta weather"


def test_deep_link_opens_the_full_story(
    search_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    stored = search_bot.services.articles.upsert(
        "alpha", [item("t1", "Harbour city opens its first tidal power station", 1,
                       url=pages.url("/tidal"))], datetime.now(UTC),
    ).new  # fmt: skip
    user = TelegramUser(fake, STRANGER, "Ada")
    story = user.send(f"/start s_{stored[0].id}")
    assert story.text.startswith("Harbour city opens its first tidal power station")
    assert "↗ Read full story on Alpha News" in user.labels(story)
    for forged in ("s_999999", "s_abc", "s_" + "9" * 40):
        assert user.send(f"/start {forged}").text == "This story is no longer available."


def test_hostile_and_overlong_inline_queries_get_an_empty_answer(
    search_bot: RunningBot, fake: FakeBotAPI
) -> None:
    seed(search_bot.services.articles)
    asked = [
        fake.user_sends_inline_query(STRANGER, text, offset)["inline_query"]["id"]
        for text, offset in (('"AND OR NEAR(', ""), ("*", ""), ("x" * 300, ""),
                             ("election", "forged-offset"), ("election", "9" * 60))
    ]  # fmt: skip
    fake.wait_for(lambda: all(fake.inline_answer(q) is not None for q in asked))
    answers = [fake.inline_answer(q) or {} for q in asked]
    assert [len(a["results"]) for a in answers[:3]] == [0, 0, 0]
    assert len(answers[3]["results"]) == 9  # an offset we never gave starts from the top
    assert len(answers[4]["results"]) == 9
