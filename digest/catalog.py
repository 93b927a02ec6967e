"""The news catalog: which countries, languages, sources and feeds the bot offers.

The catalog is a TOML file (the bundled ``digest/catalog.toml`` or ``NEWSBOT_CATALOG``). It is
read once at start-up and then treated as immutable data, so every mistake in it is reported
here, as one line naming the file, the entry and the problem, instead of surfacing later as an
empty menu or a feed that never fetches.

Loading goes in three steps:

1. Parse the TOML (a syntax error names its line).
2. Read each ``[[countries]]`` entry, checking its languages and IANA timezones.
3. Read each ``[[sources]]`` entry, checking its id, countries, language (it must be one its
   countries offer, or readers could never pick it), feeds (known category, http(s) URL) and
   that a source without feeds says why with ``no_feed``. Such a source is kept, so the catalog
   still documents it, but it is not *offered*: it never appears in menus or in ingest.

This module does no I/O beyond reading that one file and knows nothing of Telegram.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import DigestError

CATEGORIES: tuple[str, ...] = (
    "national",
    "international",
    "business",
    "entertainment",
    "sports",
    "special",
)
"""What readers subscribe to."""

ALL_CATEGORIES = "all"
"""The pseudo-category a reader picks for "all categories": one digest ranked across them all."""

FEED_CATEGORIES: tuple[str, ...] = CATEGORIES + ("general",)
"""What a feed may be tagged with; "general" is an outlet's top/latest feed, split per entry."""

LANGUAGES: dict[str, str] = {
    "en": "English",
    "hi": "Hindi",
    "ar": "Arabic",
    "de": "German",
    "zh": "Chinese",
    "fr": "French",
}

_SOURCE_ID = re.compile(r"[a-z0-9_-]+")
_COUNTRY_CODE = re.compile(r"[A-Z]+")


class CatalogError(DigestError):
    """The catalog file is unreadable or invalid; the message is one line: file: entry: problem."""


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed URL of a source, tagged with the category its entries belong to."""

    category: str
    url: str


@dataclass(frozen=True, slots=True)
class Source:
    """One publisher in one language, offered in one or more countries."""

    id: str
    name: str
    countries: tuple[str, ...]
    language: str
    homepage: str
    feeds: tuple[Feed, ...]
    no_feed: str | None

    @property
    def offered(self) -> bool:
        """Whether readers may pick this source: only sources with a feed have any news."""
        return bool(self.feeds)


@dataclass(frozen=True, slots=True)
class Country:
    """A country (or "WORLD") with the languages and timezones readers may choose from."""

    code: str
    name: str
    languages: tuple[str, ...]
    timezones: tuple[str, ...]

    @property
    def default_timezone(self) -> str:
        """The first timezone: the guess used until the reader says otherwise."""
        return self.timezones[0]

    @property
    def asks_timezone(self) -> bool:
        """Whether onboarding must ask the reader, because the country spans several zones."""
        return len(self.timezones) > 1


@dataclass(frozen=True)
class Catalog:
    """The loaded catalog; entries keep the order of the file, which is the order menus show."""

    path: Path
    countries: tuple[Country, ...]
    sources: tuple[Source, ...]

    def country(self, code: str) -> Country | None:
        """The country with that code, or None (e.g. for a code kept from an older catalog)."""
        return next((c for c in self.countries if c.code == code), None)

    def source(self, source_id: str) -> Source | None:
        """The source with that id, offered or not, or None."""
        return self._by_id.get(source_id)

    @cached_property
    def _by_id(self) -> dict[str, Source]:
        """Sources by id (the first of an id, as a scan would find): ``source`` is asked for
        every source of every story a digest tick renders."""
        by_id: dict[str, Source] = {}
        for source in self.sources:
            by_id.setdefault(source.id, source)
        return by_id

    def sources_for(self, country: str, languages: Iterable[str]) -> list[Source]:
        """Offered sources of that country in any of those languages, in catalog order."""
        wanted = set(languages)
        return [
            s for s in self.sources if s.offered and country in s.countries and s.language in wanted
        ]

    def languages_with_sources(self, country: str) -> tuple[str, ...]:
        """The country's languages that have at least one offered source, in the country's order.

        Menus offer only these, so a reader can never pick a language and then find no source.
        """
        found = self.country(country)
        if found is None:
            return ()
        return tuple(lang for lang in found.languages if self.sources_for(country, [lang]))

    def feeds(self) -> list[tuple[Source, Feed]]:
        """Every feed of every offered source, one row per (source, feed), for ingest."""
        return [(s, f) for s in self.sources if s.offered for f in s.feeds]


def default_catalog_path() -> Path:
    """The catalog bundled with the package, next to this module."""
    return Path(__file__).with_name("catalog.toml")


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file (the bundled one by default); raise CatalogError."""
    path = default_catalog_path() if path is None else path
    try:
        with path.open("rb") as fp:
            data = tomllib.load(fp)
    except OSError as e:
        raise CatalogError(f"{path}: file: cannot read ({e.strerror or e})") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CatalogError(f"{path}: toml: {e}") from e
    return _Reader(path).catalog(data)


