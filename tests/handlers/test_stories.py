"""Story buttons through the fake Bot API: Full story from a local page server, Related."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsbot_testing.fakes.botapi import Call, FakeBotAPI, Message
from newsbot_testing.fakes.telegraph import FakeTelegraph
from newsbot_testing.feedserver import FeedServer, Reply
from storage.articles import ArticleInput
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.news_catalog import news_bot_on, set_up_reader
from tests.handlers.user import TelegramUser

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
# Every RetryAfter PTB 22 builds warns about its int-valued retry_after (PTB_TIMEDELTA opts out).
PTB_RETRY_AFTER_WARNING = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
READER = 41
UNAVAILABLE = "This story is no longer available."


@pytest.fixture
def pages() -> Iterator[FeedServer]:
    with FeedServer(Path(__file__).parents[1] / "data" / "pages") as server:
        server.add_file("/tidal", "article.html", headers={"Content-Type": "text/html"})
        server.add_file("/paywalled", "paywalled.html", headers={"Content-Type": "text/html"})
        server.add_route("/gone", lambda _r: Reply(404, {"Content-Type": "text/html"}, b"gone"))
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def story_bot(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path, clock=clock, allow_private=True) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    assert fake.errors == [], fake.describe()


def seed(bot: RunningBot, pages: FeedServer) -> dict[str, int]:
    """Articles whose links point at the local page server; returns title → id."""

    def item(key: str, title: str, path: str, hours: float, summary: str) -> ArticleInput:
        return ArticleInput(
            entry_key=key, url=pages.url(path), title=title, summary=summary, image_url=None,
            published_at=NOW - timedelta(hours=hours), language="en", categories=("national",),
        )  # fmt: skip

    articles = bot.services.articles
    alpha = articles.upsert("alpha", [
        item("a1", "Harbour city opens its first tidal power station", "/tidal", 1,
             "The tidal power station switched on in the harbour city."),
        item("a2", "Central bank weighs a faster exit", "/paywalled", 2, "Rates may rise."),
        item("a3", "Ferry terminal to close", "/gone", 3, "The old ferry terminal closes."),
        item("a4", "Alpha weekend weather outlook", "/gone", 4, "Sunny and mild."),
    ], NOW).new  # fmt: skip
    beta = articles.upsert("beta", [
        item("b1", "Tidal power station opens in harbour city", "/tidal", 0.5,
             "The harbour city's tidal power station is now running."),
        item("b2", "Harbour tidal turbines draw engineers' praise", "/tidal", 5,
             "Engineers praised the tidal power turbines in the harbour estuary."),
    ], NOW).new  # fmt: skip
    rows = {r.title: r.id for r in [*alpha, *beta]}
    clusters = {i: i for i in rows.values()}
    clusters[rows["Tidal power station opens in harbour city"]] = rows[
        "Harbour city opens its first tidal power station"
    ]
    articles.set_clusters(clusters)
    return rows


def headlines(user: TelegramUser) -> Message:
    return user.send("/headlines national")


def reader(bot: RunningBot, fake: FakeBotAPI) -> TelegramUser:
    set_up_reader(bot.services.users, READER, ("alpha", "beta"))
    return TelegramUser(fake, READER, "Ada")


def wait_new_message(fake: FakeBotAPI, before: int) -> Message:
    fake.wait_for(lambda: len(fake.chat_messages(READER)) > before)
    message = fake.last_message(READER)
    assert message is not None
    return message


def test_full_story_reads_the_article_in_the_chat(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    seed(story_bot, pages)
    user = reader(story_bot, fake)
    page = headlines(user)
    before = len(fake.chat_messages(READER))
    user.press_for_toast("1 · 📖 Full story", page)
    story = wait_new_message(fake, before)
    assert story.text.startswith("Harbour city opens its first tidal power station")
    assert "Alpha News · Tuesday, March 5, 2024" in story.text and "By Maria Okafor" in story.text
    assert "The harbour city switched on its first tidal power station" in story.text
    assert "cookies" not in story.text
    labels = [b["text"] for row in story.buttons for b in row]
    assert "↗ Read full story on Alpha News" in labels and "📤 Share" in labels
    assert "🔗 More related news" in labels
    share = next(b for row in story.buttons for b in row if b["text"] == "📤 Share")
    assert share["url"].startswith("https://t.me/share/url?url=")
    assert any(c.method == "sendChatAction" for c in fake.calls)
    # A second press, by anyone, costs no fetch: the text is cached in the database. (A press
    # landing in the instant between the reply reaching Telegram and the bot hearing back is a
    # repeat, answered "Working on it…": press again then, as a reader would.)
    before = len(fake.chat_messages(READER))
    toasts = [user.press_for_toast("1 · 📖 Full story", page)]
    while toasts[-1] == "Working on it…" and len(toasts) < 20:
        toasts.append(user.press_for_toast("1 · 📖 Full story", page))
    wait_new_message(fake, before)
    assert len(pages.requests_for("/tidal")) == 1


def test_unreadable_pages_fall_back_to_the_summary(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    rows = seed(story_bot, pages)
    user = reader(story_bot, fake)
    for title, reason in (
        ("Central bank weighs a faster exit", "behind the publisher's paywall"),
        ("Ferry terminal to close", "The publisher's page is gone."),
    ):
        page = headlines(user)
        before = len(fake.chat_messages(READER))
        user.press_data(page.message_id, f"1|a|f|{rows[title]}")
        message = wait_new_message(fake, before)
        assert title in message.text and reason in message.text
        assert "Read it on Alpha News" in message.text


def test_related_lists_the_same_story_first_then_the_subject(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    rows = seed(story_bot, pages)
    user = reader(story_bot, fake)
    page = headlines(user)
    before = len(fake.chat_messages(READER))
    seed_id = rows["Harbour city opens its first tidal power station"]
    user.press_data(page.message_id, f"1|a|r|{seed_id}")
    related = wait_new_message(fake, before)
    lines = related.text.splitlines()
    assert lines[0].startswith("🔗 Related to: Harbour city opens")
    assert "1. Tidal power station opens in harbour city" in related.text
    assert related.text.index("Tidal power station opens") < related.text.index("turbines")
    assert "1. Harbour city opens its first" not in related.text, "never the story itself"
    assert [b["text"] for b in related.buttons[0]][:2] == ["1 · 📖 Full story", "🔗 Related"]


def test_forged_or_pruned_ids_answer_politely(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer, clock: ManualClock
) -> None:
    seed(story_bot, pages)
    user = reader(story_bot, fake)
    page = headlines(user)
    for data in ("1|a|f|999999", "1|a|r|abc", "1|a|x|1", "1|a|f|", "1|a|c|1.999x"):
        assert user.press_data(page.message_id, data) == UNAVAILABLE
    # A week later the buttons of the old message still work (within the retention).
    clock.advance(days=7)
    before = len(fake.chat_messages(READER))
    user.press_for_toast("🔗 Related", page)
    assert "Related to:" in wait_new_message(fake, before).text
    # After the retention the article is pruned: the same button answers politely.
    story_bot.services.articles.prune(NOW + timedelta(days=1))
    assert user.press_for_toast("1 · 📖 Full story", page) == UNAVAILABLE


def test_fast_presses_each_get_an_answer(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    seed(story_bot, pages)
    user = reader(story_bot, fake)
    page = headlines(user)
    data = next(b["callback_data"] for b in page.buttons[0] if "Full story" in b["text"])
    mark = len(fake.calls)
    for _ in range(5):
        fake.user_presses_button(READER, page.message_id, data)
    fake.wait_for(lambda: not fake.unanswered_callbacks())

    def stories() -> int:
        return sum(
            m.message_id > page.message_id and m.text.startswith("Harbour city opens")
            for m in fake.chat_messages(READER)
        )

    def repeats() -> int:
        answers = [c for c in fake.calls[mark:] if c.method == "answerCallbackQuery"]
        return sum(c.params.get("text") == "Working on it…" for c in answers)

    # A press while the story is on its way gets a toast instead of a second copy.
    fake.wait_for(lambda: stories() >= 1 and stories() + repeats() == 5)
    assert len(pages.requests_for("/tidal")) == 1


def test_long_story_reads_to_the_end_in_numbered_parts(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    """#16: Continue reading goes on to the last part (main stopped after four), and each part
    says which it is; a paragraph longer than a message is split, never clipped."""
    pages.add_file("/long", "long_story.html", headers={"Content-Type": "text/html"})
    article = ArticleInput(
        entry_key="long", url=pages.url("/long"), title="The harbour inquiry",
        summary="A long one.", image_url=None, published_at=NOW, language="en",
        categories=("national",),
    )  # fmt: skip
    (row,) = story_bot.services.articles.upsert("alpha", [article], NOW).new
    user = reader(story_bot, fake)
    page = headlines(user)
    before = len(fake.chat_messages(READER))
    user.press_data(page.message_id, f"1|a|f|{row.id}")
    parts = [wait_new_message(fake, before)]
    while any("Continue reading" in label for label in user.labels(parts[-1])):
        count = len(fake.chat_messages(READER))
        user.press_for_toast("Continue reading", parts[-1])
        parts.append(wait_new_message(fake, count))
        assert len(parts) < 40, "Continue reading never ends"
    total = len(parts)
    assert total > 4
    for number, part in enumerate(parts, start=1):
        assert part.text.endswith(f"Part {number}/{total}")
        assert len(part.text.encode("utf-16-le")) // 2 <= 4096
    text = "\n".join(p.text for p in parts)
    assert parts[0].text.startswith("The harbour inquiry, session by session")
    for n in range(1, 41):
        assert f"Paragraph {n}. In session {n}," in text
    assert "(note 23.60)." in text, "the paragraph longer than a message is there in full"
    assert text.count("(note 23.") == 60 and "…" not in text
    assert "The inquiry closed its last session at dusk." in parts[-1].text
    refreshed = next(m for m in fake.chat_messages(READER) if m.message_id == parts[0].message_id)
    assert "Continue" not in " ".join(user.labels(refreshed)), "the used button is gone"


def test_forged_huge_ids_answer_politely_without_an_error(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """#14.10: a 40-digit id once overflowed the database integer and logged a traceback."""
    seed(story_bot, pages)
    user = reader(story_bot, fake)
    page = headlines(user)
    huge = "9" * 40
    caplog.set_level(logging.INFO)
    for data in (f"1|a|f|{huge}", f"1|a|r|{huge}", f"1|a|c|{huge}.1", f"1|a|c|1.{huge}",
                 f"1|a|f|{2**63}"):  # fmt: skip
        assert user.press_data(page.message_id, data) == UNAVAILABLE
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_links_telegram_refuses_lose_only_their_buttons(
    story_bot: RunningBot, fake: FakeBotAPI, pages: FeedServer
) -> None:
    """#14.2: /headlines, Full story and Related with an entry linking to http://localhost/x."""
    rows = seed(story_bot, pages)
    odd = ArticleInput(
        entry_key="odd", url="http://localhost/x", title="Harbour tidal station odd link",
        summary="The harbour city tidal power station, linked oddly.", image_url=None,
        published_at=NOW - timedelta(minutes=10), language="en", categories=("national",),
    )  # fmt: skip
    (row,) = story_bot.services.articles.upsert("beta", [odd], NOW).new
    tidal = rows["Harbour city opens its first tidal power station"]
    story_bot.services.articles.set_clusters({row.id: row.id})
    user = reader(story_bot, fake)
    page = headlines(user)
    assert "Harbour tidal station odd link" in page.text
    odd_row = next(r for r in page.buttons if r[0]["callback_data"] == f"1|a|f|{row.id}")
    assert [b["text"] for b in odd_row] == [odd_row[0]["text"], "🔗 Related"]
    assert any(b.get("url") == pages.url("/tidal") for r in page.buttons for b in r)

    before = len(fake.chat_messages(READER))
    user.press_data(page.message_id, f"1|a|f|{row.id}")
    story = wait_new_message(fake, before)
    assert "Harbour tidal station odd link" in story.text
    labels = user.labels(story)
    assert "🔗 More related news" in labels and "📤 Share" in labels
    assert not any("Read full story" in label for label in labels)
    assert "button below" not in story.text, "the text points at no button that is not there"

    before = len(fake.chat_messages(READER))
    user.press_data(page.message_id, f"1|a|r|{tidal}")
    related = wait_new_message(fake, before)
    assert "Harbour tidal station odd link" in related.text
    stories = related.buttons[:-1]  # the last row mutes (see test_mutes)
    assert sum(len(r) == 2 for r in stories) == 1, "only the odd story lost its link"


