"""Who is asking and in which language; editing a message in place, the way every menu and
pager in the bot does it; and the answers
a press gets when the bot will not act on it: a stale or forged button, a repeat, or Telegram's
flood limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, User
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from storage.users import Reader, UserStore
from views.i18n import Gettext, gettext_for, ui_language_for

log = logging.getLogger(__name__)


async def reader_and_language(users: UserStore, user: User) -> tuple[Reader | None, str]:
    """Who is asking: their reader row (None before /start) and the language to answer in (the
    one they chose, else their Telegram language), read off the event loop."""
    reader = await asyncio.to_thread(users.get, user.id)
    return reader, reader.ui_language if reader else ui_language_for(user.language_code)


async def edit_in_place(
    query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None
) -> None:
    """Edit the pressed message; an identical result (a double tap) is not an error.

    Under Telegram's flood limit the rate limiter waits a bounded time and then gives up with
    RetryAfter: the press has been answered already, so the edit is dropped (the limiter logs
    the episode once) rather than turned into an error reply that would flood the chat more."""
    try:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, reply_markup=keyboard, disable_web_page_preview=True
        )
    except RetryAfter:
        log.debug("menu edit dropped under flood control")
    except BadRequest as e:
        if "not modified" not in str(e).lower():
            raise


async def answer_expired(query: CallbackQuery, _: Gettext | None = None) -> None:
    """A button the bot will not act on (an older menu, a finished one, a forged press): the one
    polite answer every menu gives, never a traceback and never someone else's data."""
    _ = _ or gettext_for(ui_language_for(query.from_user.language_code))
    await query.answer(_("This menu has expired — send /settings"))


async def answer_repeat(query: CallbackQuery, _: Gettext | None = None) -> None:
    """A tap on a button whose previous tap is still being handled: answered, not queued."""
    _ = _ or gettext_for(ui_language_for(query.from_user.language_code))
    await _answer_quietly(query, _("Working on it…"))


async def answer_flooded(query: CallbackQuery) -> None:
    """A tap the bot cannot handle in time (flood limit, long queue): a toast, nothing else."""
    _ = gettext_for(ui_language_for(query.from_user.language_code))
    await _answer_quietly(query, _("Too many requests — try again in a few seconds."))


async def _answer_quietly(query: CallbackQuery, text: str) -> None:
    """An answer that fails (too old, already answered) changes nothing for the reader."""
    with contextlib.suppress(TelegramError):
        await query.answer(text)
