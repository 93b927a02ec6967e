"""/start, /settings and /stop: the guided setup in one message that is edited in place.

Every answer is written to the database before the reply goes out, and the step the reader is on
is stored with the id of the message that shows it. So a restarted bot carries on where the reader
was, and a button on any other (older) message is recognisably stale: it gets "this menu has
expired" instead of acting on a menu the reader no longer sees.

Over 350 lines on purpose: /start, /settings and /stop drive one state machine (the stored step and
the id of the menu message that shows it); split by command, that machine would be split too. Its
pure parts, the flow table, views and input parsing, are in ``views/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from telegram import Bot, BotCommandScopeChat, CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from digest.catalog import ALL_CATEGORIES, Catalog
from digest.clock import Clock, utcnow
from digest.schedule import next_due_for, parse_quiet_hours
from handlers.basics import bot_commands
from handlers.messaging import answer_expired, edit_in_place
from storage.users import Reader, UserStore
from views.bidi import isolate, rtl_start
from views.flow import (
    MAX_DELIVERY_TIMES,
    MULTI_CHOICE,
    SETTINGS,
    SETTINGS_ONLY,
    SETUP,
    SINGLE_CHOICE,
    Step,
    StepKind,
    first_missing,
    forced_choice,
    next_step,
    options,
    parse_quiet_code,
    previous_step,
)
from views.i18n import gettext_for, language_name, ngettext_for, time_text, ui_language_for
from views.inputs import match_timezone, parse_times, suggest_timezones
from views.keyboards import Action, Press, button, decode, markup
from views.labels import country_label, source_label
from views.render import esc, hhmm, italic
from views.setup import step_view, summary_html

log = logging.getLogger(__name__)

STOP_STEP = "x"  # the /stop menu: not a step of the flow, so never a StepKind
TypedInput = Callable[[Update, ContextTypes.DEFAULT_TYPE, Reader], Awaitable[None]]
# What the settings menu's buttons may open (the optional parts open from the mandatory ones).
SETTINGS_PARTS = frozenset(
    {
        StepKind.COUNTRY,
        StepKind.LANGUAGE,
        StepKind.SOURCE,
        StepKind.CATEGORIES,
        StepKind.TIMES,
        StepKind.TIMEZONE,
        *SETTINGS_ONLY,
    }
)


class SetupFlow:
    """Handlers for the setup/settings menus, built once with their dependencies."""

    def __init__(
        self,
        users: UserStore,
        catalog: Catalog,
        clock: Clock = utcnow,
        admin_ids: frozenset[int] = frozenset(),
        typed_inputs: Mapping[str, TypedInput] | None = None,
    ) -> None:
        self.users = users
        self.catalog = catalog
        self.clock = clock
        self.admin_ids = admin_ids
        # Other parts of /settings that wait for typed text (a muted word): stored step → handler
        self.typed_inputs = dict(typed_inputs or {})

    # ------------------------------------------------------------------ commands
    async def start_setup(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Greet a new reader, resume a half-done setup, or show a returning reader's settings."""
        reader = await self._ensure_reader(update, back_after_block=True)
        if reader.id in self.admin_ids:  # their menu with /stats and /broadcast, in their language
            await self._set_chat_commands(context.bot, reader)
        _ = gettext_for(reader.ui_language)
        note = None
        if reader.paused:
            await asyncio.to_thread(self.users.set_paused, reader.id, False)
            reader = await asyncio.to_thread(self._reschedule, reader)
            note = _("Welcome back! Your deliveries are on again.")
        if reader.setup_complete:
            await self._open_menu(context, reader, Step(StepKind.SETTINGS_MENU), SETTINGS, note)
            return
        resume = Step.parse(reader.flow_step)
        if resume is None or resume.kind == StepKind.SETTINGS_MENU:
            resume = first_missing(reader, self.catalog) or Step(StepKind.SUMMARY)
        if reader.flow_step is None and reader.primary_country is None:
            name = isolate(reader.first_name or _("there"), reader.ui_language)
            note = _(
                "Hi {name}! I send news digests from the sources you pick, at the times you "
                "pick. Setup takes a minute."
            ).format(name=name)
        elif note is None:
            note = _("Welcome back! Let's continue where you left off.")
        await self._open_menu(context, reader, resume, reader.flow_mode or SETUP, note)

    async def show_settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show every choice in plain words, with a button per part to change it."""
        reader = await self._ensure_reader(update)
        if not reader.setup_complete:
            await self.start_setup(update, context)
            return
        await self._open_menu(context, reader, Step(StepKind.SETTINGS_MENU), SETTINGS)

    async def stop_deliveries(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Pause every delivery, then offer to delete everything stored about the reader."""
        reader = await self._ensure_reader(update)
        _ = gettext_for(reader.ui_language)
        await asyncio.to_thread(self.users.set_paused, reader.id, True)
        text = "\n\n".join(
            [
                esc(_("Deliveries are paused. Send /start whenever you want them back.")),
                esc(_("Do you also want me to delete everything I store about you?")),
            ]
        )
        keyboard = markup(
            [
                [button("🗑 " + _("Delete my data"), STOP_STEP, Action.DELETE_ASK)],
                [button(_("Keep my settings"), STOP_STEP, Action.KEEP)],
            ]
        )
        await self._send_menu(context, reader, STOP_STEP, text, keyboard)

    # ------------------------------------------------------------------- buttons
    async def answer_setup_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every button of the setup, settings and stop menus."""
        query = update.callback_query
        if query is None or update.effective_user is None:
            return
        reader = await asyncio.to_thread(self.users.get, update.effective_user.id)
        press = decode(query.data)
        message_id = query.message.message_id if query.message else None
        if (
            reader is None
            or press is None
            or message_id is None
            or message_id != reader.menu_message_id
            or press.step != reader.flow_step
        ):
            await self._expired(query, reader)
            return
        if press.step == STOP_STEP:
            await self._press_stop(query, reader, press)
            return
        step = Step.parse(press.step)
        if step is None:
            await self._expired(query, reader)
            return
        await self._press_step(query, reader, step, press)

    async def _press_step(
        self, query: CallbackQuery, reader: Reader, step: Step, press: Press
    ) -> None:
        _ = gettext_for(reader.ui_language)
        mode = reader.flow_mode
        if press.action == Action.BACK:
            await query.answer()
            await self._show(query, reader, previous_step(step, reader, self.catalog, mode), mode)
            return
        if press.action == Action.PICK and step.kind in SINGLE_CHOICE:
            await self._pick(query, reader, step, press.arg)
            return
        if press.action == Action.TOGGLE and step.kind in MULTI_CHOICE:
            await self._toggle(query, reader, step, press.arg)
            return
        if press.action in (Action.DONE, Action.SKIP) and step.kind != StepKind.SETTINGS_MENU:
            problem = self._missing_answer(step, reader)
            if problem:
                await query.answer(problem, show_alert=False)
                return
            await query.answer()
            await self._show(query, reader, next_step(step, reader, self.catalog, mode), mode)
            return
        if step.kind == StepKind.SUMMARY and press.action == Action.CONFIRM:
            await self._finish(query, reader, _("✅ All set! Your digests will arrive on time."))
            return
        if (
            step.kind == StepKind.SUMMARY
            and press.action == Action.GOTO
            and press.arg == StepKind.SETTINGS_MENU
        ):
            await query.answer()
            await self._show(query, reader, Step(StepKind.SETTINGS_MENU), SETTINGS)
            return
        if step.kind == StepKind.SETTINGS_MENU and press.action == Action.GOTO:
            target = Step.parse(press.arg)
            if target is None or target.kind not in SETTINGS_PARTS:
                await self._expired(query, reader)
                return
            if target.country and reader.country(target.country) is None:
                await self._expired(query, reader)
                return
            await query.answer()
            await self._show(query, reader, target, SETTINGS)
            return
        if step.kind == StepKind.SETTINGS_MENU and press.action == Action.DONE:
            await self._finish(query, reader, _("✅ Saved."))
            return
        await self._expired(query, reader)

    async def _pick(self, query: CallbackQuery, reader: Reader, step: Step, value: str) -> None:
        """A single choice: store it, then move on to the next step."""
        if value not in options(step, reader, self.catalog):
            await self._expired(query, reader)
            return
        _ = gettext_for(reader.ui_language)
        note = None
        reader = await asyncio.to_thread(self._save_pick, reader, step, value)
        following = next_step(step, reader, self.catalog, reader.flow_mode)
        if (
            step.kind == StepKind.LANGUAGE
            and step.country
            and following != Step(StepKind.OTHER_LANGUAGES, step.country)
        ):
            country_name = country_label(step.country, reader, self.catalog)
            note = _("No other language available for {country}.").format(country=country_name)
        await query.answer()
        await self._show(query, reader, following, reader.flow_mode, note)
        if step.kind == StepKind.UI_LANGUAGE:
            await self._set_chat_commands(query.get_bot(), reader)

    async def _set_chat_commands(self, bot: Bot, reader: Reader) -> None:
        """The reader chose a language of the bot: their chat's command menu follows it (a chat
        scope outranks the per-language default ones Telegram would pick from the client's
        language). Admins keep /stats and /broadcast. A refusal only costs the menu's language."""
        admin = reader.id in self.admin_ids
        commands = bot_commands(reader.ui_language, admin=admin)
        try:
            await bot.set_my_commands(commands, BotCommandScopeChat(reader.chat_id))
        except TelegramError as error:
            log.info("no chat command menu for %s: %s", reader.id, error)

    async def _toggle(self, query: CallbackQuery, reader: Reader, step: Step, value: str) -> None:
        """A multi-select tick: store it and redraw the same menu with the new check marks."""
        if value not in options(step, reader, self.catalog):
            await self._expired(query, reader)
            return
        toast = None
        fresh = await asyncio.to_thread(self._save_toggle, reader, step, value)
        if fresh is None:
            toast = _too_many_times(reader.ui_language)
        await query.answer(toast)
        await self._show(query, fresh or reader, step, reader.flow_mode)

    async def _finish(self, query: CallbackQuery, reader: Reader, headline: str) -> None:
        """Leave the menus: the setup is complete, or the reader is told what is missing."""
        missing = first_missing(reader, self.catalog)
        if missing is not None:
            _ = gettext_for(reader.ui_language)
            await query.answer(_("One more answer is needed."))
            await self._show(query, reader, missing, reader.flow_mode)
            return
        await asyncio.to_thread(self.users.set_setup_complete, reader.id, True)
        await asyncio.to_thread(self.users.set_flow, reader.id, None, mode=SETTINGS)
        await query.answer()
        reader = await asyncio.to_thread(self._reschedule, reader)
        _ = gettext_for(reader.ui_language)
        footer = esc(_("Change anything with /settings. /help lists every command."))
        text = f"{italic(headline)}\n\n{summary_html(reader, self.catalog)}\n\n{footer}"
        await edit_in_place(query, rtl_start(text, reader.ui_language), None)

    async def _press_stop(self, query: CallbackQuery, reader: Reader, press: Press) -> None:
        _ = gettext_for(reader.ui_language)
        if press.action == Action.DELETE_ASK:
            await query.answer()
            keyboard = markup(
                [
                    [button("🗑 " + _("Yes, delete everything"), STOP_STEP, Action.DELETE_YES)],
                    [button(_("Cancel"), STOP_STEP, Action.KEEP)],
                ]
            )
            text = esc(_("Delete all your settings? This cannot be undone."))
            await edit_in_place(query, text, keyboard)
        elif press.action == Action.DELETE_YES:
            await asyncio.to_thread(self.users.delete, reader.id)
            log.info("user %s deleted their data", reader.id)
            await query.answer(_("Deleted."))
            await edit_in_place(
                query,
                esc(_("Everything I stored about you is deleted. Send /start to begin again.")),
                None,
            )
        elif press.action == Action.KEEP:
            await asyncio.to_thread(self.users.set_flow, reader.id, None)
            await query.answer()
            text = esc(
                _("Your settings are kept and deliveries stay paused. Send /start to resume.")
            )
            await edit_in_place(query, text, None)
        else:
            await self._expired(query, reader)

    # ---------------------------------------------------------------- free text
    async def receive_typed_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Typed delivery times and timezone names; anything else gets a one-line hint."""
        message = update.effective_message
        if message is None or update.effective_user is None:
            return
        reader = await asyncio.to_thread(self.users.get, update.effective_user.id)
        if reader is None:
            _ = gettext_for(ui_language_for(update.effective_user.language_code))
            await message.reply_text(_("Send /start to set up your news."))
            return
        _ = gettext_for(reader.ui_language)
        typed = message.text or ""
        other = self.typed_inputs.get(reader.flow_step or "")
        if other is not None:
            await other(update, context, reader)
            return
        if reader.flow_step == StepKind.TIMES:
            minutes = parse_times(typed)
            if minutes is None:
                await message.reply_text(_("Send a time like 07:30, or several: 07:30, 18:00."))
                return
            merged = set(reader.delivery_minutes) | set(minutes)
            if len(merged) > MAX_DELIVERY_TIMES:
                await message.reply_text(_too_many_times(reader.ui_language))
                return
            await asyncio.to_thread(self.users.set_delivery_minutes, reader.id, merged)
            added = isolate(", ".join(hhmm(m) for m in sorted(minutes)), reader.ui_language)
            note = _("Added {times}.").format(times=added)
            fresh = await asyncio.to_thread(self._reload, reader)
            await self._open_menu(context, fresh, Step(StepKind.TIMES), reader.flow_mode, note)
            return
        if reader.flow_step == StepKind.TIMEZONE:
            zone = match_timezone(typed)
            if zone is None:
                close = suggest_timezones(typed)
                hint = _(
                    "I don't know that timezone. Send a name like America/Toronto or Europe/Berlin."
                )
                if close:
                    hint += " " + _("Did you mean: {names}?").format(names=", ".join(close))
                await message.reply_text(hint)
                return
            await asyncio.to_thread(self.users.set_timezone, reader.id, zone)
            reader = await asyncio.to_thread(self._reload, reader)
            following = next_step(Step(StepKind.TIMEZONE), reader, self.catalog, reader.flow_mode)
            now = isolate(time_text(self.clock(), zone, reader.ui_language), reader.ui_language)
            note = _("Timezone set to {zone} (it is {time} there).").format(
                zone=isolate(zone, reader.ui_language), time=now
            )
            await self._open_menu(context, reader, following, reader.flow_mode, note)
            return
        if reader.flow_step == StepKind.QUIET_HOURS:
            try:
                window = parse_quiet_hours(typed)
            except ValueError:
                await message.reply_text(_("Send quiet hours like 22:30-06:45, or “off”."))
                return
            await asyncio.to_thread(
                self.users.set_quiet_hours, reader.id, *(window or (None, None))
            )
            reader = await asyncio.to_thread(self._reload, reader)
            await self._open_menu(context, reader, Step(StepKind.SETTINGS_MENU), SETTINGS)
            return
        if reader.flow_step:
            await message.reply_text(_("Please use the buttons above, or send /settings."))
        elif reader.setup_complete:
            await message.reply_text(_("Send /help to see what I can do."))
        else:
            await message.reply_text(_("Send /start to set up your news."))

    # ------------------------------------------------------------------ helpers
    async def _ensure_reader(self, update: Update, *, back_after_block: bool = False) -> Reader:
        """The sender's reader row, created if new and active again if they had blocked the bot;
        ``back_after_block`` also reschedules such a returning reader (see :meth:`_arrive`)."""
        user = update.effective_user
        chat = update.effective_chat
        assert user is not None and chat is not None  # commands always come from someone
        args = (user.id, chat.id, user.first_name[:128], ui_language_for(user.language_code))
        if back_after_block:
            return await asyncio.to_thread(self._arrive, *args)
        return await asyncio.to_thread(self.users.ensure, *args)

    def _arrive(self, user_id: int, chat_id: int, first_name: str, language: str) -> Reader:
        """/start: ensure the reader; one back after blocking the bot gets the next slot from
        now as their next digest, not the one missed while away. Runs in a worker thread."""
        known = self.users.get(user_id)
        if known is not None and not known.active and known.setup_complete:
            # Rescheduled before ``ensure`` makes them active, so an active reader never has
            # the missed slot due.
            self.users.set_next_due(user_id, next_due_for(known, self.clock()))
        return self.users.ensure(user_id, chat_id, first_name, language)

    def _reschedule(self, reader: Reader) -> Reader:
        """Times, timezone, quiet hours or pausing may have changed: recompute the next digest
        time from the reader as stored. Runs in a worker thread."""
        reader = self._reload(reader)
        self.users.set_next_due(reader.id, next_due_for(reader, self.clock()))
        return self._reload(reader)

    def _save_pick(self, reader: Reader, step: Step, value: str) -> Reader:
        """Store a single choice; the reader as now stored. Runs in a worker thread."""
        if step.kind == StepKind.COUNTRY:
            self.users.set_primary_country(reader.id, value)
            country = self.catalog.country(value)
            if country and reader.timezone not in country.timezones:
                self.users.set_timezone(reader.id, country.default_timezone)
        elif step.kind == StepKind.LANGUAGE and step.country:
            self.users.set_primary_language(reader.id, step.country, value)
            self._drop_unreachable_sources(reader.id, step.country)
        elif step.kind == StepKind.SOURCE and step.country:
            self.users.set_primary_source(reader.id, step.country, value)
        elif step.kind == StepKind.TIMEZONE:
            self.users.set_timezone(reader.id, value)
        elif step.kind == StepKind.QUIET_HOURS:
            window = parse_quiet_code(value)
            self.users.set_quiet_hours(reader.id, *(window or (None, None)))
        elif step.kind == StepKind.DIGEST_SIZE:
            self.users.set_stories_per_digest(reader.id, int(value))
        elif step.kind == StepKind.EMPTY_DIGEST:
            self.users.set_empty_digest(reader.id, value)
        elif step.kind == StepKind.UI_LANGUAGE:
            self.users.set_ui_language(reader.id, value)
        return self._reload(reader)

    def _save_toggle(self, reader: Reader, step: Step, value: str) -> Reader | None:
        """Store a multi-select tick; the reader as now stored, or None when the tick would
        exceed the delivery times allowed (nothing stored). Runs in a worker thread."""
        if step.kind == StepKind.OTHER_COUNTRIES:
            self.users.toggle_other_country(reader.id, value)
        elif step.kind == StepKind.OTHER_LANGUAGES and step.country:
            self.users.toggle_other_language(reader.id, step.country, value)
            self._drop_unreachable_sources(reader.id, step.country)
        elif step.kind == StepKind.OTHER_SOURCES and step.country:
            self.users.toggle_other_source(reader.id, step.country, value)
        elif step.kind == StepKind.CATEGORIES:
            self.users.set_categories(reader.id, _toggled_categories(reader.categories, value))
        elif step.kind == StepKind.TIMES:
            minutes = set(reader.delivery_minutes) ^ {int(value)}
            if len(minutes) > MAX_DELIVERY_TIMES:
                return None
            self.users.set_delivery_minutes(reader.id, minutes)
        return self._reload(reader)

    def _reload(self, reader: Reader) -> Reader:
        """The reader as stored now. Runs in a worker thread."""
        fresh = self.users.get(reader.id)
        return fresh if fresh is not None else reader

    def _drop_unreachable_sources(self, user_id: int, country: str) -> None:
        """Sources in no language the reader still reads go. Runs in a worker thread."""
        reader = self.users.get(user_id)
        choice = reader.country(country) if reader else None
        if choice is not None:
            allowed = [s.id for s in self.catalog.sources_for(country, choice.languages)]
            self.users.keep_sources(user_id, country, allowed)

    def _missing_answer(self, step: Step, reader: Reader) -> str | None:
        _ = gettext_for(reader.ui_language)
        if step.kind == StepKind.CATEGORIES and not reader.categories:
            return _("Pick at least one category.")
        if step.kind == StepKind.TIMES and not reader.delivery_minutes:
            return _("Pick at least one time, or send one like 07:30.")
        if step.kind == StepKind.TIMEZONE and not reader.timezone:
            return _("Pick a timezone first.")
        return None

    def _settle(self, step: Step, reader: Reader, mode: str) -> tuple[Step, Reader, str | None]:
        """Make forced choices (a country's only language or source) and say so in a note.
        Runs in a worker thread."""
        _ = gettext_for(reader.ui_language)
        notes: list[str] = []
        for _guard in range(20):
            value = forced_choice(step, reader, self.catalog)
            if value is None or step.country is None:
                break
            country = country_label(step.country, reader, self.catalog)
            if step.kind == StepKind.LANGUAGE:
                self.users.set_primary_language(reader.id, step.country, value)
                language = language_name(value, reader.ui_language)
                notes.append(
                    _("News for {country} is in {language}; no other language available.").format(
                        country=country, language=language
                    )
                )
            else:
                self.users.set_primary_source(reader.id, step.country, value)
                notes.append(
                    _("{source} is the source for {country}.").format(
                        source=isolate(source_label(value, self.catalog), reader.ui_language),
                        country=country,
                    )
                )
            reader = self._reload(reader)
            step = next_step(step, reader, self.catalog, mode)
        return step, reader, " ".join(notes) or None

    async def _show(
        self,
        query: CallbackQuery,
        reader: Reader,
        step: Step,
        mode: str,
        note: str | None = None,
    ) -> None:
        """Edit the current menu message into ``step``."""
        step, reader, forced_note = await asyncio.to_thread(self._settle, step, reader, mode)
        note = " ".join(n for n in (note, forced_note) if n) or None
        await asyncio.to_thread(self.users.set_flow, reader.id, step.code, mode=mode)
        reader = await asyncio.to_thread(self._reload, reader)
        text, keyboard = step_view(step, reader, self.catalog, mode, note)
        await edit_in_place(query, text, keyboard)

    async def _open_menu(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        reader: Reader,
        step: Step,
        mode: str,
        note: str | None = None,
    ) -> None:
        """Send ``step`` as a new menu message; the previous menu's buttons go inert."""
        step, reader, forced_note = await asyncio.to_thread(self._settle, step, reader, mode)
        note = " ".join(n for n in (note, forced_note) if n) or None
        text, keyboard = step_view(step, reader, self.catalog, mode, note)
        await self._send_menu(context, reader, step.code, text, keyboard, mode)

    async def _send_menu(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        reader: Reader,
        step_code: str,
        text: str,
        keyboard: InlineKeyboardMarkup,
        mode: str | None = None,
    ) -> None:
        sent = await context.bot.send_message(
            reader.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
        await asyncio.to_thread(
            self.users.set_flow, reader.id, step_code, mode=mode, menu_message_id=sent.message_id
        )
        if reader.menu_message_id and reader.menu_message_id != sent.message_id:
            # The old menu may be inert already, deleted by the reader, or too old to edit.
            with contextlib.suppress(BadRequest):
                await context.bot.edit_message_reply_markup(
                    reader.chat_id, reader.menu_message_id, reply_markup=None
                )

    async def _expired(self, query: CallbackQuery, reader: Reader | None) -> None:
        language = reader.ui_language if reader else ui_language_for(query.from_user.language_code)
        await answer_expired(query, gettext_for(language))


def _toggled_categories(current: tuple[str, ...], value: str) -> list[str]:
    """ "All categories" excludes the others, and picking one category unticks "All"."""
    if value == ALL_CATEGORIES:
        return [] if ALL_CATEGORIES in current else [ALL_CATEGORIES]
    chosen = [c for c in current if c != ALL_CATEGORIES]
    return [c for c in chosen if c != value] if value in chosen else [*chosen, value]


def _too_many_times(ui_language: str) -> str:
    ngettext = ngettext_for(ui_language)
    return ngettext(
        "At most {n} delivery time.", "At most {n} delivery times.", MAX_DELIVERY_TIMES
    ).format(n=MAX_DELIVERY_TIMES)
