"""The reader's interface language: gettext catalogs (Babel) and localized names.

Every user-facing string is wrapped in ``_()`` where ``_ = gettext_for(reader.ui_language)``, so
``pybabel extract`` finds them all. English is the source language: with no catalog for a language
the English text is shown. Country and language names come from Babel's CLDR data, so they are
right in every UI language without us translating them by hand.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "newsbot"
UI_LANGUAGES: tuple[str, ...] = ("en", "hi", "ar", "de", "zh", "fr")
DEFAULT_UI_LANGUAGE = "en"

Gettext = Callable[[str], str]


@lru_cache(maxsize=len(UI_LANGUAGES))
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog for ``language``, or English pass-through when there is none."""
    loaded = Translations.load(str(LOCALE_DIR), [language], domain=DOMAIN)
    return loaded if isinstance(loaded, Translations) else NullTranslations()


def gettext_for(language: str) -> Gettext:
    """The ``_`` function for one reader."""
    return translations(ui_language_for(language)).gettext


def ngettext_for(language: str) -> Callable[[str, str, int], str]:
    return translations(ui_language_for(language)).ngettext


def ui_language_for(telegram_code: str | None) -> str:
    """Map Telegram's ``language_code`` ("de", "pt-br", "zh-hans") to one we speak."""
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
        return gettext_for(ui_language)("World")
    return str(_locale(ui_language).territories.get(code.upper(), fallback))


def language_name(code: str, ui_language: str) -> str:
    """Localized language name, capitalised as a button label."""
    name = str(_locale(ui_language).languages.get(code, code))
    return name[:1].upper() + name[1:]


def babel_locale(ui_language: str) -> Locale:
    """For formatting dates and numbers in the reader's language."""
    return _locale(ui_language)
