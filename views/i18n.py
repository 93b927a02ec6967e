"""The reader's interface language: gettext catalogs (Babel), localized names, dates and numbers.

Every user-facing string is wrapped in ``_()`` where ``_ = gettext_for(reader.ui_language)``, and
every string with a count in ``ngettext(singular, plural, n)`` where
``ngettext = ngettext_for(reader.ui_language)``: the local names ``_`` and ``ngettext`` are what
``pybabel extract`` looks for, so never call ``ngettext_for(lang)(...)`` inline. English is the
source language: with no catalog for a language the English text is shown. Country and language
names, weekdays, months, relative times and digits come from Babel's CLDR data (the helpers at the
end), so they are right in every UI language without us translating them by hand.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta, match_skeleton
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "newsbot"
UI_LANGUAGES: tuple[str, ...] = ("en", "hi", "ar", "de", "zh", "fr")
DEFAULT_UI_LANGUAGE = "en"

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]
# Each UI language in its own name: the "Language of the bot" buttons (a reader who cannot read
# the current interface must still find their language).
ENDONYMS: dict[str, str] = {
    "en": "English",
    "hi": "हिन्दी",
    "ar": "العربية",
    "de": "Deutsch",
    "zh": "中文（简体）",
    "fr": "Français",
}


@lru_cache(maxsize=len(UI_LANGUAGES))
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog for ``language``, or English pass-through when there is none."""
    loaded = Translations.load(str(LOCALE_DIR), [language], domain=DOMAIN)
    return loaded if isinstance(loaded, Translations) else NullTranslations()


def gettext_for(language: str) -> Gettext:
    """The ``_`` function for one reader."""
    return translations(ui_language_for(language)).gettext


def ngettext_for(language: str) -> Ngettext:
    """The ``ngettext`` function for one reader: each language's own plural rules (Arabic has
    six forms, Chinese one), chosen by the catalog's Plural-Forms header."""
    return translations(ui_language_for(language)).ngettext


def ui_language_for(telegram_code: str | None) -> str:
    """Map Telegram's ``language_code`` ("de", "pt-br", "zh-hans") to one we speak.

    Every Chinese variant (zh, zh-hans, zh-cn, zh-hant, zh-tw) gets the Simplified catalog,
    the only Chinese one; anything we do not speak falls back to English."""
    if not telegram_code:
        return DEFAULT_UI_LANGUAGE
    base = telegram_code.replace("_", "-").split("-")[0].lower()
    return base if base in UI_LANGUAGES else DEFAULT_UI_LANGUAGE


@lru_cache(maxsize=len(UI_LANGUAGES))
def _locale(language: str) -> Locale:
    return Locale.parse(ui_language_for(language))


def country_name(code: str, ui_language: str, fallback: str) -> str:
    """Localized country name; "World" (no ISO code) and unknown codes use ``fallback``."""
    if code.upper() == "WORLD":
        _ = gettext_for(ui_language)
        return _("World")
    return str(_locale(ui_language).territories.get(code.upper(), fallback))


def language_name(code: str, ui_language: str) -> str:
    """Localized language name, capitalised as a button label."""
    name = str(_locale(ui_language).languages.get(code, code))
    return name[:1].upper() + name[1:]


def babel_locale(ui_language: str) -> Locale:
    """For formatting dates and numbers in the reader's language."""
    return _locale(ui_language)


_LIST_SEPARATORS = {"ar": "، ", "zh": "、"}


def joined(items: Iterable[str], ui_language: str) -> str:
    """A plain enumeration with the language's own separator: "a, b" / "a، b" / "a、b"."""
    return _LIST_SEPARATORS.get(ui_language_for(ui_language), ", ").join(items)


@lru_cache(maxsize=64)
def text_direction(ui_language: str) -> str:
    """ "rtl" for Arabic, "ltr" for the others (CLDR). Memoized: every story line asks, and
    Babel works it out from the locale's character order each time."""
    return str(_locale(ui_language).text_direction)


@lru_cache(maxsize=len(UI_LANGUAGES))
def _day_pattern(ui_language: str) -> str:
    """The locale's "weekday, day month year" pattern with the weekday written out in full.

    CLDR's skeleton match for a full weekday often returns the short form ("Mon"); a digest
    header reads better as "Monday", so the weekday field is widened in the matched pattern."""
    locale = _locale(ui_language)
    skeleton = match_skeleton("yMMMMEd", locale.datetime_skeletons) or "yMMMMEd"
    pattern = str(locale.datetime_skeletons[skeleton])
    pattern = re.sub(r"(?<![Ec])[Ec]{1,3}(?![Ec])", lambda m: m.group(0)[0] * 4, pattern)
    return pattern


def day_text(moment: datetime, timezone: str, ui_language: str) -> str:
    """ "Monday, December 7, 2026" / "Montag, 7. Dezember 2026" in the reader's timezone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return format_date(local, _day_pattern(ui_language), locale=_locale(ui_language))


def time_text(moment: datetime, timezone: str, ui_language: str) -> str:
    """A clock time in the locale's short form ("15:30", "3:30 PM"), in the reader's timezone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return format_time(local, "short", locale=_locale(ui_language))


def datetime_text(moment: datetime, timezone: str, ui_language: str) -> str:
    """Day and time joined the locale's way: "Tuesday, March 5, 2024, 2:30 PM"."""
    joiner = str(_locale(ui_language).datetime_formats.get("medium", "{1}, {0}"))
    day = day_text(moment, timezone, ui_language)
    return joiner.replace("{1}", day).replace("{0}", time_text(moment, timezone, ui_language))


def number_text(value: float, ui_language: str) -> str:
    """Digits and grouping per locale: 12,345 / 12.345 / 12 345."""
    return format_decimal(value, locale=_locale(ui_language))


@lru_cache(maxsize=8192)
def ago_text(age: timedelta, ui_language: str) -> str:
    """ "3 hours ago" / "vor 3 Stunden" / "3小时前" (CLDR relative time). Memoized: a digest
    tick asks it for thousands of stories, many of the same age (Babel's CLDR look-ups cost
    about 0.1 ms a call)."""
    return format_timedelta(
        -age, granularity="minute", add_direction=True, locale=_locale(ui_language)
    )
