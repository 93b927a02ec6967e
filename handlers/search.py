"""/search <words> and inline mode (``@bot words`` in any chat): stories from the article store.

Both read the same index (``storage.search``): the last 14 days, in the reader's languages
(any language for someone who has not set up), the reader's own sources first, then newest.
Muted sources and words come from ``mutes`` (user id → sources, words) when the bot wires one.

/search saves the words and pages with buttons that carry the saved search's id; an inline
query pages with Telegram's ``offset``, which we set to the number of results already shown.
An empty inline query lists the reader's top headlines, or the latest stories if they have not
set up. Choosing a result posts a story card whose "Read in newsbot" link opens the story in
the bot's chat (``/start s_<id>``, see ``handlers.stories``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from telegram import Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import ContextTypes

from digest.catalog import Catalog
from digest.clock import Clock, utcnow
from digest.selection import selection_for, top_stories
from handlers.messaging import answer_expired, edit_in_place, reader_and_language
from storage.articles import ArticleRow, ArticleStore
from storage.saved_searches import SavedSearchStore
from storage.search import ArticleSearch, SearchPage, SearchScope
from storage.search_text import MAX_QUERY_CHARS
from storage.users import Reader, UserStore
from views.i18n import gettext_for, ui_language_for
from views.keyboards import decode
from views.search import (
    PAGE,
    STEP,
    inline_result,
    no_result_html,
    results_page,
    too_long_text,
    usage_text,
)

SEARCH_WINDOW = timedelta(days=14)
PAGE_SIZE = 5
INLINE_PAGE = 20  # results per inline answer (Telegram allows 50)
INLINE_MAX_OFFSET = 200
INLINE_CACHE_SECONDS = 30
Mutes = Callable[[int], tuple[Collection[str], Collection[str]]]


def _no_mutes(_user_id: int) -> tuple[Collection[str], Collection[str]]:
    return (), ()


class SearchHandlers:
    """/search, its Previous/Next buttons and inline queries, built once with their stores."""

    def __init__(
        self,
        users: UserStore,
        articles: ArticleStore,
        search: ArticleSearch,
        saved: SavedSearchStore,
        catalog: Catalog,
        clock: Clock = utcnow,
        mutes: Mutes = _no_mutes,
    ) -> None:
        self.users = users
        self.articles = articles
        self.search = search
        self.saved = saved
        self.catalog = catalog
        self.clock = clock
        self.mutes = mutes

    def _scope(self, user_id: int, reader: Reader | None, now: datetime) -> SearchScope:
        """The reader's languages and sources (none for a stranger), their mutes."""
        selection = selection_for(reader, self.catalog) if reader else None
        sources, words = self.mutes(user_id)
        return SearchScope(
            since=now - SEARCH_WINDOW,
            languages=selection.languages if selection else (),
            own_sources=selection.source_ids if selection else (),
            exclude_sources=sources,
            exclude_words=words,
        )

    async def search_stories(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/search <words>: page one of the results, or a usage line, or "nothing found"."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None:
            return
        reader, language = await reader_and_language(self.users, user)
        _ = gettext_for(language)
        words = " ".join(context.args or [])
        if not words:
            await message.reply_text(usage_text(_))
            return
        if len(words) > MAX_QUERY_CHARS:
            await message.reply_text(too_long_text(MAX_QUERY_CHARS, _))
            return
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        now = self.clock()
        scope = self._scope(user.id, reader, now)
        found = await asyncio.to_thread(self.search.search, words, scope, limit=PAGE_SIZE)
        if not found.articles:
            await message.reply_text(no_result_html(words, language, _), parse_mode=ParseMode.HTML)
            return
        search_id = await asyncio.to_thread(self.saved.save, user.id, words, now)
        page, keyboard = results_page(
            words, found.articles, 0, found.has_more, search_id, self.catalog, now, language, _,
            PAGE_SIZE,
        )  # fmt: skip
        await message.reply_text(
            page, parse_mode=ParseMode.HTML, reply_markup=keyboard, disable_web_page_preview=True
        )

    async def answer_search_button(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """Previous/Next: the same search, another page, edited in place."""
        query = update.callback_query
        if query is None:
            return
        user_id = query.from_user.id
        reader = await asyncio.to_thread(self.users.get, user_id)
        language = reader.ui_language if reader else ui_language_for(query.from_user.language_code)
        _ = gettext_for(language)
        press = decode(query.data)
        search_id, _sep, page_text = (press.arg if press else "").partition(".")
        valid = press is not None and press.step == STEP and press.action == PAGE
        words = None
        if valid and search_id.isdigit() and page_text.isdigit():
            words = await asyncio.to_thread(self.saved.get, int(search_id), user_id)
        if words is None:
            await answer_expired(query, _)
            return
        await query.answer()
        page = min(int(page_text), 99)
        now = self.clock()
        scope = self._scope(user_id, reader, now)
        found = await asyncio.to_thread(
            self.search.search, words, scope, offset=page * PAGE_SIZE, limit=PAGE_SIZE
        )
        if not found.articles:
            await edit_in_place(query, no_result_html(words, language, _), None)
            return
        text, keyboard = results_page(
            words, found.articles, page, found.has_more, int(search_id), self.catalog, now,
            language, _, PAGE_SIZE,
        )  # fmt: skip
        await edit_in_place(query, text, keyboard)

    async def answer_inline_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``@bot words`` in any chat: up to 20 results a time, paged with ``next_offset``."""
        inline = update.inline_query
        if inline is None:
            return
        user = inline.from_user
        reader, language = await reader_and_language(self.users, user)
        _ = gettext_for(language)
        offset = int(inline.offset) if inline.offset.isdigit() and len(inline.offset) < 4 else 0
        offset = min(offset, INLINE_MAX_OFFSET)
        now = self.clock()
        words = inline.query.strip()[:MAX_QUERY_CHARS]
        found = await asyncio.to_thread(self._inline_page, user.id, reader, words, offset, now)
        username = context.bot.username
        results = [inline_result(a, self.catalog, now, language, username, _)
                   for a in found.articles]  # fmt: skip
        more = found.has_more and offset + len(results) < INLINE_MAX_OFFSET
        await inline.answer(
            results, cache_time=INLINE_CACHE_SECONDS, is_personal=True,
            next_offset=str(offset + len(results)) if more else "",
        )  # fmt: skip

    def _inline_page(
        self, user_id: int, reader: Reader | None, words: str, offset: int, now: datetime
    ) -> SearchPage:
        """Search results; for an empty query the reader's headlines, else the latest stories."""
        scope = self._scope(user_id, reader, now)
        if words:
            return self.search.search(words, scope, offset=offset, limit=INLINE_PAGE)
        selection = selection_for(reader, self.catalog) if reader else None
        if selection is None or selection.empty:
            return self.search.latest(scope, offset=offset, limit=INLINE_PAGE)
        ranked = top_stories(self.articles, selection, None, now)
        muted = set(scope.exclude_sources)
        stories: list[ArticleRow] = [s.article for s in ranked if s.article.source_id not in muted]
        return SearchPage(
            tuple(stories[offset : offset + INLINE_PAGE]), len(stories) > offset + INLINE_PAGE
        )
