"""/help, unknown commands, the command menus and the error handler: the bot always answers
something sensible, in the reader's interface language (the one stored, which /settings may have
changed, else their Telegram language)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import Forbidden, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from handlers.messaging import answer_flooded
from storage.users import UserStore
from views.bidi import rtl_start
from views.i18n import Gettext, gettext_for, ui_language_for

log = logging.getLogger(__name__)


def command_descriptions(_: Gettext) -> list[tuple[str, str]]:
    """Commands shown in Telegram's menu and in /help, in the reader's language."""
    return [
        ("start", _("Set up your news, or see your setup")),
        ("headlines", _("Top stories now, by category")),
        ("search", _("Find stories of the last two weeks")),
        ("digest", _("Your digest, right now")),
        ("follow", _("Get new stories about a word or phrase")),
        ("following", _("The phrases you follow")),
        ("settings", _("Change countries, languages, sources, times")),
        ("pause", _("Pause digests for a while")),
        ("resume", _("Resume paused digests")),
        ("help", _("What I can do")),
        ("stop", _("Pause deliveries or delete your data")),
    ]


def admin_command_descriptions(_: Gettext) -> list[tuple[str, str]]:
    """The admins' extra commands: in their menu only (BotCommandScopeChat), never readers'."""
    return [
        ("stats", _("Readers, digests and feed health")),
        ("broadcast", _("Send a message to readers")),
    ]


def bot_commands(language: str, *, admin: bool = False) -> list[BotCommand]:
    """The command menu in ``language``; an admin's has /stats and /broadcast too."""
    _ = gettext_for(language)
    pairs = command_descriptions(_) + (admin_command_descriptions(_) if admin else [])
    return [BotCommand(name, text) for name, text in pairs]


def _language(update: Update) -> str:
    user = update.effective_user
    return ui_language_for(user.language_code if user else None)


def help_html(language: str) -> str:
    """The /help text: the commands with one line each."""
    _ = gettext_for(language)
    lines = [f"<b>{html.escape(_('What I can do'))}</b>", ""]
    lines += [f"/{name} — {html.escape(text)}" for name, text in command_descriptions(_)]
    lines += ["", html.escape(_("I send news digests from the sources you choose, at your times."))]
    return rtl_start("\n".join(lines), language)


class Basics:
    """/help and unknown commands in the language the reader chose (looked up in storage)."""

    def __init__(self, users: UserStore) -> None:
        self.users = users

    async def language(self, update: Update) -> str:
        user = update.effective_user
        reader = await asyncio.to_thread(self.users.get, user.id) if user else None
        return reader.ui_language if reader else _language(update)

    async def show_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None:
            text = help_html(await self.language(update))
            await message.reply_text(text, parse_mode=ParseMode.HTML)

    async def answer_unknown_command(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        message = update.effective_message
        if message is not None:
            _ = gettext_for(await self.language(update))
            await message.reply_text(unknown_command_text(_))


def unknown_command_text(_: Gettext) -> str:
    return _("I don't know that command. Send /help to see what I can do.")


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands with one line each (in the sender's Telegram language)."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(help_html(_language(update)), parse_mode=ParseMode.HTML)


async def answer_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command we don't have gets a pointer to /help instead of silence."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(unknown_command_text(gettext_for(_language(update))))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (token-free: logging redacts it) and tell the reader politely."""
    error = context.error
    if isinstance(error, Forbidden):
        log.info("user blocked the bot: %s", error)
        return
    if isinstance(error, RetryAfter):
        # Telegram's flood limit outlasted the bounded wait: the rate limiter has logged the
        # episode once; an error message now would only flood the chat more.
        if isinstance(update, Update) and update.callback_query is not None:
            await answer_flooded(update.callback_query)
        return
    log.error("error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    _ = gettext_for(_language(update))
    if update.callback_query is not None:
        # Stop the button's spinner; it may have been answered already, which is fine.
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(_("Sorry, something went wrong."))
    try:
        await context.bot.send_message(
            update.effective_chat.id, _("Sorry, something went wrong. Please try again.")
        )
    except TelegramError:
        log.warning("could not tell the user about the error")
