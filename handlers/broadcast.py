"""/broadcast for admins, and the job that keeps each broadcast's progress line live.

Who may do what is decided on every update and every button press by the sender's user id
(``ADMIN_IDS``), never by a button having been shown: for anyone else /broadcast gets the very
reply an unknown command gets, a broadcast button gets the reply a stale menu gets, and each
attempt is logged (by user id only: the text or data sent can hold anything). Buttons also act
only on the message that shows their broadcast, in the chat of the admin who wrote it.

A broadcast, step by step:

1. ``/broadcast <text>`` (or ``/broadcast`` as a reply) stores a draft and sends the admin the
   exact message readers will get (which also lets Telegram validate it), then a menu.
2. The admin picks the audience and sees how many readers it reaches; nothing is queued yet.
3. Confirm queues it, and it starts at once unless another broadcast is sending (they queue up
   behind each other). Starting writes one outbox row per reader; the outbox sender delivers
   them like digests (pacing, retries, 403 → reader inactive). ``BROADCAST_MAX_RATE`` decides
   how: up to Telegram's free 30/s the rows are due one after another at that rate and share
   the bot's free budget (``SEND_MAX_RATE``) with the digests; above it they carry
   ``allow_paid_broadcast``, are all due at once, and the sender paces them by their own
   budget of ``BROADCAST_MAX_RATE``/s (up to 1,000), next to the digests' free one.
4. The progress job (:meth:`Broadcasts.refresh`, every few seconds) edits the menu message
   into a progress line from the outbox counts, only when its text changed, and writes the
   report once nothing is in flight. Its Cancel button stops what is not sent yet.

Everything lives in the database, so after a restart the job carries on where it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from digest.catalog import Catalog
from digest.clock import Clock, utcnow
from handlers import basics
from handlers.messaging import answer_expired, edit_in_place
from storage.broadcasts import Audience, BroadcastRow, BroadcastStore
from storage.deliveries import DeliveryStore
from storage.users import UserStore
from views import broadcast as views
from views.i18n import gettext_for, ui_language_for
from views.keyboards import decode
from views.render import esc

log = logging.getLogger(__name__)

FREE_RATE = 30.0  # messages/s Telegram allows without paid broadcasts
DRAFT_LIFETIME = timedelta(days=1)
_GONE = ("message to edit not found", "message can't be edited")


class Broadcasts:
    """The admin commands and the progress job, built once with their dependencies."""

    def __init__(
        self,
        store: BroadcastStore,
        deliveries: DeliveryStore,
        catalog: Catalog,
        admin_ids: frozenset[int],
        *,
        users: UserStore | None = None,
        max_rate: float = FREE_RATE,
        wake_sender: Callable[[], Awaitable[object]] | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store, self.deliveries, self.catalog = store, deliveries, catalog
        self.admin_ids = frozenset(admin_ids)
        self.users = users
        self.rate = max_rate
        # Above the free rate Telegram wants allow_paid_broadcast (sendMessage, sendPhoto and
        # copyMessage all take it); below, the flag would only cost Stars.
        self.extra: dict[str, Any] = {"allow_paid_broadcast": True} if max_rate > FREE_RATE else {}
        self.wake_sender = wake_sender
        self.clock = clock
        self._tasks: set[asyncio.Task[object]] = set()  # drains started here, kept referenced
        # one edit of a broadcast's line at a time in this process: a Cancel press and the
        # progress tick racing could otherwise land a stale progress line after the report
        self._showing: dict[int, asyncio.Lock] = {}

    # --------------------------------------------------------------- commands
    async def start_broadcast(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Admins: preview the message, then ask who should get it."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        if not self._admin(user.id, "/broadcast"):
            await basics.answer_unknown_command(update, context)
            return
        reader = await asyncio.to_thread(self.users.get, user.id) if self.users else None
        ui = reader.ui_language if reader else ui_language_for(user.language_code)
        _ = gettext_for(ui)
        payload = views.payload_of(message)
        if payload is None:
            await message.reply_text(
                _("Send /broadcast followed by the message, or reply /broadcast to a message.")
            )
            return
        now = self.clock()
        draft = await asyncio.to_thread(
            self.store.create_draft, user.id, message.chat_id, ui, payload, now
        )
        try:
            await _call(context.bot, payload, message.chat_id)
        except BadRequest as e:
            await asyncio.to_thread(self.store.discard, draft.id, now)
            await message.reply_text(_("Telegram refused this message: {reason}").format(reason=e))
            return
        everyone = await asyncio.to_thread(self.store.audience_count, Audience("all"), now)
        text, keyboard = views.menu_view(draft.id, everyone, ui, _)
        sent = await context.bot.send_message(
            message.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
        await asyncio.to_thread(self.store.set_progress_message, draft.id, sent.message_id, None)

    # ---------------------------------------------------------------- buttons
    async def answer_broadcast_button(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        """Every broadcast button: audience menus, Confirm, and Cancel (before or while sending)."""
        query = update.callback_query
        if query is None:
            return
        _ = gettext_for(ui_language_for(query.from_user.language_code))
        if not self._admin(query.from_user.id, "a broadcast button"):
            await answer_expired(query, _)
            return
        press = decode(query.data)
        bid = views.broadcast_id_of(press.step) if press else None
        row = await asyncio.to_thread(self.store.get, bid) if bid is not None else None
        shown = query.message
        if (
            press is None
            or row is None
            or shown is None
            or row.admin_id != query.from_user.id
            or shown.chat.id != row.admin_chat_id
            or shown.message_id != row.progress_message_id
        ):
            await answer_expired(query, _)
            return
        _ = gettext_for(row.admin_language)
        now = self.clock()
        if row.status == "draft" and now - row.created_at > DRAFT_LIFETIME:
            await query.answer(_("This draft is too old; send /broadcast again."))
            return
        if row.status == "draft":
            await self._press_draft(query, row, press.action, press.arg, context.bot)
        elif row.status in ("queued", "sending") and press.action == views.STOP:
            await self._stop(query, row, context.bot)
        else:
            await query.answer(_("This broadcast is over."))

    async def _press_draft(
        self, query: CallbackQuery, row: BroadcastRow, action: str, arg: str, bot: Bot
    ) -> None:
        ui, now = row.admin_language, self.clock()
        _ = gettext_for(ui)
        audience = views.decode_audience(arg) if action in (views.PICK, views.CONFIRM) else None
        if audience is not None and not self._valid(audience):
            audience = None
        if action == views.DISCARD:
            await asyncio.to_thread(self.store.discard, row.id, now)
            await query.answer(_("Cancelled."))
            await edit_in_place(query, esc(_("Broadcast cancelled; nothing was sent.")), None)
        elif action == views.BACK:
            await query.answer()
            everyone = await asyncio.to_thread(self.store.audience_count, Audience("all"), now)
            await edit_in_place(query, *views.menu_view(row.id, everyone, ui, _))
        elif action == views.LIST and arg in ("country", "language", "ui_language"):
            await query.answer()
            counts = await asyncio.to_thread(self.store.audience_breakdown, arg, now)
            options = [
                views.Option(aud, views.option_label(aud, self.catalog, ui, _), counts.get(v, 0))
                for v in views.values_for(arg, self.catalog)
                for aud in (Audience(arg, v),)
            ]
            await edit_in_place(query, *views.list_view(row.id, options, ui, _))
        elif action == views.PICK and audience is not None:
            await query.answer()
            count = await asyncio.to_thread(self.store.audience_count, audience, now)
            label = views.audience_label(audience, self.catalog, ui, _)
            await edit_in_place(query, *views.confirm_view(row.id, audience, count, label, ui, _))
        elif action == views.CONFIRM and audience is not None:
            await self._confirm(query, row, audience, bot)
        else:
            await answer_expired(query, _)

    async def _confirm(
        self, query: CallbackQuery, row: BroadcastRow, audience: Audience, bot: Bot
    ) -> None:
        _ = gettext_for(row.admin_language)
        if not await asyncio.to_thread(self.store.confirm, row.id, audience):
            await query.answer(_("This broadcast is over."))
            return
        log.info("admin %s confirmed broadcast %s to %s", row.admin_id, row.id, audience)
        await query.answer(_("Confirmed."))
        await self._start_next()
        await self._show(bot, row.id)

    async def _stop(self, query: CallbackQuery, row: BroadcastRow, bot: Bot) -> None:
        _ = gettext_for(row.admin_language)
        now = self.clock()
        if not await asyncio.to_thread(self.store.cancel, row.id, now):
            await query.answer(_("This broadcast is over."))
            return
        dropped = await asyncio.to_thread(self.deliveries.cancel_broadcast, row.id, now)
        log.info("admin %s cancelled broadcast %s; %d messages not sent", row.admin_id, row.id,
                 dropped)  # fmt: skip
        await query.answer(_("Cancelled."))
        await self._start_next()
        await self._show(bot, row.id)

    # ------------------------------------------------------------ progress job
    async def refresh(self, bot: Bot) -> None:
        """One progress tick: finish what has settled, start the next queued broadcast, then
        update each line, at most one edit per admin chat per tick (Telegram's 1 message/s
        per chat; a line skipped now is edited next tick). Safe in several processes at once."""
        now = self.clock()
        for row in await asyncio.to_thread(self.store.unfinished):
            if row.status == "cancelled" and row.finished_at is None:
                # Idempotent: covers a crash between the Cancel press and cancelling the rows.
                await asyncio.to_thread(self.deliveries.cancel_broadcast, row.id, now)
            await self._settle(row)
        await self._start_next()
        edited: set[int] = set()
        for row in await asyncio.to_thread(self.store.unfinished):
            if row.admin_chat_id not in edited and await self._show(bot, row.id):
                edited.add(row.admin_chat_id)

    async def _start_next(self) -> BroadcastRow | None:
        # paid: the sender's paid budget paces them; free: the due times do, since free rows
        # share the bot's budget with the digests
        interval = timedelta(0) if self.extra else timedelta(seconds=1 / self.rate)
        started = await asyncio.to_thread(self.store.start_next, self.clock(), interval, self.extra)
        if started is not None:
            log.info("broadcast %s started: %d readers", started.id, started.total)
            if self.wake_sender is not None:
                task = asyncio.ensure_future(self.wake_sender())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return started

    async def _settle(self, row: BroadcastRow) -> tuple[BroadcastRow, dict[str, int]]:
        """Record the end of a sending or cancelled broadcast once nothing of it is in flight."""
        counts = await asyncio.to_thread(self.deliveries.counts, broadcast_id=row.id)
        settled = counts["pending"] + counts["sending"] == 0
        if settled and row.finished_at is None and row.status in ("sending", "cancelled"):
            await asyncio.to_thread(self.store.finish, row.id, self.clock())
            fresh = await asyncio.to_thread(self.store.get, row.id)
            row = fresh if fresh is not None else row
        return row, counts

    async def _show(self, bot: Bot, broadcast_id: int) -> bool:
        """Bring one broadcast's line up to date; True if a message was edited or sent.

        The message is edited if (and only if) its text changes. The compare-and-set on the
        stored text decides which process makes an edit; a failed edit puts the old text back.
        In one process the edits of a line go one at a time, each answered before the next text
        is computed: two edits in flight at once may reach Telegram in either order.
        """
        lock = self._showing.setdefault(broadcast_id, asyncio.Lock())
        async with lock:
            return await self._show_now(bot, broadcast_id)

    async def _show_now(self, bot: Bot, broadcast_id: int) -> bool:
        row = await asyncio.to_thread(self.store.get, broadcast_id)
        if row is None or row.status == "draft" or row.reported_at is not None:
            return False
        now = self.clock()
        row, counts = await self._settle(row)
        _ = gettext_for(row.admin_language)
        label = self._label(row, _)
        final = row.finished_at is not None
        keyboard: InlineKeyboardMarkup | None
        if final:
            reasons = await asyncio.to_thread(self.store.failure_reasons, row.id)
            text, keyboard = views.report_text(row, counts, reasons, label, _), None
        else:
            text, keyboard = views.progress_view(row, counts, label, now, self.rate, _)
        edited = False
        if text != row.progress_text:
            swap = self.store.swap_progress_text
            if not await asyncio.to_thread(swap, row.id, row.progress_text, text):
                return False  # another process is showing it
            if not await self._edit(bot, row, text, keyboard):
                await asyncio.to_thread(swap, row.id, text, row.progress_text)
                return True  # tried: the chat had its message for this tick
            edited = True
        if final:
            await asyncio.to_thread(self.store.mark_reported, row.id, now)
            log.info("broadcast %s report: %s", row.id, counts)
        return edited

    async def _edit(
        self, bot: Bot, row: BroadcastRow, text: str, keyboard: InlineKeyboardMarkup | None
    ) -> bool:
        """Edit the progress message; if it is gone, send a new one. False: try again later."""
        chat, message_id = row.admin_chat_id, row.progress_message_id
        try:
            if message_id is not None:
                await bot.edit_message_text(
                    text, chat, message_id, parse_mode=ParseMode.HTML, reply_markup=keyboard
                )
                return True
        except BadRequest as e:
            if "not modified" in str(e).lower():
                return True
            if not any(gone in str(e).lower() for gone in _GONE):
                log.warning("broadcast %s: progress edit refused: %s", row.id, e)
                return False
        except Forbidden:
            return True  # the admin blocked the bot: nothing to show anyone
        except TelegramError as e:
            log.warning("broadcast %s: progress edit failed: %s", row.id, e)
            return False
        try:  # the message was deleted (or never recorded): a new one carries on
            sent = await bot.send_message(
                chat, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        except TelegramError as e:
            log.warning("broadcast %s: progress message failed: %s", row.id, e)
            return isinstance(e, Forbidden)
        await asyncio.to_thread(self.store.set_progress_message, row.id, sent.message_id, text)
        return True

    # ---------------------------------------------------------------- helpers
    def _admin(self, user_id: int, what: str) -> bool:
        if user_id in self.admin_ids:
            return True
        log.warning("%s refused: user %d is not an admin", what, user_id)
        return False

    def _valid(self, audience: Audience) -> bool:
        return audience.kind == "all" or audience.value in views.values_for(
            audience.kind, self.catalog
        )

    def _label(self, row: BroadcastRow, _: Callable[[str], str]) -> str:
        audience = row.audience or Audience("all")
        return views.audience_label(audience, self.catalog, row.admin_language, _)


async def _call(bot: Bot, payload: dict[str, Any], chat_id: int) -> Any:
    """Make the payload's Bot API call into ``chat_id`` (the preview), as the sender would."""
    params = dict(payload)
    method = str(params.pop("method"))
    params["chat_id"] = chat_id
    return await bot.do_api_request(method.lower(), api_kwargs=params)
