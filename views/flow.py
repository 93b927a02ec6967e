"""The setup and settings flow as pure decisions: which step comes next, and what it offers.

A step is a short code, stored on the user row and carried in every button of its menu. Code
compares kinds through :class:`StepKind` (``StepKind.LANGUAGE`` is ``"lp"``), never as raw strings:

====== =========================================== =====================
code   step                                         group (settings part)
====== =========================================== =====================
c      primary country (mandatory)                  countries
o      other countries (multi-select)               countries
lp.CC  primary language for country CC              languages of CC
lo.CC  other languages for CC (multi-select)        languages of CC
sp.CC  primary source for CC                        sources of CC
so.CC  other sources for CC (multi-select)          sources of CC
k      categories (multi-select)                    categories
t      delivery times (presets or typed HH:MM)      times
z      timezone (short list or typed IANA name)     timezone
m      summary with Confirm / Change (first setup)  —
s      settings menu: summary plus one button per part
q      quiet hours (settings only)                  quiet hours
n      stories per digest, 3–10 (settings only)     digest size
e      empty digest: skip it or say so (settings)   empty digests
u      language of the bot (settings only)          language of the bot
====== =========================================== =====================

The language of the bot (the interface) is independent of the news languages: it starts as the
reader's Telegram language and changes only here.

During the first setup ("setup" mode) Done moves to the next step of the full sequence. From
/settings ("settings" mode) a reader edits one part: Done moves on inside that part, then to the
first thing still missing (a new country needs its language and source), else back to the menu.
Nothing here does I/O, so every rule is tested without Telegram or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from digest.catalog import ALL_CATEGORIES, CATEGORIES, Catalog
from digest.compose import MAX_STORIES, MIN_STORIES
from storage.users import Reader
from views.i18n import UI_LANGUAGES

SETUP = "setup"
SETTINGS = "settings"
PRESET_MINUTES: tuple[int, ...] = (7 * 60, 8 * 60, 12 * 60, 18 * 60, 21 * 60)
MAX_DELIVERY_TIMES = 8


class StepKind(StrEnum):
    """The kind of a step. The values are what the database (``users.flow_step``) and every
    button's callback data hold, so they never change: renaming a member is free, changing a
    value would turn every stored step and every button already sent into "expired"."""

    COUNTRY = "c"
    OTHER_COUNTRIES = "o"
    LANGUAGE = "lp"
    OTHER_LANGUAGES = "lo"
    SOURCE = "sp"
    OTHER_SOURCES = "so"
    CATEGORIES = "k"
    TIMES = "t"
    TIMEZONE = "z"
    SUMMARY = "m"
    SETTINGS_MENU = "s"
    QUIET_HOURS = "q"
    DIGEST_SIZE = "n"
    EMPTY_DIGEST = "e"
    UI_LANGUAGE = "u"


PER_COUNTRY = (StepKind.LANGUAGE, StepKind.OTHER_LANGUAGES, StepKind.SOURCE, StepKind.OTHER_SOURCES)
SINGLE_CHOICE = frozenset(
    {
        StepKind.COUNTRY,
        StepKind.LANGUAGE,
        StepKind.SOURCE,
        StepKind.TIMEZONE,
        StepKind.QUIET_HOURS,
        StepKind.DIGEST_SIZE,
        StepKind.EMPTY_DIGEST,
        StepKind.UI_LANGUAGE,
    }
)
SETTINGS_ONLY = (
    StepKind.QUIET_HOURS,
    StepKind.DIGEST_SIZE,
    StepKind.EMPTY_DIGEST,
    StepKind.UI_LANGUAGE,
)
QUIET_OFF = "off"
QUIET_PRESETS: tuple[tuple[int, int], ...] = (
    (22 * 60, 7 * 60),
    (23 * 60, 6 * 60),
    (21 * 60, 8 * 60),
)
EMPTY_DIGEST_CHOICES = ("skip", "say")
MULTI_CHOICE = frozenset(
    {
        StepKind.OTHER_COUNTRIES,
        StepKind.OTHER_LANGUAGES,
        StepKind.OTHER_SOURCES,
        StepKind.CATEGORIES,
        StepKind.TIMES,
    }
)
_KIND_VALUES = frozenset(kind.value for kind in StepKind)


@dataclass(frozen=True, slots=True)
class Step:
    """A position in the flow: a kind and, for per-country steps, the country."""

    kind: StepKind
    country: str | None = None

    @property
    def code(self) -> str:
        return f"{self.kind}.{self.country}" if self.country else str(self.kind)

    @property
    def group(self) -> str:
        if self.kind in (StepKind.COUNTRY, StepKind.OTHER_COUNTRIES):
            return "countries"
        if self.kind in (StepKind.LANGUAGE, StepKind.OTHER_LANGUAGES):
            return f"languages.{self.country}"
        if self.kind in (StepKind.SOURCE, StepKind.OTHER_SOURCES):
            return f"sources.{self.country}"
        return str(self.kind)

    @classmethod
    def parse(cls, code: str | None) -> Step | None:
        """The step for a stored or pressed code, or None if it is not one of ours."""
        if not code:
            return None
        value, _, country = code.partition(".")
        kind = StepKind(value) if value in _KIND_VALUES else None
        if kind is None or (kind in PER_COUNTRY) != bool(country):
            return None
        return cls(kind, country or None)


def sequence(reader: Reader, catalog: Catalog) -> list[Step]:
    """Every step of a full setup for this reader's current countries, in order."""
    steps = [Step(StepKind.COUNTRY), Step(StepKind.OTHER_COUNTRIES)]
    for choice in reader.countries:
        steps.extend(Step(kind, choice.code) for kind in PER_COUNTRY)
    tail = (StepKind.CATEGORIES, StepKind.TIMES, StepKind.TIMEZONE, StepKind.SUMMARY)
    steps.extend(Step(kind) for kind in tail)
    return steps


