"""The story buttons: Full story, Continue reading, Related. They work on messages of any age.

Buttons carry only the article id (step ``a``, action ``f``, argument ``123``), so a forged or
stale id simply finds nothing and gets "This story is no longer available". Each press is
answered at once; the page fetch and extraction then run as a background task, so a slow
publisher never holds up the reader's next tap or anyone else. While that reply is on its way,
more taps on the same button of the same message get a short toast instead of another reply (a
reader hammering Related under Telegram's flood limit would otherwise queue a hundred messages).
A reply the rate limiter cannot send in time (RetryAfter) is dropped: the press was answered
already and the limiter logs the burst once.

A full story longer than one message comes in numbered parts; "Continue reading" (argument
``123.4``: article and part) sends the next one, to the last. With a long-form publisher (the
Telegraph page, when the operator enabled it) the first part also carries "Read as one page";
if that page cannot be made the button is left out and the parts are all the reader needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import ContextTypes

from digest.catalog import Catalog
from digest.clock import Clock, utcnow
from digest.full_story import FullStory, FullStoryService
from digest.rank import RankedStory
from digest.related import RelatedFinder, RelatedStory
from digest.selection import selection_for
from handlers.messaging import answer_repeat
from storage.articles import ArticleRow, ArticleStore
from storage.users import Reader, UserStore
from views.bidi import isolate, rtl_start
from views.button_urls import telegram_accepts_url
from views.digest import FULL_STORY, RELATED, STORY_STEP, story_buttons
from views.full_story import fallback_text, share_url, story_pages
from views.i18n import Gettext, gettext_for, ui_language_for
from views.keyboards import button, decode, markup, pattern, prefix
from views.mutes import mute_row
from views.render import esc
from views.search import parse_deep_link
from views.story import clip, source_name, story_html

log = logging.getLogger(__name__)

CONTINUE = "c"
CALLBACK_PATTERN = pattern(STORY_STEP)
RELATED_LIMIT = 8
#: Given a readable story and its source's name, the URL of the story as one long-form page
#: (Telegraph, when the operator enabled it), or None when that page could not be made.
LongForm = Callable[[FullStory, str], Awaitable[str | None]]


class Stories:
    """Handlers for every story button, built once with the services they use."""

    def __init__(
        self,
        users: UserStore,
        articles: ArticleStore,
        catalog: Catalog,
        full_stories: FullStoryService,
        related: RelatedFinder,
        clock: Clock = utcnow,
        *,
        long_form: LongForm | None = None,
    ) -> None:
        self.users = users
        self.long_form = long_form
        self.articles = articles
        self.catalog = catalog
        self.full_stories = full_stories
        self.related_finder = related
        self.clock = clock
        self._replying: set[tuple[int, int, str]] = set()  # (chat, message, button) in flight

    async def answer_story_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Route a story button; unknown, pruned or forged ids get a polite toast."""
        query = update.callback_query
        if query is None:
            return
        reader = await asyncio.to_thread(self.users.get, query.from_user.id)
        _ = gettext_for(
            reader.ui_language if reader else ui_language_for(query.from_user.language_code)
        )
        press = decode(query.data)
        article_id, _sep, part = (press.arg if press else "").partition(".")
        wanted = int(article_id) if article_id.isdigit() else None
        article = await asyncio.to_thread(self.articles.get, wanted) if wanted is not None else None
        well_formed = press is not None and (
            part.isdigit()
            if press.action == CONTINUE
            else press.action in (FULL_STORY, RELATED) and not part
        )
        if press is None or article is None or not well_formed:
            await query.answer(_("This story is no longer available."))
            return
        chat_id = query.message.chat.id if query.message else query.from_user.id
        key = (chat_id, query.message.message_id if query.message else 0, str(query.data))
        if key in self._replying:
            await answer_repeat(query, _)
            return
        await query.answer()
        self._replying.add(key)
        if press.action == RELATED:
            work = self._send_related(context, chat_id, article, reader, _)
        else:
            work = self._send_full_story(context, chat_id, article, reader, int(part or 0), _)
        if press.action == CONTINUE:
            work = _after(_drop_continue_button(query), work)
        context.application.create_task(
            self._reply(context, chat_id, key, work), update=update, name=f"story-{article.id}"
        )

    async def open_shared_story(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start s_<id>, from a shared card's "Read in newsbot" link: the Full story, as its
        button shows it; an unknown, pruned or forged id gets a polite line."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None:
            return
        reader = await asyncio.to_thread(self.users.get, user.id)
        _ = gettext_for(reader.ui_language if reader else ui_language_for(user.language_code))
        wanted = parse_deep_link(context.args[0] if context.args else "")
        article = await asyncio.to_thread(self.articles.get, wanted) if wanted is not None else None
        if article is None:
            await message.reply_text(_("This story is no longer available."))
            return
        with contextlib.suppress(RetryAfter):
            await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        await self._send_full_story(context, message.chat_id, article, reader, 0, _)

    async def _reply(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        key: tuple[int, int, str],
        work: Coroutine[Any, Any, None],
    ) -> None:
        """Show "typing", send the reply; under flood control drop it (the press is answered)."""
        try:
            with contextlib.suppress(RetryAfter):
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            await work
        except RetryAfter:
            log.debug("story reply to chat %s dropped under flood control", chat_id)
        finally:
            self._replying.discard(key)

    async def _send_full_story(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        article: ArticleRow,
        reader: Reader | None,
        page: int,
        _: Gettext,
    ) -> None:
        story = await self.full_stories.get(article.id)
        source = source_name(article.source_id, self.catalog)
        read_on = InlineKeyboardButton(
            "↗ " + _("Read full story on {source}").format(source=source), url=article.url
        )
        share = InlineKeyboardButton("📤 " + _("Share"), url=share_url(article.url, article.title))
        more = button("🔗 " + _("More related news"), STORY_STEP, RELATED, str(article.id))
        if story is None or not story.ok:
            text = fallback_text(
                article.title, article.summary, source, story.reason if story else None, _,
                has_link=telegram_accepts_url(article.url),
                ui_language=reader.ui_language if reader else "en",
            )  # fmt: skip
            keyboard = markup([[read_on], [share, more]])
        else:
            language = reader.ui_language if reader else "en"
            zone = reader.timezone if reader and reader.timezone else "UTC"
            pages = story_pages(story, source, zone, language, _)
            page = min(page, len(pages) - 1)
            text = pages[page]
            rows = [[read_on], [share, more]]
            if page + 1 < len(pages):
                label = _("Continue reading ({page}/{pages})").format(
                    page=page + 2, pages=len(pages)
                )
                rows.insert(
                    0, [button("⬇️ " + label, STORY_STEP, CONTINUE, f"{article.id}.{page + 1}")]
                )
            if page == 0 and len(pages) > 1 and (one_page := await self._one_page(story, source)):
                rows.insert(1, [InlineKeyboardButton("📄 " + _("Read as one page"), url=one_page)])
            keyboard = markup(rows)
        await context.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard,
            disable_web_page_preview=True,
        )  # fmt: skip

    async def _one_page(self, story: FullStory, source: str) -> str | None:
        """The long-form page's URL, or None: off, failed, or a link Telegram would refuse.

        Any failure leaves the reader with the parts in the chat, which always work.
        """
        if self.long_form is None:
            return None
        try:
            url = await self.long_form(story, source)
        except Exception:
            log.exception("long-form page of article %d failed", story.article_id)
            return None
        return url if url and telegram_accepts_url(url) else None

    async def _send_related(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        article: ArticleRow,
        reader: Reader | None,
        _: Gettext,
    ) -> None:
        now = self.clock()
        languages = selection_for(reader, self.catalog).languages if reader else frozenset()
        wanted = languages or frozenset({article.language})
        found = await asyncio.to_thread(self._related, article.id, wanted, now)
        language = reader.ui_language if reader else "en"
        title = _("Related to: {title}").format(title=isolate(clip(article.title, 160), language))
        mute = mute_row(article.source_id, article.id, self.catalog, _)
        if not found:
            text = f"<b>{esc(title)}</b>\n\n" + esc(_("No related stories yet."))
            text = rtl_start(text, language)
            await context.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup([mute])
            )
            return
        blocks = [f"<b>🔗 {esc(title)}</b>"]
        rows = []
        for number, item in enumerate(found, start=1):
            ranked = RankedStory(item.article, (), 0.0)
            blocks.append(story_html(number, ranked, self.catalog, now, language, _))
            source = source_name(item.article.source_id, self.catalog)
            rows.append(story_buttons(number, item.article.id, source, item.article.url, _))
        rows.append(mute)
        await context.bot.send_message(
            chat_id, rtl_start("\n\n".join(blocks), language), parse_mode=ParseMode.HTML,
            reply_markup=markup(rows),
            disable_web_page_preview=True,
        )  # fmt: skip

    def _related(
        self, article_id: int, languages: frozenset[str], now: datetime
    ) -> list[RelatedStory] | None:
        """Index what arrived since the last look (cheap when nothing did), then search."""
        self.related_finder.refresh(now)
        return self.related_finder.related(article_id, languages, now, RELATED_LIMIT)


async def _after(first: Coroutine[Any, Any, None], then: Coroutine[Any, Any, None]) -> None:
    await first
    await then


async def _drop_continue_button(query: CallbackQuery) -> None:
    """The previous part keeps its other buttons but loses "Continue" (it has been used)."""
    message = query.message
    if message is None or not hasattr(message, "reply_markup") or message.reply_markup is None:
        return
    used = prefix(STORY_STEP, CONTINUE)
    keyboard = message.reply_markup.inline_keyboard
    rows = [[b for b in row if not str(b.callback_data or "").startswith(used)] for row in keyboard]
    if sum(map(len, rows)) == sum(map(len, keyboard)):
        return
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup([r for r in rows if r]))
    except TelegramError:
        log.debug("could not drop the continue button", exc_info=True)
