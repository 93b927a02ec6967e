"""A digest as a Telegram message: header, numbered stories, and a compact keyboard.

Built to fit by construction: at most 10 stories, each with a bounded title and summary, and if
the whole still exceeds Telegram's 4096 characters (long titles in every story), summaries are
shortened and then dropped until it fits. Three buttons per story: Full story, Related, and a
link to the publisher (left out when Telegram would refuse the link: the story still shows);
30 buttons at most, well under Telegram's 100.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from digest.catalog import Catalog
from digest.compose import Digest
from digest.rank import RankedStory
from views.bidi import rtl_start
from views.button_urls import telegram_accepts_url
from views.i18n import Gettext, day_text, gettext_for
from views.keyboards import button, encode, markup
from views.labels import category_label
from views.render import MAX_TEXT, esc
from views.story import StoryLimits, source_name, story_html

STORY_STEP = "a"  # "a" for article; never reuse a menu step code (see views.flow)
FULL_STORY = "f"
RELATED = "r"
_TAGS = re.compile(r"<[^>]+>")
_ZERO = "<b>0. "
_BUDGETS = (StoryLimits(220, 180), StoryLimits(160, 90), StoryLimits(120, 0))


def visible_length(text: str) -> int:
    """What Telegram counts: UTF-16 code units of the text after HTML parsing."""
    plain = html.unescape(_TAGS.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def story_buttons(
    number: int, article_id: int, source: str, url: str, _: Gettext
) -> list[InlineKeyboardButton]:
    """The buttons every story carries wherever it is shown."""
    row = [
        button(f"{number} · 📖 " + _("Full story"), STORY_STEP, FULL_STORY, str(article_id)),
        button("🔗 " + _("Related"), STORY_STEP, RELATED, str(article_id)),
    ]
    if telegram_accepts_url(url):
        row.append(InlineKeyboardButton(f"↗ {source}", url=url))
    return row


def digest_message(
    digest: Digest, catalog: Catalog, now: datetime, ui_language: str, timezone: str
) -> tuple[str, InlineKeyboardMarkup]:
    """HTML text and keyboard for a non-empty digest."""
    _ = gettext_for(ui_language)
    local_day = day_text(now, timezone, ui_language)
    header = f"<b>🗞 {esc(category_label(digest.category, _))} · {esc(local_day)}</b>"
    header = rtl_start(header, ui_language)
    text = header
    for limits in _BUDGETS:
        blocks = [
            story_html(i + 1, story, catalog, now, ui_language, _, limits)
            for i, story in enumerate(digest.stories)
        ]
        text = "\n\n".join([header, *blocks])
        if visible_length(text) <= MAX_TEXT:
            break
    rows = [
        story_buttons(
            i + 1,
            story.article.id,
            source_name(story.article.source_id, catalog),
            story.article.url,
            _,
        )
        for i, story in enumerate(digest.stories)
    ]
    return text, markup(rows)


def empty_digest_text(category: str, ui_language: str) -> str:
    _ = gettext_for(ui_language)
    line = _("Nothing new in {category} since your last digest.").format(
        category=category_label(category, _)
    )
    return esc(line)


def as_payload(text: str, keyboard: InlineKeyboardMarkup | None) -> dict[str, Any]:
    """Bot API parameters for the outbox (the sender posts them as they are)."""
    payload: dict[str, Any] = {
        "method": "sendMessage",
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if keyboard is not None:
        payload["reply_markup"] = keyboard.to_dict()
    return payload


class DigestRenderer:
    """Renders the many digests of one tick: each story block, button row and header once per
    language, however many digests show it. Byte for byte what :func:`digest_message` and
    :func:`as_payload` give (a test checks), at a fraction of the cost: a 100,000-reader
    tick renders thousands of distinct digests from a few thousand distinct stories."""

    def __init__(self, catalog: Catalog, now: datetime) -> None:
        self._catalog = catalog
        self._now = now
        self._headers: dict[tuple[str, str, str], tuple[str, int]] = {}
        self._blocks: dict[tuple[int, tuple[str, ...], str, int], tuple[str, int]] = {}
        self._tails: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self._full_label: dict[str, str] = {}
        self._rows: dict[tuple[int, str, int], list[dict[str, Any]]] = {}

    def payload(self, digest: Digest, ui_language: str, timezone: str) -> dict[str, Any]:
        """Bot API parameters for a non-empty digest."""
        header, size = self._header(digest.category, ui_language, timezone)
        return self.stories_payload(header, size, digest.stories, ui_language)

    def stories_payload(
        self, header: str, size: int, stories: Sequence[RankedStory], ui_language: str
    ) -> dict[str, Any]:
        """A digest's message under any ``header`` (HTML, ``size`` its visible length): what
        keyword alerts send, with the same story blocks and buttons, rendered once."""
        text = header
        for budget in range(len(_BUDGETS)):
            blocks = [self._block(i + 1, s, ui_language, budget) for i, s in enumerate(stories)]
            text = "\n\n".join([header, *(b for b, _ in blocks)])
            if size + sum(n + 2 for _, n in blocks) <= MAX_TEXT:
                break
        payload = as_payload(text, None)
        payload["reply_markup"] = {
            "inline_keyboard": [self._row(i + 1, s, ui_language) for i, s in enumerate(stories)]
        }
        return payload

    def _header(self, category: str, ui_language: str, timezone: str) -> tuple[str, int]:
        key = (category, ui_language, timezone)
        found = self._headers.get(key)
        if found is None:
            _ = gettext_for(ui_language)
            local_day = day_text(self._now, timezone, ui_language)
            html_text = f"<b>🗞 {esc(category_label(category, _))} · {esc(local_day)}</b>"
            html_text = rtl_start(html_text, ui_language)
            found = self._headers[key] = (html_text, visible_length(html_text))
        return found

    def _block(
        self, number: int, story: RankedStory, ui_language: str, budget: int
    ) -> tuple[str, int]:
        """``story_html`` for the story at ``number``: rendered once per story, language and
        budget as story 0, then renumbered (the number only opens the first line)."""
        key = (story.article.id, story.also_covered_by, ui_language, budget)
        found = self._blocks.get(key)
        if found is None:
            _ = gettext_for(ui_language)
            block = story_html(0, story, self._catalog, self._now, ui_language, _, _BUDGETS[budget])
            found = self._blocks[key] = (block[len(_ZERO) :], visible_length(block) - 1)
        rest, size = found
        label = str(number)
        return f"<b>{label}. {rest}", size + len(label)

    def _row(self, number: int, story: RankedStory, ui_language: str) -> list[dict[str, Any]]:
        """What ``story_buttons`` gives, as the dicts ``to_dict`` would make, built without
        Telegram objects (the keyboard was most of a digest's cost): the Related and link
        buttons once per story and language, the whole row once per position. Payloads share
        row objects: they are encoded to JSON as they are, never changed."""
        article = story.article
        done = self._rows.get((article.id, ui_language, number))
        if done is not None:
            return done
        key = (article.id, ui_language)
        tail = self._tails.get(key)
        if tail is None:
            _ = gettext_for(ui_language)
            tail = [{"text": "🔗 " + _("Related"),
                     "callback_data": encode(STORY_STEP, RELATED, str(article.id))}]  # fmt: skip
            if telegram_accepts_url(article.url):
                name = source_name(article.source_id, self._catalog)
                tail.append({"text": f"↗ {name}", "url": article.url})
            self._tails[key] = tail
            self._full_label[ui_language] = _("Full story")
        first = {
            "text": f"{number} · 📖 " + self._full_label[ui_language],
            "callback_data": encode(STORY_STEP, FULL_STORY, str(article.id)),
        }
        row = self._rows[(article.id, ui_language, number)] = [first, *tail]
        return row
