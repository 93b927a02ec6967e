"""Callback-data codec: what a button says when pressed, in at most 64 bytes.

Format ``1|<step>|<action>|<arg>``: a version (so a future format can tell old buttons apart and
answer them politely), the menu step the button belongs to, a one-letter action and an optional
argument (a country code, language, source id, minute of day...). Decoding never raises: anything
that is not exactly this shape decodes to ``None`` and the caller answers "this menu has expired".
Every number in a button fits the database's 64-bit integers: a forged 40-digit id decodes to
``None`` too, so no handler ever hands the database a number it cannot bind.

The version and the layout are known here alone: routes match a menu's buttons with
:func:`pattern` and recognise one kind of button with :func:`prefix`, never with a literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from views.button_urls import telegram_accepts_url

VERSION = "1"
MAX_CALLBACK_BYTES = 64
_FIELD = re.compile(r"^[A-Za-z0-9_.:/+\-]{0,40}$")
_DIGITS = re.compile(r"[0-9]+")
MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER (64-bit) on SQLite


class Action:
    """One-letter button actions (kept short: every byte of callback_data counts)."""

    PICK = "p"
    TOGGLE = "t"
    DONE = "d"
    SKIP = "s"
    BACK = "b"
    CONFIRM = "y"
    GOTO = "g"
    DELETE_ASK = "x"
    DELETE_YES = "X"
    KEEP = "k"


@dataclass(frozen=True, slots=True)
class Press:
    """A decoded button press."""

    step: str
    action: str
    arg: str = ""


def encode(step: str, action: str, arg: str = "") -> str:
    """Build callback_data; raise ValueError on anything that would not round-trip or fit."""
    for field in (step, action, arg):
        if "|" in field or not _FIELD.match(field):
            raise ValueError(f"callback field not encodable: {field!r}")
    data = "|".join((VERSION, step, action, arg))
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Press | None:
    """Parse callback_data from any client, trusting nothing."""
    if not data or len(data.encode("utf-8", "replace")) > MAX_CALLBACK_BYTES:
        return None
    parts = data.split("|")
    if len(parts) != 4 or parts[0] != VERSION:
        return None
    _, step, action, arg = parts
    if not step or not action or not all(_FIELD.match(p) for p in (step, action, arg)):
        return None
    if any(int(run) > MAX_ID for p in (step, arg) for run in _DIGITS.findall(p)):
        return None
    return Press(step=step, action=action, arg=arg)


def pattern(step: str, *, numbered: bool = False) -> str:
    """A ``CallbackQueryHandler`` pattern for every button of ``step`` in this codec version;
    ``numbered`` matches the steps ``<step><digits>`` (one broadcast's menu is ``B17``)."""
    return rf"^{VERSION}\|{re.escape(step)}{'[0-9]+' if numbered else ''}\|"


def prefix(step: str, action: str) -> str:
    """What the callback_data of every ``step`` button with ``action`` starts with."""
    return "|".join((VERSION, step, action, ""))


def button(text: str, step: str, action: str, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(step, action, arg))


def rows_of(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    """Lay buttons out ``width`` per row (phones show 2–3 readable labels per row)."""
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    """The keyboard, without empty rows and without any URL button Telegram would refuse (one
    such link would make Telegram reject the whole message)."""
    kept = [[b for b in row if b.url is None or telegram_accepts_url(b.url)] for row in rows]
    return InlineKeyboardMarkup([row for row in kept if row])
