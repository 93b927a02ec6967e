"""A reader blocks or unblocks the bot: Telegram says so with a ``my_chat_member`` update.

In a private chat the new status is ``kicked`` when the reader blocks the bot and ``member`` when
they unblock it (Telegram sends it only if ``allowed_updates`` asks for ``my_chat_member``). A
block marks the reader inactive at once, so no digest is queued for them and broadcast audiences
and /stats count them as blocked, instead of learning it from a 403 per message. An unblock makes
them active again with every setting kept, and reschedules their next digest from now, so digests
resume at the next delivery time rather than with one missed while they were away.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from digest.clock import Clock, utcnow
from digest.schedule import next_due_for
from storage.users import Reader, UserStore

log = logging.getLogger(__name__)


class Membership:
    """Keeps ``users.active`` in step with whether the reader has blocked the bot."""

    def __init__(self, users: UserStore, clock: Clock = utcnow) -> None:
        self.users = users
        self.clock = clock

    async def record_block_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The reader blocked (kicked) or unblocked (member) the bot in their private chat."""
        change = update.my_chat_member
        if change is None or change.chat.type != ChatType.PRIVATE:
            return
        reader = await asyncio.to_thread(self.users.get, change.chat.id)
        if reader is None:
            return  # never started the bot: nothing stored, /start will create them
        status = change.new_chat_member.status
        if status == ChatMember.BANNED and reader.active:
            await asyncio.to_thread(self.users.set_active, reader.id, False)
            log.info("user %s blocked the bot: deliveries stop", reader.id)
        elif status == ChatMember.MEMBER and not reader.active:
            await asyncio.to_thread(self._reactivate, reader)
            log.info("user %s unblocked the bot: deliveries resume", reader.id)

    def _reactivate(self, reader: Reader) -> None:
        """Next digest the next slot from now, then active again (so no one ever sees an active
        reader with the missed slot still due). Runs in a worker thread."""
        self.users.set_next_due(reader.id, next_due_for(reader, self.clock()))
        self.users.set_active(reader.id, True)
