"""HTML helpers for Telegram's parse_mode=HTML: escape everything that is not ours."""

from __future__ import annotations

import html

MAX_TEXT = 4096


def esc(text: object) -> str:
    """Escape a value for Telegram HTML (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def bold(text: object) -> str:
    return f"<b>{esc(text)}</b>"


def italic(text: object) -> str:
    return f"<i>{esc(text)}</i>"


def hhmm(minute_of_day: int) -> str:
    """07:30 for 450."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
