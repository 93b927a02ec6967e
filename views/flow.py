"""The setup and settings flow as pure decisions: which step comes next, and what it offers.

A step is a short code, stored on the user row and carried in every button of its menu:

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
====== =========================================== =====================

During the first setup ("setup" mode) Done moves to the next step of the full sequence. From
/settings ("settings" mode) a reader edits one part: Done moves on inside that part, then to the
first thing still missing (a new country needs its language and source), else back to the menu.
Nothing here does I/O, so every rule is tested without Telegram or a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.catalog import ALL_CATEGORIES, CATEGORIES, Catalog
from digest.compose import MAX_STORIES, MIN_STORIES
from storage.users import Reader

SETUP = "setup"
SETTINGS = "settings"
PRESET_MINUTES: tuple[int, ...] = (7 * 60, 8 * 60, 12 * 60, 18 * 60, 21 * 60)
MAX_DELIVERY_TIMES = 8
PER_COUNTRY = ("lp", "lo", "sp", "so")
SINGLE_CHOICE = frozenset({"c", "lp", "sp", "z", "q", "n", "e"})
SETTINGS_ONLY = ("q", "n", "e")
QUIET_OFF = "off"
QUIET_PRESETS: tuple[tuple[int, int], ...] = (
    (22 * 60, 7 * 60),
    (23 * 60, 6 * 60),
    (21 * 60, 8 * 60),
)
EMPTY_DIGEST_CHOICES = ("skip", "say")
MULTI_CHOICE = frozenset({"o", "lo", "so", "k", "t"})


@dataclass(frozen=True, slots=True)
class Step:
    """A position in the flow: a kind and, for per-country steps, the country."""

    kind: str
    country: str | None = None

    @property
    def code(self) -> str:
        return f"{self.kind}.{self.country}" if self.country else self.kind

    @property
    def group(self) -> str:
        if self.kind in ("c", "o"):
            return "countries"
        if self.kind in ("lp", "lo"):
            return f"languages.{self.country}"
        if self.kind in ("sp", "so"):
            return f"sources.{self.country}"
        return self.kind

    @classmethod
    def parse(cls, code: str | None) -> Step | None:
        """The step for a stored or pressed code, or None if it is not one of ours."""
        if not code:
            return None
        kind, _, country = code.partition(".")
        if kind in PER_COUNTRY and country:
            return cls(kind, country)
        if kind in ("c", "o", "k", "t", "z", "m", "s", *SETTINGS_ONLY) and not country:
            return cls(kind)
        return None


def sequence(reader: Reader, catalog: Catalog) -> list[Step]:
    """Every step of a full setup for this reader's current countries, in order."""
    steps = [Step("c"), Step("o")]
    for choice in reader.countries:
        steps.extend(Step(kind, choice.code) for kind in PER_COUNTRY)
    steps.extend([Step("k"), Step("t"), Step("z"), Step("m")])
    return steps


def options(step: Step, reader: Reader, catalog: Catalog) -> list[str]:
    """What the step lets the reader choose from (the ids its buttons carry)."""
    if step.kind == "c":
        return [c.code for c in catalog.countries]
    if step.kind == "o":
        return [c.code for c in catalog.countries if c.code != reader.primary_country]
    if step.kind == "k":
        return [*CATEGORIES, ALL_CATEGORIES]
    if step.kind == "t":
        return [str(m) for m in sorted(set(PRESET_MINUTES) | set(reader.delivery_minutes))]
    if step.kind == "q":
        windows = list(QUIET_PRESETS)
        current = (reader.quiet_start, reader.quiet_end)
        if current[0] is not None and current[1] is not None and current not in windows:
            windows.append((current[0], current[1]))
        return [QUIET_OFF, *(quiet_code(start, end) for start, end in windows)]
    if step.kind == "n":
        return [str(n) for n in range(MIN_STORIES, MAX_STORIES + 1)]
    if step.kind == "e":
        return list(EMPTY_DIGEST_CHOICES)
    if step.kind == "z":
        primary = catalog.country(reader.primary_country or "")
        zones = list(primary.timezones) if primary else ["UTC"]
        if reader.timezone and reader.timezone not in zones:
            zones.append(reader.timezone)
        return zones
    country = reader.country(step.country) if step.country else None
    if country is None:
        return []
    if step.kind in ("lp", "lo"):
        languages = catalog.languages_with_sources(country.code)
        if step.kind == "lo":
            return [lang for lang in languages if lang != country.primary_language]
        return list(languages)
    if step.kind in ("sp", "so"):
        ids = [s.id for s in catalog.sources_for(country.code, country.languages)]
        if step.kind == "so":
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
    if step.kind in ("lp", "sp"):
        offered = options(step, reader, catalog)
        if len(offered) == 1:
            return offered[0]
    return None


def skipped(step: Step, reader: Reader, catalog: Catalog, mode: str) -> bool:
    """Steps with nothing to ask: no other language or source, or a one-timezone country."""
    if step.kind in ("lo", "so"):
        return not options(step, reader, catalog)
    if step.kind == "z" and mode == SETUP:
        primary = catalog.country(reader.primary_country or "")
        return primary is not None and not primary.asks_timezone and bool(reader.timezone)
    return False


def first_missing(reader: Reader, catalog: Catalog) -> Step | None:
    """The first mandatory answer the reader has not given yet, if any."""
    if reader.primary_country is None:
        return Step("c")
    for choice in reader.countries:
        if choice.primary_language is None:
            return Step("lp", choice.code)
        if choice.primary_source is None:
            return Step("sp", choice.code)
    if not reader.categories:
        return Step("k")
    if not reader.delivery_minutes:
        return Step("t")
    if not reader.timezone:
        return Step("z")
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
        return first_missing(reader, catalog) or Step("s")
    return first_missing(reader, catalog) or Step("m")


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
    return Step("s") if mode == SETTINGS else Step("c")
