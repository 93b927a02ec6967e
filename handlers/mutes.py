"""Muting: "Mute <Source>" and "Fewer like this" under a Related view, and the Muted sources /
Muted words parts of /settings (lists with Unmute buttons, and a typed word to add).

What a reader mutes is gone from their digests, /headlines, alerts and search (each applies
``digest.mutes``); nothing here knows how, it only keeps the lists.
"""

from __future__ import annotations

import asyncio

from telegram import CallbackQuery, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from digest.catalog import Catalog
from digest.mutes import distinctive_words
from digest.phrases import MAX_PHRASE_CHARS, phrase_key
from handlers.messaging import answer_expired, edit_in_place, reader_and_language
from storage.articles import ArticleStore
from storage.mutes import MuteStore
from storage.users import Reader, UserStore
from views import mutes as v
from views.bidi import isolate
from views.flow import SETTINGS, Step, StepKind
from views.i18n import Gettext, gettext_for
from views.keyboards import Press, decode, pattern
from views.render import esc
from views.setup import step_view
from views.story import source_name

CALLBACK_PATTERN = pattern(v.MUTE_STEP)


class Mutes:
    """Handlers for every mute button and the typed muted word."""

    def __init__(
        self, users: UserStore, mutes: MuteStore, articles: ArticleStore, catalog: Catalog
    ) -> None:
        self.users = users
        self.mutes = mutes
        self.articles = articles
        self.catalog = catalog

    async def answer_mute_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Route a mute button; anything unknown or forged gets the polite "expired" toast."""
        query = update.callback_query
        if query is None:
            return
        reader, language = await reader_and_language(self.users, query.from_user)
        _ = gettext_for(language)
        press = decode(query.data)
        if reader is None or press is None:
            await answer_expired(query, _)
            return
        if press.action == v.MUTE_SOURCE:
            await self._mute_source(query, reader, press.arg, _)
        elif press.action in (v.FEWER, v.MUTE_WORD):
            await self._fewer(query, context, reader, press, _)
        elif press.action in (v.LIST, v.UNMUTE_SOURCE, v.UNMUTE_WORD):
            await self._list(query, reader, press, _)
        elif press.action == v.ADD_WORD:
            await asyncio.to_thread(self.users.set_flow, reader.id, v.TYPING_WORD)
            await query.answer()
            await edit_in_place(query, v.add_word_prompt(language), None)
        elif press.action == v.BACK:
            await query.answer()
            await asyncio.to_thread(
                self.users.set_flow, reader.id, StepKind.SETTINGS_MENU, mode=SETTINGS
            )
            fresh = await asyncio.to_thread(self.users.get, reader.id)
            text, keyboard = step_view(
                Step(StepKind.SETTINGS_MENU), fresh or reader, self.catalog, SETTINGS
            )
            await edit_in_place(query, text, keyboard)
        else:
            await answer_expired(query, _)

    async def _mute_source(
        self, query: CallbackQuery, reader: Reader, source_id: str, _: Gettext
    ) -> None:
        if self.catalog.source(source_id) is None:
            await answer_expired(query, _)
            return
        name = source_name(source_id, self.catalog)
        done = await asyncio.to_thread(self.mutes.mute_source, reader.id, source_id)
        toast = (
            _("Muted {source}. Unmute it in /settings.").format(source=name)
            if done
            else _("You muted too many sources already. Unmute some in /settings.")
        )
        await query.answer(toast[:200], show_alert=False)

    async def _fewer(
        self,
        query: CallbackQuery,
        context: ContextTypes.DEFAULT_TYPE,
        reader: Reader,
        press: Press,
        _: Gettext,
    ) -> None:
        article_id, _sep, position = press.arg.partition(".")
        article = (
            await asyncio.to_thread(self.articles.get, int(article_id))
            if article_id.isdigit()
            else None
        )
        if article is None:
            await query.answer(_("This story is no longer available."))
            return
        words = distinctive_words(article.title)
        if press.action == v.FEWER:
            await query.answer()
            text, keyboard = v.fewer_view(article.title, article.id, words, reader.ui_language)
            await context.bot.send_message(
                reader.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
            return
        if not position.isdigit() or int(position) >= len(words):
            await answer_expired(query, _)
            return
        word = words[int(position)]
        added = await asyncio.to_thread(self.mutes.mute_word, reader.id, word, word)
        await query.answer(_mute_word_toast(added, word, _)[:200])
        if added:
            note = _("Muted “{word}”. Stories containing it will no longer reach you.").format(
                word=isolate(word, reader.ui_language)
            )
            await edit_in_place(query, esc(note), None)

    async def _list(self, query: CallbackQuery, reader: Reader, press: Press, _: Gettext) -> None:
        if press.action == v.UNMUTE_SOURCE:
            await asyncio.to_thread(self.mutes.unmute_source, reader.id, press.arg)
            showing = v.SOURCES
        elif press.action == v.UNMUTE_WORD:
            if not press.arg.isdigit():
                await answer_expired(query, _)
                return
            await asyncio.to_thread(self.mutes.unmute_word, reader.id, int(press.arg))
            showing = v.WORDS
        elif press.arg in (v.SOURCES, v.WORDS):
            showing = press.arg
        else:
            await answer_expired(query, _)
            return
        await query.answer()
        if showing == v.SOURCES:
            muted = await asyncio.to_thread(self.mutes.muted_sources, reader.id)
            text, keyboard = v.sources_view(muted, self.catalog, reader.ui_language)
        else:
            rows = await asyncio.to_thread(self.mutes.word_rows, reader.id)
            text, keyboard = v.words_view(rows, reader.ui_language)
        await edit_in_place(query, text, keyboard)

    async def receive_muted_word(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, reader: Reader
    ) -> None:
        """The word typed after "Add a word": mute it and show the list again."""
        message = update.effective_message
        if message is None:
            return
        _ = gettext_for(reader.ui_language)
        typed = " ".join((message.text or "").split())
        key = phrase_key(typed)
        if key is None or len(typed) > MAX_PHRASE_CHARS:
            await message.reply_text(
                _("Send a word or phrase of at most {chars} characters.").format(
                    chars=MAX_PHRASE_CHARS
                )
            )
            return
        added = await asyncio.to_thread(self.mutes.mute_word, reader.id, typed, key)
        await asyncio.to_thread(self.users.set_flow, reader.id, None)
        rows = await asyncio.to_thread(self.mutes.word_rows, reader.id)
        text, keyboard = v.words_view(rows, reader.ui_language)
        note = esc(_mute_word_toast(added, typed, _))
        await message.reply_text(
            f"<i>{note}</i>\n\n{text}", parse_mode=ParseMode.HTML, reply_markup=keyboard
        )


def _mute_word_toast(added: bool | None, word: str, _: Gettext) -> str:
    if added is None:
        return _("You muted too many words already. Unmute some first.")
    if not added:
        return _("“{word}” is muted already.").format(word=word)
    return _("Muted “{word}”.").format(word=word)
