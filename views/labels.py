"""Names readers see for catalog codes: categories, countries and sources.

Shared by the setup, digest, headlines and stats views, so a category or country reads the same
everywhere. Pure: the catalog and the reader's interface language decide; nothing is escaped
here (callers escape when they build HTML).
"""

from __future__ import annotations

from digest.catalog import ALL_CATEGORIES, Catalog
from storage.users import Reader
from views.i18n import Gettext, country_name


def category_label(category: str, _: Gettext) -> str:
    labels = {
        "national": _("National"),
        "international": _("International"),
        "business": _("Business"),
        "entertainment": _("Entertainment"),
        "sports": _("Sports"),
        "special": _("Special"),
        ALL_CATEGORIES: _("All categories"),
    }
    return labels.get(category, category)


def country_label(code: str, reader: Reader, catalog: Catalog) -> str:
    country = catalog.country(code)
    return country_name(code, reader.ui_language, country.name if country else code)


def source_label(source_id: str, catalog: Catalog) -> str:
    source = catalog.source(source_id)
    return source.name if source else source_id
