"""The whole interface in each reader's language, through the fake Bot API over real HTTP (#10).

A reader whose Telegram is set to German, Arabic, Hindi, Chinese or French walks the /start setup
and /settings, gets a scheduled digest and opens a full story; no message or button may carry an
English sentence of the interface (every msgid fragment of two words or more is looked for; the
news itself stays in the publisher's language and is not UI text). Arabic messages start right to
left and keep Latin source names in Unicode isolates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from newsbot_testing.fakes.botapi import FakeBotAPI, Message
from newsbot_testing.feedserver import FeedServer
from storage.articles import ArticleInput
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.news_catalog import news_bot_on
from tests.handlers.user import TelegramUser
from views.bidi import FSI, PDI, RLM
from views.i18n import ENDONYMS, LOCALE_DIR, country_name, gettext_for, language_name
from views.labels import category_label

# Tuesday 24 November 2026, 06:58 in Toronto (UTC-5): the reader picks 07:00.
START = datetime(2026, 11, 24, 11, 58, tzinfo=UTC)
READER = 61
LANGUAGES = ["de", "ar", "hi", "zh", "fr"]
PLACEHOLDER = re.compile(r"\{[^}]*\}|%\([^)]*\)[sdif]")


def english_sentences() -> set[str]:
    """Every piece of an English msgid between placeholders that has two words or more."""
    with (LOCALE_DIR / "newsbot.pot").open("rb") as handle:
        template = read_po(handle)
    found: set[str] = set()
    for message in template:
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            for piece in PLACEHOLDER.split(msgid):
                piece = piece.strip(" .,:;!?()·—–-“”\"'…✅➡️\n")
                if len(re.findall(r"[A-Za-z]{2,}", piece)) >= 2:
                    found.add(piece)
    return found


ENGLISH = english_sentences()


NEWS = [
    "Harbour city opens its first tidal power station",
    "Ferry timetable changes from Monday",
]


def english_in(message: Message) -> list[str]:
    """English UI sentences in the message's text and buttons, once the news is taken out (the
    story titles and summaries we seeded; of a full story only its byline lines are ours)."""
    text = message.text
    if "Maria Okafor" in text:  # the full story: title, byline, author, then the article
        text = "\n".join(text.splitlines()[1:3])
    for news in NEWS:
        text = text.replace(news, "")
    labels = [str(b["text"]) for row in message.buttons for b in row]
    return sorted(s for s in ENGLISH for part in [text, *labels] if s in part)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def pages() -> Iterator[FeedServer]:
    with FeedServer(Path(__file__).parents[1] / "data" / "pages") as server:
        server.add_file("/tidal", "article.html", headers={"Content-Type": "text/html"})
        yield server


@pytest.fixture
def news_bot(
    fake: FakeBotAPI, db_url: str, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path, clock=clock, allow_private=True) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks(), message="every press answered")
    # Removing the keyboard of a menu that is already inert is a harmless no-op (as in conftest).
    refused = [c for c in fake.errors if "not modified" not in str(c.response.get("description"))]
    assert refused == [], fake.describe()


def seed(bot: RunningBot, pages: FeedServer) -> None:
    def item(key: str, title: str, hours: float) -> ArticleInput:
        return ArticleInput(
            entry_key=key, url=pages.url("/tidal"), title=title, summary=f"{title}: the details.",
            image_url=None, published_at=START - timedelta(hours=hours), language="en",
            categories=("national",),
        )  # fmt: skip

    rows = bot.services.articles.upsert(
        "alpha",
        [
            item("t1", "Harbour city opens its first tidal power station", 1),
            item("t2", "Ferry timetable changes from Monday", 3),
        ],
        START,
    ).new
    bot.services.articles.set_clusters({row.id: row.id for row in rows})


def walk_setup(user: TelegramUser, language: str) -> Message:
    """/start to Confirm on the three-source Canada catalog, pressing translated labels only."""
    _ = gettext_for(language)
    first = user.send("/start")
    assert _("Choose your primary country") in first.text, first.text
    assert first.text.startswith(RLM) == (language == "ar")
    user.press(country_name("CA", language, "Canada"))
    user.press(_("Skip") + " ➡️")  # no other country in this catalog
    user.press(language_name("en", language))
    user.press(_("Skip") + " ➡️")  # French stays out
    user.press("Alpha News")
    user.press(_("Skip") + " ➡️")
    user.press(category_label("national", _))
    user.press(_("Done") + " ➡️")
    user.press("07:00")
    summary = user.press(_("Done") + " ➡️")
    assert _("Almost done: please check") in summary.text, summary.text
    done = user.press("✅ " + _("Confirm"))
    assert _("✅ All set! Your digests will arrive on time.") in done.text
    return done


def walk_settings(user: TelegramUser, language: str) -> list[Message]:
    _ = gettext_for(language)
    seen = [user.send("/settings")]
    assert _("Settings") in seen[0].text
    seen.append(user.press("🌐 " + _("Language of the bot")))
    assert _("Language of the bot") in seen[-1].text
    seen.append(user.press(ENDONYMS[language]))  # the same language: back to the menu
    seen.append(user.press("🌙 " + _("Quiet hours")))
    seen.append(user.press("22:00–07:00"))
    seen.append(user.press("🔢 " + _("Stories per digest")))
    seen.append(user.press("5"))
    seen.append(user.press("📭 " + _("Empty digests")))
    seen.append(user.press(_("Tell me")))
    seen.append(user.press("✅ " + _("Done")))
    assert _("✅ Saved.") in seen[-1].text
    seen.append(user.send("/help"))
    assert _("What I can do") in seen[-1].text
    return seen


@pytest.mark.parametrize("language", LANGUAGES)
def test_reader_gets_the_whole_interface_in_their_language(
    news_bot: RunningBot, fake: FakeBotAPI, clock: ManualClock, pages: FeedServer, language: str
) -> None:
    _ = gettext_for(language)
    user = TelegramUser(fake, READER, "Ada", language_code=language)
    walk_setup(user, language)
    walk_settings(user, language)
    seed(news_bot, pages)
    clock.advance(minutes=2)  # 07:00 in Toronto
    news_bot.push()
    digest = next(m for m in fake.chat_messages(READER) if "🗞" in m.text)
    assert category_label("national", _) in digest.text
    before = len(fake.chat_messages(READER))
    user.press_for_toast("1 · 📖 " + _("Full story"), digest)
    fake.wait_for(lambda: len(fake.chat_messages(READER)) > before, message="the full story")
    story = fake.chat_messages(READER)[-1]
    assert "Maria Okafor" in story.text and "🔗 " + _("More related news") in english_labels(story)
    leaks = {m.message_id: english_in(m) for m in fake.chat_messages(READER) if english_in(m)}
    assert not leaks, f"English UI text in {language}: {leaks}"
    if language == "ar":
        assert digest.text.startswith(RLM)
        assert f"{FSI}Alpha News{PDI}" in digest.text  # the Latin source name is isolated
        assert f"{FSI}Harbour city opens its first tidal power station{PDI}" in digest.text
        assert story.text.startswith(RLM) and f"{FSI}Alpha News{PDI}" in story.text
    else:
        assert FSI not in digest.text and RLM not in digest.text


def english_labels(message: Message) -> list[str]:
    return [str(b["text"]) for row in message.buttons for b in row]


def test_the_language_of_the_bot_changes_in_settings_only(
    news_bot: RunningBot, fake: FakeBotAPI
) -> None:
    """A German Telegram user switches the bot to Arabic: menus, /help and digests follow the
    choice, not the Telegram language, and the news languages are untouched."""
    de, ar = gettext_for("de"), gettext_for("ar")
    user = TelegramUser(fake, READER, "Ada", language_code="de")
    walk_setup(user, "de")
    user.send("/settings")
    user.press("🌐 " + de("Language of the bot"))
    menu = user.press(ENDONYMS["ar"])
    assert ar("Settings") in menu.text and menu.text.startswith(RLM)
    assert "🌐 " + ar("Language of the bot") in english_labels(menu)
    assert ar("Language of the bot: {language}").format(language=ENDONYMS["ar"]) in menu.text
    reader = news_bot.services.users.get(READER)
    assert reader is not None and reader.ui_language == "ar"
    assert reader.countries[0].languages == ("en",)
    assert ar("What I can do") in user.send("/help").text
    assert (
        ar("I don't know that command. Send /help to see what I can do.") in user.send("/nope").text
    )


def test_a_new_reader_gets_the_setup_in_their_telegram_language(
    news_bot: RunningBot, fake: FakeBotAPI
) -> None:
    for user_id, code, expected in (
        (71, "zh-hans", "zh"),
        (72, "zh-hant", "zh"),
        (73, "pt-br", "en"),
    ):
        first = TelegramUser(fake, user_id, "Li", language_code=code).send("/start")
        assert gettext_for(expected)("Choose your primary country") in first.text
        reader = news_bot.services.users.get(user_id)
        assert reader is not None and reader.ui_language == expected
