"""/digest (now, on demand), /pause (a day, a week, until resumed) and /resume."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from telegram import Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import ContextTypes

from digest.clock import Clock, utcnow
from digest.schedule import next_due_for, pause_until
from handlers.messaging import answer_expired, edit_in_place
from storage.users import Reader, UserStore
from views.bidi import isolate
from views.i18n import datetime_text, gettext_for, ui_language_for
from views.keyboards import button, decode, markup, pattern
from views.render import esc

PAUSE_STEP = "p"
PAUSE_CHOICES = ("day", "week", "forever")
CALLBACK_PATTERN = pattern(PAUSE_STEP)


class Digests:
    """On-demand digests and pausing.

    Handlers never import ``push``: the composition root hands in ``queue_digests`` (the
    scheduler's on-demand enqueue: reader, now → rows queued; synchronous, so it runs in a
    worker thread) and ``wake_sender``.
    """

    def __init__(
        self,
        users: UserStore,
        queue_digests: Callable[[Reader, datetime], int],
        wake_sender: Callable[[], Awaitable[object]],
        clock: Clock = utcnow,
        follows_of: Callable[[int], int] | None = None,
    ) -> None:
        self.users = users
        self.queue_digests = queue_digests
        self.wake_sender = wake_sender
        self.clock = clock
        # how many phrases a reader follows: /pause and /resume say that alerts stop and
        # start with the digests (only to readers who follow something)
        self.follows_of = follows_of

    async def send_digest_now(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Queue the reader's digests for right now; the scheduled ones still come."""
        message, reader = update.effective_message, await self._reader(update)
        if message is None:
            return
        _ = _translator(update, reader)
        if reader is None or not reader.setup_complete:
            await message.reply_text(_("Set up your news first: send /start."))
            return
        if not reader.categories:
            await message.reply_text(_("Pick a category first in /settings."))
            return
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        queued = await asyncio.to_thread(self.queue_digests, reader, self.clock())
        if queued:
            context.application.create_task(self.wake_sender(), name="outbox-drain")
        else:
            await message.reply_text(
                _("Nothing new from your sources since your last digest. Try /headlines.")
            )

    async def offer_pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Offer how long to pause."""
        found = await self._known_reader(update)
        if found is None:
            return
        message, reader, _ = found
        keyboard = markup(
            [
                [
                    button(_("1 day"), PAUSE_STEP, "t", "day"),
                    button(_("1 week"), PAUSE_STEP, "t", "week"),
                ],
                [button(_("Until I resume"), PAUSE_STEP, "t", "forever")],
            ]
        )
        await message.reply_text(
            esc(_("Pause your digests for how long?")),
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )

    async def answer_pause_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pause length was picked."""
        query = update.callback_query
        if query is None:
            return
        reader = await asyncio.to_thread(self.users.get, query.from_user.id)
        press = decode(query.data)
        _ = gettext_for(reader.ui_language if reader else ui_language_for(None))
        if reader is None or press is None or press.arg not in PAUSE_CHOICES:
            await answer_expired(query, _)
            return
        now = self.clock()
        until = pause_until(now, press.arg)
        indefinite = press.arg == "forever"
        await asyncio.to_thread(
            self.users.set_paused, reader.id, True, None if indefinite else until
        )
        await query.answer(_("Paused."))
        if indefinite:
            text = _("Digests are paused until you send /resume.")
        else:
            language = reader.ui_language
            when = isolate(datetime_text(until, reader.timezone or "UTC", language), language)
            text = _("Digests are paused until {when}. Send /resume to resume earlier.").format(
                when=when
            )
        if await self._follows_anything(reader.id):
            text += "\n" + _("Stories about the phrases you follow are paused too.")
        await edit_in_place(query, esc(text), None)

    async def resume_digests(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Resume deliveries; the next digest is the next scheduled one from now."""
        found = await self._known_reader(update)
        if found is None:
            return
        message, reader, _ = found
        await asyncio.to_thread(self._resume, reader, self.clock())
        text = _("Your digests are back on.")
        if await self._follows_anything(reader.id):
            text += "\n" + _("Stories about the phrases you follow are back on too.")
        await message.reply_text(text)

    async def _follows_anything(self, user_id: int) -> bool:
        """Whether the reader follows a phrase (their alerts pause and resume with digests)."""
        if self.follows_of is None:
            return False
        return await asyncio.to_thread(self.follows_of, user_id) > 0

    def _resume(self, reader: Reader, now: datetime) -> None:
        """Unpause; the next digest is the next slot from ``now``. Runs in a worker thread."""
        self.users.set_paused(reader.id, False)
        self.users.set_next_due(reader.id, next_due_for(reader, now))

    async def _known_reader(
        self, update: Update
    ) -> tuple[Message, Reader, Callable[[str], str]] | None:
        """The message, its reader and their translator; a stranger is told to send /start
        first (None)."""
        message, reader = update.effective_message, await self._reader(update)
        if message is None:
            return None
        _ = _translator(update, reader)
        if reader is None:
            await message.reply_text(_("Set up your news first: send /start."))
            return None
        return message, reader, _

    async def _reader(self, update: Update) -> Reader | None:
        user = update.effective_user
        return await asyncio.to_thread(self.users.get, user.id) if user else None


def _translator(update: Update, reader: Reader | None) -> Callable[[str], str]:
    if reader is not None:
        return gettext_for(reader.ui_language)
    user = update.effective_user
    return gettext_for(ui_language_for(user.language_code if user else None))
