"""Search results as Telegram shows them: a /search page with story buttons and Previous/Next,
and inline-mode results whose chosen card links back to the story in the bot's own chat.

Pages carry only the saved search's id and the page number (``1|sr|p|<id>.<page>``), never the
words: a query in any script must fit 64 bytes of callback data. Every feed-supplied string is
escaped, and each piece is clipped, so a page and a card fit Telegram's limits by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode

from digest.catalog import Catalog
from digest.rank import RankedStory
from storage.articles import ArticleRow
from views.bidi import isolate, rtl_start
from views.button_urls import telegram_accepts_url
from views.digest import story_buttons
from views.i18n import Gettext, day_text
from views.keyboards import button, markup, pattern
from views.render import esc
from views.story import clip, source_name, story_html, time_ago

STEP = "sr"  # search results; never reuse a menu step code (see views.flow)
PAGE = "p"
CALLBACK_PATTERN = pattern(STEP)
DEEP_LINK_PREFIX = "s_"  # /start s_<article id>
INLINE_TITLE_CHARS = 120
INLINE_DESCRIPTION_CHARS = 160
CARD_SUMMARY_CHARS = 400


def usage_text(_: Gettext) -> str:
    return _("Send /search and a few words, for example: /search climate summit")


def too_long_text(limit: int, _: Gettext) -> str:
    return _("That search is too long: please use at most {count} characters.").format(count=limit)


def no_result_html(query: str, ui_language: str, _: Gettext) -> str:
    """Nothing found: say so, and suggest fewer words."""
    shown = isolate(clip(query, 60), ui_language)
    text = _("Nothing found for “{query}” in the last 14 days.").format(query=shown)
    hint = _("Try fewer or other words.")
    return rtl_start(f"🔎 {esc(text)}\n{esc(hint)}", ui_language)


def results_page(
    query: str,
    articles: Sequence[ArticleRow],
    page: int,
    has_more: bool,
    search_id: int,
    catalog: Catalog,
    now: datetime,
    ui_language: str,
    _: Gettext,
    page_size: int,
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of results: numbered stories, each with its buttons, then Previous/Next."""
    first = page * page_size + 1
    title = _("Search: {query}").format(query=isolate(clip(query, 60), ui_language))
    counter = _("Page {page}").format(page=page + 1)
    blocks = [
        story_html(first + i, RankedStory(article, (), 0.0), catalog, now, ui_language, _)
        for i, article in enumerate(articles)
    ]
    header = f"<b>🔎 {esc(title)}</b>\n<i>{esc(counter)}</i>"
    text = rtl_start("\n\n".join([header, *blocks]), ui_language)
    rows = [
        story_buttons(first + i, a.id, source_name(a.source_id, catalog), a.url, _)
        for i, a in enumerate(articles)
    ]
    nav = []
    if page > 0:
        nav.append(button("◀️ " + _("Previous"), STEP, PAGE, f"{search_id}.{page - 1}"))
    if has_more:
        nav.append(button(_("Next") + " ▶️", STEP, PAGE, f"{search_id}.{page + 1}"))
    return text, markup([*rows, nav])


def deep_link(bot_username: str, article_id: int) -> str:
    """The t.me link that opens this story in the bot's chat (``/start s_<id>``)."""
    return f"https://t.me/{bot_username}?start={DEEP_LINK_PREFIX}{article_id}"


def parse_deep_link(argument: str) -> int | None:
    """The article id of a ``s_<id>`` start parameter, or None for anything else."""
    if not argument.startswith(DEEP_LINK_PREFIX):
        return None
    digits = argument.removeprefix(DEEP_LINK_PREFIX)
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


def story_card(article: ArticleRow, catalog: Catalog, ui_language: str) -> str:
    """The message a chosen inline result posts: title, source and day, a short summary."""
    source = isolate(source_name(article.source_id, catalog), ui_language)
    day = day_text(article.published_at, "UTC", ui_language)
    lines = [
        f"<b>{esc(isolate(clip(article.title, 220), ui_language))}</b>",
        f"<i>{esc(source)} · {esc(day)}</i>",
    ]
    if article.summary:
        lines.append(esc(isolate(clip(article.summary, CARD_SUMMARY_CHARS), ui_language)))
    return rtl_start("\n".join(lines), ui_language)


def inline_result(
    article: ArticleRow,
    catalog: Catalog,
    now: datetime,
    ui_language: str,
    bot_username: str,
    _: Gettext,
) -> InlineQueryResultArticle:
    """One inline result: title, "Source · 3 hours ago", the card, and the way back to the bot.

    The result id is the article id (digits, far under 64 bytes, unique in one answer); the
    thumbnail is the feed's image when Telegram would accept its URL."""
    source = source_name(article.source_id, catalog)
    back = deep_link(bot_username, article.id)
    buttons = [InlineKeyboardButton("📰 " + _("Read in newsbot"), url=back)]
    if telegram_accepts_url(article.url):
        buttons.append(InlineKeyboardButton(f"↗ {clip(source, 30)}", url=article.url))
    when = f"{source} · {time_ago(article.published_at, now, ui_language, _)}"
    image = article.image_url
    thumbnail = image if image and telegram_accepts_url(image) else None
    return InlineQueryResultArticle(
        id=str(article.id),
        title=clip(article.title, INLINE_TITLE_CHARS),
        description=clip(when, INLINE_DESCRIPTION_CHARS),
        input_message_content=InputTextMessageContent(
            story_card(article, catalog, ui_language),
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),  # fmt: skip
        reply_markup=InlineKeyboardMarkup([buttons]),
        thumbnail_url=thumbnail,
    )