def bot_at_telegram_limits(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock
) -> RunningBot:
    """The story bot at Telegram's pace; the test sets Telegram's limits on the fake once the
    reader has a page."""
    return news_bot_on(fake, db_url, tmp_path, clock=clock, allow_private=True, real_pacing=True)


def related_buttons(page: Message) -> list[str]:
    return [b["callback_data"] for row in page.buttons for b in row if "Related" in b["text"]]


def assert_flood_handled(fake: FakeBotAPI, caplog: pytest.LogCaptureFixture, presses: int) -> None:
    """What a flood must never cause: a late or missing answer, a request inside a retry_after
    window, an ERROR line, or more than one WARNING (the episode's)."""
    answers = fake.calls_to("answerCallbackQuery")
    assert len(answers) == presses and all(c.status == 200 for c in answers), fake.describe()
    assert fake.slowest_callback_answer() < 15
    assert fake.inside_retry_after == [], "a request went out inside a retry_after window"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) <= 1, warnings


def tap_related_under_a_429(
    fake: FakeBotAPI, page: Message, *, taps: int, retry_after: int
) -> list[str]:
    """Telegram's limits on, the next send refused with ``retry_after``, then ``taps`` presses
    spread over every Related button of ``page``, each answered; returns those buttons."""
    buttons = related_buttons(page)
    fake.set_rate_limit(1, 30)
    fake.fail_next(
        "sendMessage", 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
    )
    for tap in range(taps):
        fake.user_presses_button(READER, page.message_id, buttons[tap % len(buttons)])
    fake.wait_for(lambda: not fake.unanswered_callbacks(), timeout=30, message="all answered")
    return buttons