class _Reader:
    """Turns parsed TOML into a Catalog, failing on the first problem with its location."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, entry: str, problem: str) -> NoReturn:
        raise CatalogError(f"{self.path}: {entry}: {problem}")

    def catalog(self, data: Mapping[str, Any]) -> Catalog:
        countries: dict[str, Country] = {}
        for i, table in enumerate(self.tables(data, "countries")):
            country = self.country(table, f"countries[{i}]")
            if country.code in countries:
                self.fail(f"countries[{i}] (code={country.code!r})", "duplicate country code")
            countries[country.code] = country
        sources: dict[str, Source] = {}
        for i, table in enumerate(self.tables(data, "sources")):
            source = self.source(table, f"sources[{i}]", countries)
            if source.id in sources:
                self.fail(f"sources[{i}] (id={source.id!r})", "duplicate source id")
            sources[source.id] = source
        return Catalog(self.path, tuple(countries.values()), tuple(sources.values()))

    def tables(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        """The array of tables under ``key``; the catalog needs at least one of each."""
        value = data.get(key)
        if not value:
            self.fail(key, f"missing required [[{key}]] entries")
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            self.fail(key, f"must be an array of tables ([[{key}]])")
        return value

    def country(self, table: Mapping[str, Any], where: str) -> Country:
        code = self.text(table, "code", where)
        if not _COUNTRY_CODE.fullmatch(code):
            self.fail(where, f"country code {code!r} must be upper-case letters")
        where = f"{where} (code={code!r})"
        languages = self.texts(table, "languages", where)
        if not languages:
            self.fail(where, "country has no languages")
        for lang in languages:
            self.check_language(lang, where)
        timezones = self.texts(table, "timezones", where)
        if not timezones:
            self.fail(where, "missing timezones")
        for tz in timezones:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                self.fail(where, f"invalid timezone {tz!r}")
        return Country(code, self.text(table, "name", where), languages, timezones)

    def source(
        self, table: Mapping[str, Any], where: str, countries: Mapping[str, Country]
    ) -> Source:
        source_id = self.text(table, "id", where)
        if not _SOURCE_ID.fullmatch(source_id):
            self.fail(where, f"source id {source_id!r} may use only a-z, 0-9, '_' and '-'")
        where = f"{where} (id={source_id!r})"
        codes = self.texts(table, "countries", where)
        if not codes:
            self.fail(where, "source has no countries")
        for code in codes:
            if code not in countries:
                self.fail(where, f"unknown country {code!r}")
        language = self.text(table, "language", where)
        self.check_language(language, where)
        if not any(language in countries[code].languages for code in codes):
            self.fail(where, f"language {language!r} is not offered by any of {list(codes)}")
        homepage = self.text(table, "homepage", where)
        self.check_url(homepage, where)
        feeds = self.feeds(table, where)
        no_feed = table.get("no_feed")
        if no_feed is not None and (not isinstance(no_feed, str) or not no_feed.strip()):
            self.fail(where, "'no_feed' must be a non-empty reason")
        if not feeds and no_feed is None:
            self.fail(where, "source has no feeds and no 'no_feed' reason")
        if feeds and no_feed is not None:
            self.fail(where, "source has feeds and a 'no_feed' reason; keep one")
        name = self.text(table, "name", where)
        return Source(source_id, name, codes, language, homepage, feeds, no_feed)

    def feeds(self, table: Mapping[str, Any], where: str) -> tuple[Feed, ...]:
        raw = table.get("feeds", [])
        if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
            self.fail(where, "'feeds' must be an array of tables ([[sources.feeds]])")
        feeds: list[Feed] = []
        for j, feed_table in enumerate(raw):
            at = f"{where}.feeds[{j}]"
            category = self.text(feed_table, "category", at)
            if category not in FEED_CATEGORIES:
                self.fail(at, f"unknown category {category!r}")
            url = self.text(feed_table, "url", at)
            self.check_url(url, at)
            if any(f.url == url for f in feeds):
                self.fail(at, f"duplicate feed url {url!r}")
            feeds.append(Feed(category, url))
        return tuple(feeds)

    def text(self, table: Mapping[str, Any], key: str, where: str) -> str:
        """A required non-empty string value."""
        if key not in table:
            self.fail(where, f"missing required key {key!r}")
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"{key!r} must be a non-empty string")
        return value

    def texts(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        """A required list of strings (possibly empty: callers say why empty is wrong)."""
        if key not in table:
            self.fail(where, f"missing required key {key!r}")
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(where, f"{key!r} must be a list of strings")
        if len(set(value)) != len(value):
            self.fail(where, f"{key!r} lists a value twice")
        return tuple(value)

    def check_language(self, lang: str, where: str) -> None:
        if lang not in LANGUAGES:
            self.fail(where, f"unknown language {lang!r} (known: {', '.join(LANGUAGES)})")

    def check_url(self, url: str, where: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(where, f"URL {url!r} is not http(s)")
