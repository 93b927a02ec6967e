"""Editing a message in place, the way every menu and pager in the bot does it."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest


async def edit_in_place(
    query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None
) -> None:
    """Edit the pressed message; an identical result (a double tap) is not an error."""
    try:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, reply_markup=keyboard, disable_web_page_preview=True
        )
    except BadRequest as e:
        if "not modified" not in str(e).lower():
            raise