def options(step: Step, reader: Reader, catalog: Catalog) -> list[str]:
    """What the step lets the reader choose from (the ids its buttons carry)."""
    if step.kind == StepKind.COUNTRY:
        return [c.code for c in catalog.countries]
    if step.kind == StepKind.OTHER_COUNTRIES:
        return [c.code for c in catalog.countries if c.code != reader.primary_country]
    if step.kind == StepKind.CATEGORIES:
        return [*CATEGORIES, ALL_CATEGORIES]
    if step.kind == StepKind.TIMES:
        return [str(m) for m in sorted(set(PRESET_MINUTES) | set(reader.delivery_minutes))]
    if step.kind == StepKind.QUIET_HOURS:
        windows = list(QUIET_PRESETS)
        current = (reader.quiet_start, reader.quiet_end)
        if current[0] is not None and current[1] is not None and current not in windows:
            windows.append((current[0], current[1]))
        return [QUIET_OFF, *(quiet_code(start, end) for start, end in windows)]
    if step.kind == StepKind.DIGEST_SIZE:
        return [str(n) for n in range(MIN_STORIES, MAX_STORIES + 1)]
    if step.kind == StepKind.EMPTY_DIGEST:
        return list(EMPTY_DIGEST_CHOICES)
    if step.kind == StepKind.UI_LANGUAGE:
        return list(UI_LANGUAGES)
    if step.kind == StepKind.TIMEZONE:
        primary = catalog.country(reader.primary_country or "")
        zones = list(primary.timezones) if primary else ["UTC"]
        if reader.timezone and reader.timezone not in zones:
            zones.append(reader.timezone)
        return zones
    country = reader.country(step.country) if step.country else None
    if country is None:
        return []
    if step.kind in (StepKind.LANGUAGE, StepKind.OTHER_LANGUAGES):
        languages = catalog.languages_with_sources(country.code)
        if step.kind == StepKind.OTHER_LANGUAGES:
            return [lang for lang in languages if lang != country.primary_language]
        return list(languages)
    if step.kind in (StepKind.SOURCE, StepKind.OTHER_SOURCES):
        ids = [s.id for s in catalog.sources_for(country.code, country.languages)]
        if step.kind == StepKind.OTHER_SOURCES:
            return [i for i in ids if i != country.primary_source]
        return ids
    return []


def quiet_code(start: int, end: int) -> str:
    """Quiet hours as a button argument: "1320-420" for 22:00–07:00."""
    return f"{start}-{end}"


def parse_quiet_code(code: str) -> tuple[int, int] | None:
    start, _, end = code.partition("-")
    if not (start.isdigit() and end.isdigit()):
        return None
    return int(start), int(end)


def forced_choice(step: Step, reader: Reader, catalog: Catalog) -> str | None:
    """A mandatory single choice with only one option is made for the reader."""
    if step.kind in (StepKind.LANGUAGE, StepKind.SOURCE):
        offered = options(step, reader, catalog)
        if len(offered) == 1:
            return offered[0]
    return None


def skipped(step: Step, reader: Reader, catalog: Catalog, mode: str) -> bool:
    """Steps with nothing to ask: no other language or source, or a one-timezone country."""
    if step.kind in (StepKind.OTHER_LANGUAGES, StepKind.OTHER_SOURCES):
        return not options(step, reader, catalog)
    if step.kind == StepKind.TIMEZONE and mode == SETUP:
        primary = catalog.country(reader.primary_country or "")
        return primary is not None and not primary.asks_timezone and bool(reader.timezone)
    return False


def first_missing(reader: Reader, catalog: Catalog) -> Step | None:
    """The first mandatory answer the reader has not given yet, if any."""
    if reader.primary_country is None:
        return Step(StepKind.COUNTRY)
    for choice in reader.countries:
        if choice.primary_language is None:
            return Step(StepKind.LANGUAGE, choice.code)
        if choice.primary_source is None:
            return Step(StepKind.SOURCE, choice.code)
    if not reader.categories:
        return Step(StepKind.CATEGORIES)
    if not reader.delivery_minutes:
        return Step(StepKind.TIMES)
    if not reader.timezone:
        return Step(StepKind.TIMEZONE)
    return None


def next_step(current: Step, reader: Reader, catalog: Catalog, mode: str) -> Step:
    """Where Done (or a single pick) leads from ``current``."""
    steps = sequence(reader, catalog)
    later = steps[steps.index(current) + 1 :] if current in steps else []
    for candidate in later:
        if skipped(candidate, reader, catalog, mode):
            continue
        if mode == SETUP or candidate.group == current.group:
            return candidate
        break
    if mode == SETTINGS:
        return first_missing(reader, catalog) or Step(StepKind.SETTINGS_MENU)
    return first_missing(reader, catalog) or Step(StepKind.SUMMARY)


def previous_step(current: Step, reader: Reader, catalog: Catalog, mode: str) -> Step:
    """Where Back leads from ``current``: the step before it, or the menu it came from."""
    steps = sequence(reader, catalog)
    earlier = steps[: steps.index(current)] if current in steps else []
    for candidate in reversed(earlier):
        if skipped(candidate, reader, catalog, mode) or forced_choice(candidate, reader, catalog):
            continue
        if mode == SETUP or candidate.group == current.group:
            return candidate
        break
    return Step(StepKind.SETTINGS_MENU) if mode == SETTINGS else Step(StepKind.COUNTRY)
