"""/follow <words> and /following: keyword alerts, as the reader sets them up.

A phrase is plain words (never a pattern): ``digest.phrases.phrase_key`` turns it into the
case- and accent-free tokens the alert matcher compares. Limits are told, never silently
applied: at most :data:`MAX_FOLLOWS` phrases a reader, :data:`MAX_PHRASE_CHARS` characters each.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from digest.phrases import MAX_PHRASE_CHARS, MAX_PHRASE_TOKENS, phrase_key, tokens
from handlers.messaging import answer_expired, edit_in_place, reader_and_language
from storage.follows import FollowStore
from storage.users import UserStore
from views.alerts import FOLLOW_STEP, REMOVE, follow_usage, following_view
from views.bidi import isolate
from views.i18n import gettext_for
from views.keyboards import decode, pattern
from views.render import esc

MAX_FOLLOWS = 20
CALLBACK_PATTERN = pattern(FOLLOW_STEP)


class Follows:
    """/follow, /following and their Remove buttons."""

    def __init__(self, users: UserStore, follows: FollowStore) -> None:
        self.users = users
        self.follows = follows

    async def follow_phrase(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/follow <words>: start alerts for a phrase (or say why not)."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None:
            return
        reader, language = await reader_and_language(self.users, user)
        _ = gettext_for(language)
        if reader is None or not reader.setup_complete:
            await message.reply_text(_("Set up your news first: send /start."))
            return
        typed = " ".join(context.args or []).strip()
        if not typed:
            await message.reply_text(follow_usage(language, MAX_FOLLOWS), parse_mode=ParseMode.HTML)
            return
        key = phrase_key(typed)
        if len(typed) > MAX_PHRASE_CHARS:
            hint = _("A phrase can be at most {chars} characters. Try a shorter one.")
            await message.reply_text(hint.format(chars=MAX_PHRASE_CHARS))
            return
        if key is None:
            many = len(tokens(typed)) > MAX_PHRASE_TOKENS
            hint = (
                _("A phrase can have at most {words} words.").format(words=MAX_PHRASE_TOKENS)
                if many
                else _("Send words to follow, e.g. /follow climate summit.")
            )
            await message.reply_text(hint)
            return
        added = await asyncio.to_thread(self.follows.add, reader.id, typed, key, MAX_FOLLOWS)
        shown = isolate(typed, language)
        if added is None:
            text = _(
                "You follow {limit} phrases already, the most I keep. Remove one with /following."
            ).format(limit=MAX_FOLLOWS)
        elif added:
            text = _("Following “{phrase}”. New stories about it reach you as they arrive.").format(
                phrase=shown
            )
        else:
            text = _("You already follow “{phrase}”.").format(phrase=shown)
        await message.reply_text(esc(text), parse_mode=ParseMode.HTML)

    async def show_following(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/following: the reader's phrases with Remove buttons."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None:
            return
        reader, language = await reader_and_language(self.users, user)
        follows = await asyncio.to_thread(self.follows.for_user, user.id) if reader else []
        text, keyboard = following_view(follows, language, MAX_FOLLOWS)
        await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    async def answer_following_button(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """Remove: stop following the phrase, and redraw the list in place."""
        query = update.callback_query
        if query is None:
            return
        reader, language = await reader_and_language(self.users, query.from_user)
        _ = gettext_for(language)
        press = decode(query.data)
        if reader is None or press is None or press.action != REMOVE or not press.arg.isdigit():
            await answer_expired(query, _)
            return
        removed = await asyncio.to_thread(self.follows.remove, reader.id, int(press.arg))
        if removed is None:  # removed before, or never theirs: nothing to redraw
            await query.answer(_("Already removed."))
            return
        await query.answer(_("No longer following “{phrase}”.").format(phrase=removed.phrase)[:200])
        follows = await asyncio.to_thread(self.follows.for_user, reader.id)
        text, keyboard = following_view(follows, language, MAX_FOLLOWS)
        await edit_in_place(query, text, keyboard)
