"""/headlines [category]: the reader's top stories now, five per page, paged in place."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import ContextTypes

from digest.catalog import ALL_CATEGORIES, CATEGORIES, Catalog
from digest.clock import Clock, utcnow
from digest.mutes import NO_MUTES, drop_muted, without_sources
from digest.rank import RankedStory
from digest.selection import Selection, selection_for, top_stories
from handlers.messaging import answer_expired, edit_in_place
from storage.articles import ArticleStore
from storage.mutes import MuteStore
from storage.users import Reader, UserStore
from views.bidi import rtl_start
from views.digest import story_buttons
from views.i18n import Gettext, gettext_for, ui_language_for
from views.keyboards import button, decode, markup, pattern, rows_of
from views.labels import category_label
from views.render import esc
from views.story import source_name, story_html

STEP = "h"
PICK = "c"
PAGE = "p"
PAGE_SIZE = 5
CALLBACK_PATTERN = pattern(STEP)


class Headlines:
    """Top stories on demand, built once with the stores it reads."""

    def __init__(
        self,
        users: UserStore,
        articles: ArticleStore,
        catalog: Catalog,
        clock: Clock = utcnow,
        mutes: MuteStore | None = None,
    ) -> None:
        self.users = users
        self.articles = articles
        self.catalog = catalog
        self.clock = clock
        self.mutes = mutes

    async def show_headlines(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/headlines alone offers a category picker; with a category it shows page one."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None:
            return
        reader = await asyncio.to_thread(self.users.get, user.id)
        _ = gettext_for(reader.ui_language if reader else ui_language_for(user.language_code))
        if reader is None or selection_for(reader, self.catalog).empty:
            await message.reply_text(_("Set up your news first: send /start."))
            return
        wanted = " ".join(context.args or []).strip()
        if not wanted:
            await message.reply_text(
                esc(_("Which headlines?")), parse_mode=ParseMode.HTML, reply_markup=_picker(_)
            )
            return
        category = _match_category(wanted, _)
        if category is None:
            hint = _("I don't know the category “{name}”. Pick one:").format(name=wanted[:40])
            await message.reply_text(esc(hint), parse_mode=ParseMode.HTML, reply_markup=_picker(_))
            return
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        text, keyboard = await self._page(reader, category, 0)
        await message.reply_text(
            text, parse_mode=ParseMode.HTML, reply_markup=keyboard, disable_web_page_preview=True
        )

    async def answer_headlines_button(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """A category from the picker, or Previous/Next: edit the same message."""
        query = update.callback_query
        if query is None:
            return
        reader = await asyncio.to_thread(self.users.get, query.from_user.id)
        press = decode(query.data)
        language = reader.ui_language if reader else ui_language_for(query.from_user.language_code)
        _ = gettext_for(language)
        if reader is None or press is None or press.step != STEP:
            await query.answer(_("Set up your news first: send /start."))
            return
        if press.action == PICK and not press.arg:
            await query.answer()
            await edit_in_place(query, esc(_("Which headlines?")), _picker(_))
            return
        category, _sep, page_text = press.arg.partition(".")
        valid = category in (*CATEGORIES, ALL_CATEGORIES) and (page_text or "0").isdigit()
        if not valid or press.action not in (PICK, PAGE):
            await answer_expired(query, _)
            return
        await query.answer()
        text, keyboard = await self._page(reader, category, int(page_text or 0))
        await edit_in_place(query, text, keyboard)

    async def _page(
        self, reader: Reader, category: str, page: int
    ) -> tuple[str, InlineKeyboardMarkup]:
        _ = gettext_for(reader.ui_language)
        now = self.clock()
        wanted = None if category == ALL_CATEGORIES else category
        selection = selection_for(reader, self.catalog)
        stories = await asyncio.to_thread(self._stories, reader.id, selection, wanted, now)
        title = "📰 " + _("Headlines · {category}").format(category=category_label(category, _))
        if not stories:
            empty = _("No stories from your sources here yet. New ones arrive every few minutes.")
            return f"<b>{esc(title)}</b>\n\n{esc(empty)}", _picker(_)
        pages = math.ceil(len(stories) / PAGE_SIZE)
        page = min(max(page, 0), pages - 1)
        shown = stories[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        first = page * PAGE_SIZE + 1
        body = "\n\n".join(
            story_html(first + i, story, self.catalog, now, reader.ui_language, _)
            for i, story in enumerate(shown)
        )
        counter = _("Page {page} of {pages}").format(page=page + 1, pages=pages)
        text = f"<b>{esc(title)}</b>\n<i>{esc(counter)}</i>\n\n{body}"
        return rtl_start(text, reader.ui_language), self._keyboard(
            shown, first, category, page, pages, _
        )

    def _stories(
        self, user_id: int, selection: Selection, category: str | None, now: datetime
    ) -> list[RankedStory]:
        """Top stories without what the reader muted. Runs in a worker thread."""
        muted = self.mutes.for_user(user_id) if self.mutes is not None else NO_MUTES
        selection = without_sources(selection, muted.sources)
        return drop_muted(top_stories(self.articles, selection, category, now), muted)

    def _keyboard(
        self,
        shown: list[RankedStory],
        first: int,
        category: str,
        page: int,
        pages: int,
        _: Gettext,
    ) -> InlineKeyboardMarkup:
        rows = [
            story_buttons(
                first + i,
                s.article.id,
                source_name(s.article.source_id, self.catalog),
                s.article.url,
                _,
            )
            for i, s in enumerate(shown)
        ]
        nav = []
        if page > 0:
            nav.append(button("◀️ " + _("Previous"), STEP, PAGE, f"{category}.{page - 1}"))
        nav.append(button("🗂", STEP, PICK, ""))
        if page + 1 < pages:
            nav.append(button(_("Next") + " ▶️", STEP, PAGE, f"{category}.{page + 1}"))
        return markup([*rows, nav])


def _picker(_: Gettext) -> InlineKeyboardMarkup:
    choices = [*CATEGORIES, ALL_CATEGORIES]
    buttons = [button(category_label(c, _), STEP, PICK, f"{c}.0") for c in choices]
    return markup(rows_of(buttons, 2))


def _match_category(text: str, _: Gettext) -> str | None:
    """ "sports", "Sports", "all", or the label in the reader's language."""
    wanted = text.casefold()
    for category in (*CATEGORIES, ALL_CATEGORIES):
        if wanted in (category, category_label(category, _).casefold()):
            return category
    return "all" if wanted in ("all categories", "everything") else None
