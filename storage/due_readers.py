"""Readers with their preferences in ONE statement: a user row per reader, each preference
table aggregated into one text column of it.

The digest tick claims 100,000 due readers in batches of 2,000. Read as a user row plus one row
per country, language, source, category and delivery time (six statements, ~15 rows a reader,
each through SQLAlchemy's row processing), that cost ~95 µs of CPU per reader on SQLite. Here each
reader is one row of plain DB-API tuples (``cursor.fetchall``): five correlated subqueries
aggregate the preference tables per user (SQLite ``group_concat``, PostgreSQL ``string_agg``,
records separated by the ASCII record separator, fields by the unit separator, which no code,
id or category holds), and an aggregate text is decoded once per distinct value: readers repeat a
few thousand choices, so 100,000 readers share a few thousand tuples (``ReaderDecoder``).

Order is the old statements': countries primary first, then by position and code; languages and
sources primary first, then by value; categories by name; minutes by value. PostgreSQL orders
inside ``string_agg`` (its collation, as ``ORDER BY`` did); SQLite before 3.44 has no ordered
aggregate, so the decoder sorts its values in code point order, which is SQLite's BINARY
collation, the one its ``ORDER BY`` used.

The due readers are chosen, limited and (on PostgreSQL) locked in a materialized CTE first, so
the subqueries run for the batch's rows only, never for every due reader before the ``LIMIT``.
Statement text is constant; values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.driver_rows import time_reader
from storage.readers import CountryChoice, Reader

_RS, _US = "\x1e", "\x1f"  # record and unit separators: char(30), char(31)
_LIMIT_CACHE = 100_000  # distinct decoded values kept across batches (a few thousand in use)

# Each statement: the user columns a Reader holds (in its field order), then the aggregates of
# countries, languages, sources, categories and delivery minutes. Written out in full (statement
# text is constants only); the one-reader statements swap the due statements' choice of rows.

# Due readers (set up, active, next digest due), oldest due first, ``limit`` of them. Their ids
# first: sorting ids rather than whole rows halves the statement's cost on SQLite.
SQLITE_DUE = (
    "WITH chosen AS MATERIALIZED (SELECT id FROM users "
    "WHERE next_due_at <= ? AND active = 1 AND setup_complete = 1 "
    "ORDER BY next_due_at, id LIMIT ?), "
    "due AS (SELECT u.* FROM chosen JOIN users u ON u.id = chosen.id) "
    "SELECT d.id, d.chat_id, d.first_name, d.ui_language, d.timezone, d.flow_step, "
    "d.flow_mode, d.menu_message_id, d.setup_complete, d.active, d.paused, d.paused_until, "
    "d.next_due_at, d.quiet_start, d.quiet_end, d.stories_per_digest, d.empty_digest, "
    "(SELECT group_concat(c.country || char(31) || c.is_primary || char(31) || c.position, "
    "char(30)) FROM user_countries c WHERE c.user_id = d.id), "
    "(SELECT group_concat(l.country || char(31) || l.is_primary || char(31) || l.language, "
    "char(30)) FROM user_languages l WHERE l.user_id = d.id), "
    "(SELECT group_concat(s.country || char(31) || s.is_primary || char(31) || s.source_id, "
    "char(30)) FROM user_sources s WHERE s.user_id = d.id), "
    "(SELECT group_concat(k.category, char(30)) FROM user_categories k WHERE k.user_id = d.id), "
    "(SELECT group_concat(t.minute, char(30)) FROM user_delivery_times t WHERE t.user_id = d.id) "
    "FROM due d ORDER BY d.next_due_at, d.id"
)
# The same on PostgreSQL, locked FOR UPDATE SKIP LOCKED: compose workers side by side
# take disjoint batches. The columns come from the locking scan itself: they are the locked
# version of each row (a row updated since the statement began is re-read when locked).
PG_DUE = (
    "WITH due AS MATERIALIZED (SELECT "
    "id, chat_id, first_name, ui_language, timezone, flow_step, flow_mode, menu_message_id, "
    "setup_complete, active, paused, paused_until, next_due_at, quiet_start, quiet_end, "
    "stories_per_digest, empty_digest FROM users "
    "WHERE next_due_at <= %s AND active AND setup_complete "
    "ORDER BY next_due_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "SELECT d.id, d.chat_id, d.first_name, d.ui_language, d.timezone, d.flow_step, "
    "d.flow_mode, d.menu_message_id, d.setup_complete, d.active, d.paused, d.paused_until, "
    "d.next_due_at, d.quiet_start, d.quiet_end, d.stories_per_digest, d.empty_digest, "
    "(SELECT string_agg(c.country || chr(31) || CASE WHEN c.is_primary THEN '1' ELSE '0' END "
    "|| chr(31) || c.position, chr(30) ORDER BY c.is_primary DESC, c.position, c.country) "
    "FROM user_countries c WHERE c.user_id = d.id), "
    "(SELECT string_agg(l.country || chr(31) || CASE WHEN l.is_primary THEN '1' ELSE '0' END "
    "|| chr(31) || l.language, chr(30) ORDER BY l.is_primary DESC, l.language) "
    "FROM user_languages l WHERE l.user_id = d.id), "
    "(SELECT string_agg(s.country || chr(31) || CASE WHEN s.is_primary THEN '1' ELSE '0' END "
    "|| chr(31) || s.source_id, chr(30) ORDER BY s.is_primary DESC, s.source_id) "
    "FROM user_sources s WHERE s.user_id = d.id), "
    "(SELECT string_agg(k.category, chr(30) ORDER BY k.category) "
    "FROM user_categories k WHERE k.user_id = d.id), "
    "(SELECT string_agg(t.minute::text, chr(30) ORDER BY t.minute) "
    "FROM user_delivery_times t WHERE t.user_id = d.id) "
    "FROM due d ORDER BY d.next_due_at, d.id"
)


# One reader by id, with the same columns: the due statements with their choice of rows swapped
# (on PostgreSQL locked FOR UPDATE, waiting for a worker that holds the reader).
def _one_reader(due: str, choice_from: str, choice: str) -> str:
    """``due`` with its text from ``choice_from`` up to the outer SELECT replaced by ``choice``."""
    start, end = due.index(choice_from), due.index("SELECT d.id")
    return due[:start] + choice + due[end:]


SQLITE_ONE = _one_reader(SQLITE_DUE, "WITH", "WITH due AS (SELECT * FROM users WHERE id = ?) ")
PG_ONE = _one_reader(PG_DUE, "WHERE", "WHERE id = %s FOR UPDATE) ")


def _literal_separators(statement: str) -> str:
    """SQLite's statements with the separators as string literals rather than ``char()``
    calls: SQLite evaluates the calls for every preference row (three per row), about 15 % of
    the statement's CPU for 100,000 readers. Same text values, same statement every time."""
    return statement.replace("char(31)", "'" + _US + "'").replace("char(30)", "'" + _RS + "'")