def reader_sends(fake: FakeBotAPI, after: int) -> list[Call]:
    return [c for c in fake.calls_to("sendMessage")[after:] if c.params["chat_id"] == READER]


@PTB_RETRY_AFTER_WARNING
def test_a_hundred_taps_on_related_under_flood_limits(
    fake: FakeBotAPI,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    pages: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14 item 8: taps on one button while its reply is on the way are answered with a
    toast, not queued; every tap is answered in time and the chat's limit is never hit."""
    caplog.set_level(logging.WARNING)
    with bot_at_telegram_limits(fake, db_url, tmp_path, clock) as bot:
        seed(bot, pages)
        page = headlines(reader(bot, fake))
        mark = len(fake.calls_to("sendMessage"))
        fake.set_rate_limit(1, 30)  # Telegram's limits: 1 message/s in a chat, 30/s overall
        for _ in range(100):
            fake.user_presses_button(READER, page.message_id, related_buttons(page)[0])
        fake.wait_for(lambda: not fake.unanswered_callbacks(), timeout=30, message="all answered")
        fake.wait_for(lambda: any("Related to:" in m.text for m in fake.chat_messages(READER)))
    # The bot has stopped: every reply it started has been sent or dropped by now.
    assert_flood_handled(fake, caplog, 100)
    sends = reader_sends(fake, mark)
    assert 1 <= len(sends) < 10, "taps on the same button coalesce instead of queueing"
    # A private chat may get a short burst (the limiter's design) until Telegram answers 429
    # once; after that the chat is paced strictly, and the refused reply goes out again.
    statuses = [c.status for c in sends]
    assert statuses.count(429) <= 1 and statuses[-1] == 200, fake.describe()
    toasts = [c.params.get("text") for c in fake.calls_to("answerCallbackQuery")]
    assert toasts.count("Working on it…") >= 90


@PTB_RETRY_AFTER_WARNING
def test_replies_to_one_chat_are_paced_and_wait_out_retry_after(
    fake: FakeBotAPI,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    pages: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Taps spread over every Related button: the replies go out one a second, and a 429
    (retry after 2 s) closes the chat until then, with one WARNING for the episode."""
    caplog.set_level(logging.WARNING)
    with bot_at_telegram_limits(fake, db_url, tmp_path, clock) as bot:
        seed(bot, pages)
        page = headlines(reader(bot, fake))
        mark = len(fake.calls_to("sendMessage"))
        buttons = tap_related_under_a_429(fake, page, taps=100, retry_after=2)
        fake.wait_for(lambda: sum(c.status == 200 for c in reader_sends(fake, mark)) >= 4)
    assert_flood_handled(fake, caplog, 100)
    sends = reader_sends(fake, mark)
    assert [c.status for c in sends[:2]] == [429, 200] and all(c.status == 200 for c in sends[1:])
    assert sends[1].at - sends[0].at >= 2.0, "nothing before retry_after has passed"
    gaps = [b.at - a.at for a, b in zip(sends[1:], sends[2:], strict=False)]
    assert gaps and min(gaps) >= 1.0, gaps
    assert len(buttons) <= len(sends) - 1 < 2 * len(buttons)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@PTB_RETRY_AFTER_WARNING
def test_a_long_retry_after_drops_the_replies_and_says_so_once(
    fake: FakeBotAPI,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    pages: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """retry_after beyond the 10 s an interactive reply may wait: the replies are dropped at
    once, nothing more goes to the chat, and the log has one WARNING and one summary."""
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.INFO, logger="bot.flood")
    with bot_at_telegram_limits(fake, db_url, tmp_path, clock) as bot:
        seed(bot, pages)
        page = headlines(reader(bot, fake))
        mark = len(fake.calls_to("sendMessage"))
        tap_related_under_a_429(fake, page, taps=50, retry_after=30)
    assert_flood_handled(fake, caplog, 50)
    assert [c.status for c in reader_sends(fake, mark)] == [429], "nothing inside the window"
    summary = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(summary) == 1 and "1 × 429" in summary[0] and "dropped" in summary[0], summary


@PTB_RETRY_AFTER_WARNING
def test_a_command_reply_dropped_under_flood_is_no_error(
    fake: FakeBotAPI,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    pages: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reply to a command that the flood limit drops reaches the error handler as RetryAfter:
    no ERROR line, no "something went wrong" sent into the flooded chat."""
    caplog.set_level(logging.WARNING)
    with bot_at_telegram_limits(fake, db_url, tmp_path, clock) as bot:
        seed(bot, pages)
        page = headlines(reader(bot, fake))
        mark = len(fake.calls_to("sendMessage"))
        fake.set_rate_limit(1, 30)
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
        fake.user_sends_command(READER, "/help")
        # one reader's updates are handled in order: once this press is answered, /help and
        # its error handling are done
        fake.user_presses_button(READER, page.message_id, related_buttons(page)[0])
        fake.wait_for(lambda: not fake.unanswered_callbacks(), timeout=20, message="answered")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [c.status for c in reader_sends(fake, mark)] == [429], "nothing inside the window"


def _long_story(bot: RunningBot, pages: FeedServer) -> int:
    pages.add_file("/long", "long_story.html", headers={"Content-Type": "text/html"})
    article = ArticleInput(
        entry_key="long", url=pages.url("/long"), title="The harbour inquiry",
        summary="A long one.", image_url=None, published_at=NOW, language="en",
        categories=("national",),
    )  # fmt: skip
    (row,) = bot.services.articles.upsert("alpha", [article], NOW).new
    return row.id


def _url_buttons(message: Message) -> dict[str, str]:
    return {b["text"]: b["url"] for row in message.buttons for b in row if "url" in b}


def test_long_story_offers_one_telegraph_page(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock, pages: FeedServer
) -> None:
    """#16: with TELEGRAPH_TOKEN, a story in parts also gets one page, created once."""
    with (
        FakeTelegraph() as telegraph,
        news_bot_on(
            fake, db_url, tmp_path, clock=clock, allow_private=True,
            telegraph_url=telegraph.base_url,
        ) as bot,
    ):  # fmt: skip
        article_id = _long_story(bot, pages)
        user = reader(bot, fake)
        page = headlines(user)
        first = []
        for _press in range(2):
            before = len(fake.chat_messages(READER))
            user.press_data(page.message_id, f"1|a|f|{article_id}")
            first.append(wait_new_message(fake, before))
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    assert fake.errors == [], fake.describe()
    assert _url_buttons(first[0])["📄 Read as one page"] == "https://telegra.ph/story-1"
    assert _url_buttons(first[1])["📄 Read as one page"] == "https://telegra.ph/story-1"
    assert any("Continue reading" in label for label in user.labels(first[0]))
    (created,) = telegraph.pages
    assert created["access_token"] == "telegraph-test-token"
    assert created["title"] == "The harbour inquiry, session by session"
    paragraphs = [node["children"][0] for node in created["content"][1:]]
    assert len(paragraphs) == 40 and paragraphs[-1].endswith("closed its last session at dusk.")
    assert all(isinstance(text, str) for text in paragraphs), "text nodes, never markup"


@pytest.mark.parametrize(("error", "status"), [("CONTENT_TOO_BIG", 200), (None, 500)])
def test_telegraph_failure_leaves_the_parts_in_the_chat(
    fake: FakeBotAPI,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    pages: FeedServer,
    error: str | None,
    status: int,
) -> None:
    with (
        FakeTelegraph() as telegraph,
        news_bot_on(
            fake, db_url, tmp_path, clock=clock, allow_private=True,
            telegraph_url=telegraph.base_url,
        ) as bot,
    ):  # fmt: skip
        telegraph.fail_with(error, status)
        article_id = _long_story(bot, pages)
        user = reader(bot, fake)
        page = headlines(user)
        before = len(fake.chat_messages(READER))
        user.press_data(page.message_id, f"1|a|f|{article_id}")
        first = wait_new_message(fake, before)
        fake.wait_for(lambda: not fake.unanswered_callbacks())
    assert fake.errors == [], fake.describe()
    assert "📄 Read as one page" not in _url_buttons(first)
    assert "Part 1/" in first.text
    assert any("Continue reading" in label for label in user.labels(first))
    assert telegraph.pages == []
