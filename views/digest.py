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
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from digest.catalog import Catalog
from digest.compose import Digest
from views.bidi import rtl_start
from views.button_urls import telegram_accepts_url
from views.i18n import Gettext, day_text, gettext_for
from views.keyboards import button, markup
from views.labels import category_label
from views.render import MAX_TEXT, esc
from views.story import StoryLimits, source_name, story_html

STORY_STEP = "a"  # "a" for article; never reuse a menu step code (see views.flow)
FULL_STORY = "f"
RELATED = "r"
_TAGS = re.compile(r"<[^>]+>")
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