SQLITE_DUE = _literal_separators(SQLITE_DUE)
SQLITE_ONE = _literal_separators(SQLITE_ONE)


class ReaderDecoder:
    """Turns rows of the statements above into ``Reader``s, decoding each distinct aggregate
    text (and timestamp) once per process: equal preferences are one shared tuple, which keeps
    a batch compact and makes equal selections cheap to look up (identity short-cuts ``==``).

    Its caches only grow by what readers choose (a few thousand values), and are dropped past
    ``_LIMIT_CACHE`` entries. Safe to share between threads: a racing insert stores an equal
    value."""

    def __init__(self, dialect: Any) -> None:
        self._sort = dialect.name == "sqlite"  # PostgreSQL ordered inside the aggregates
        self._time = time_reader(dialect)
        self._clear()

    def _clear(self) -> None:
        self._countries: dict[tuple[str | None, str | None, str | None], Any] = {}
        self._categories: dict[str | None, tuple[str, ...]] = {}
        self._minutes: dict[str | None, tuple[int, ...]] = {}
        self._times: dict[Any, datetime | None] = {None: None}
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._country_choices: dict[CountryChoice, CountryChoice] = {}

    def readers(self, rows: Sequence[Any]) -> list[Reader]:
        """One ``Reader`` per row (the user columns in field order, then the five aggregates)."""
        if len(self._countries) + len(self._times) > _LIMIT_CACHE:
            self._clear()
        countries, categories, minutes, times = (
            self._countries, self._categories, self._minutes, self._times
        )  # fmt: skip
        out: list[Reader] = []
        append = out.append
        for (
            uid, chat_id, first_name, ui_language, timezone, flow_step, flow_mode, menu,
            setup_complete, active, paused, paused_until, next_due_at, quiet_start, quiet_end,
            stories, empty, country_text, language_text, source_text, category_text, minute_text,
        ) in rows:  # fmt: skip
            key = (country_text, language_text, source_text)
            chosen = countries.get(key)
            if chosen is None:
                chosen = countries[key] = self._decode_countries(key)
            cats = categories.get(category_text)
            if cats is None:
                cats = categories[category_text] = self._decode_categories(category_text)
            mins = minutes.get(minute_text)
            if mins is None:
                mins = minutes[minute_text] = _decode_minutes(minute_text)
            try:
                due = times[next_due_at]
            except KeyError:
                due = times[next_due_at] = self._time(next_due_at)
            try:
                until = times[paused_until]
            except KeyError:
                until = times[paused_until] = self._time(paused_until)
            append(
                Reader(
                    uid, chat_id, first_name, ui_language, timezone, flow_step, flow_mode, menu,
                    bool(setup_complete), bool(active), bool(paused), until, due, quiet_start,
                    quiet_end, stories, empty, chosen, cats, mins,
                )
            )  # fmt: skip
        return out

    def _shared(self, values: tuple[str, ...]) -> tuple[str, ...]:
        return self._tuples.setdefault(values, values)

    def _decode_countries(
        self, key: tuple[str | None, str | None, str | None]
    ) -> tuple[CountryChoice, ...]:
        country_text, language_text, source_text = key
        languages = self._choices(language_text)
        sources = self._choices(source_text)
        rows = [
            (code, flag == "1", int(position)) for code, flag, position in _records(country_text)
        ]
        if self._sort:
            rows.sort(key=lambda r: (not r[1], r[2], r[0]))
        shared = self._country_choices
        return tuple(
            shared.setdefault(choice, choice)
            for choice in (
                CountryChoice(
                    code, primary, self._shared(languages.get(code, ())),
                    self._shared(sources.get(code, ())),
                )
                for code, primary, _ in rows
            )
        )  # fmt: skip

    def _choices(self, text: str | None) -> dict[str, tuple[str, ...]]:
        """Per country, the values primary first, then in order (language or source ids)."""
        rows = [(country, flag != "1", value) for country, flag, value in _records(text)]
        if self._sort:
            rows.sort(key=lambda r: (r[1], r[2]))
        out: dict[str, list[str]] = {}
        for country, _, value in rows:
            out.setdefault(country, []).append(value)
        return {country: tuple(values) for country, values in out.items()}

    def _decode_categories(self, text: str | None) -> tuple[str, ...]:
        values = text.split(_RS) if text else []
        return tuple(sorted(values) if self._sort else values)


def _records(text: str | None) -> list[tuple[str, str, str]]:
    """The (country, flag, value) records of an aggregate text."""
    if not text:
        return []
    out = []
    for record in text.split(_RS):
        country, flag, value = record.split(_US, 2)
        out.append((country, flag, value))
    return out


def _decode_minutes(text: str | None) -> tuple[int, ...]:
    return tuple(sorted(int(m) for m in text.split(_RS))) if text else ()
