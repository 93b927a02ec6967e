"""Parsing what readers type where the flow accepts text: delivery times and timezone names."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from zoneinfo import available_timezones

MAX_INPUT_CHARS = 200
_TIME = re.compile(r"^(\d{1,2})[:.h](\d{2})$")
_SEPARATORS = re.compile(r"[\s,;]+")


def parse_times(text: str) -> list[int] | None:
    """Minutes of day for "7:30, 18:00" (also 7.30 and 7h30); None if any part is not a time."""
    parts = [p for p in _SEPARATORS.split(text.strip()) if p]
    if not parts or len(text) > MAX_INPUT_CHARS:
        return None
    minutes: list[int] = []
    for part in parts:
        match = _TIME.match(part)
        if not match:
            return None
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            return None
        minutes.append(hour * 60 + minute)
    return minutes


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    """IANA names keyed case-insensitively, with spaces accepted for underscores."""
    return {name.casefold(): name for name in available_timezones() if "/" in name or name == "UTC"}


def match_timezone(text: str) -> str | None:
    """The IANA zone the reader meant ("america/toronto", "Asia/Kolkata"), or None."""
    if len(text) > MAX_INPUT_CHARS:
        return None
    key = text.strip().replace(" ", "_").casefold()
    return _zones_by_folded_name().get(key)


def suggest_timezones(text: str, limit: int = 3) -> list[str]:
    """Close IANA names for a typo ("Europe/Berln" → "Europe/Berlin"), for the hint."""
    key = text.strip().replace(" ", "_").casefold()[:MAX_INPUT_CHARS]
    zones = _zones_by_folded_name()
    close = difflib.get_close_matches(key, list(zones), n=limit, cutoff=0.75)
    if not close and key:
        close = [k for k in zones if k.endswith("/" + key)][:limit]
    return [zones[k] for k in close]
