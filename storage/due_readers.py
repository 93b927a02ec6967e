"""Readers with their preferences in ONE statement: a user row per reader, carrying all their
preferences in one text column, ``users.preferences``.

The digest tick claims 100,000 due readers in batches of 2,000. Read as a user row plus one row
per country, language, source, category and delivery time (six statements, ~15 rows a reader,
each through SQLAlchemy's row processing), that cost ~95 µs of CPU per reader on SQLite; as five
correlated subqueries aggregating the preference tables per reader it still cost five index
searches and five aggregates a reader, ~1.6 s of the tick's CPU on SQLite. So the aggregate text is
kept on the user row: every write to the five tables refreshes it in its own transaction
(``refresh_preferences``, run by ``UserStore``'s setters and the bulk seeding), and the claim reads
one column. Each reader is one row of plain DB-API tuples (``cursor.fetchall``), and a
preferences text is decoded once per distinct value: readers repeat a few thousand choices, so
100,000 readers share a few thousand tuples (``ReaderDecoder``).

The text: five parts joined by the ASCII group separator (countries, languages, sources,
categories, delivery minutes), each part its table's rows joined by the record separator, their
fields by the unit separator (none of which a code, id or category holds); a part is empty when
the table holds nothing for the reader. A NULL column was never computed (a row written by code
that predates the column, or straight into the tables by a test): the claim computes those rows'
text with the same subqueries (``coalesce``, which evaluates them only for NULL), so a reader is
never read with stale or missing preferences.

Order is the old statements': countries primary first, then by position and code; languages and
sources primary first, then by value; categories by name; minutes by value. PostgreSQL orders
inside ``string_agg`` (its collation, as ``ORDER BY`` did); SQLite before 3.44 has no ordered
aggregate, so its parts aggregate an ordered subquery (equal preferences, equal text: one cache
entry) and the decoder still sorts its values in code point order, which is SQLite's BINARY
collation, the one its ``ORDER BY`` used: the order never rests on how SQLite feeds an aggregate.

The due readers are chosen, limited and (on PostgreSQL) locked in a materialized CTE first, so
a NULL row's subqueries run for the batch's rows only, never for every due reader before the
``LIMIT``. Statement text is constant; values are bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, bindparam
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from storage.driver_rows import time_reader
from storage.readers import CountryChoice, Reader

_GS, _RS, _US = "\x1d", "\x1e", "\x1f"  # group, record and unit separators: char(29..31)
_LIMIT_CACHE = 100_000  # distinct decoded values kept across batches (a few thousand in use)
# a decoded preferences text: countries (with their languages and sources), categories, minutes
_Preferences = tuple[tuple[CountryChoice, ...], tuple[str, ...], tuple[int, ...]]

# The preferences text of the user ``d``, computed from the five tables: what the column holds.
SQLITE_PREFERENCES = (
    "coalesce((SELECT group_concat(v, char(30)) FROM (SELECT c.country || char(31) || "
    "c.is_primary || char(31) || c.position AS v FROM user_countries c WHERE c.user_id = d.id "
    "ORDER BY c.is_primary DESC, c.position, c.country)), '') || char(29) || "
    "coalesce((SELECT group_concat(v, char(30)) FROM (SELECT l.country || char(31) || "
    "l.is_primary || char(31) || l.language AS v FROM user_languages l WHERE l.user_id = d.id "
    "ORDER BY l.is_primary DESC, l.language, l.country)), '') || char(29) || "
    "coalesce((SELECT group_concat(v, char(30)) FROM (SELECT s.country || char(31) || "
    "s.is_primary || char(31) || s.source_id AS v FROM user_sources s WHERE s.user_id = d.id "
    "ORDER BY s.is_primary DESC, s.source_id, s.country)), '') || char(29) || "
    "coalesce((SELECT group_concat(v, char(30)) FROM (SELECT k.category AS v "
    "FROM user_categories k WHERE k.user_id = d.id ORDER BY k.category)), '') || char(29) || "
    "coalesce((SELECT group_concat(v, char(30)) FROM (SELECT t.minute AS v "
    "FROM user_delivery_times t WHERE t.user_id = d.id ORDER BY t.minute)), '')"
)
PG_PREFERENCES = (
    "coalesce((SELECT string_agg(c.country || chr(31) || CASE WHEN c.is_primary THEN '1' "
    "ELSE '0' END || chr(31) || c.position, chr(30) ORDER BY c.is_primary DESC, c.position, "
    "c.country) FROM user_countries c WHERE c.user_id = d.id), '') || chr(29) || "
    "coalesce((SELECT string_agg(l.country || chr(31) || CASE WHEN l.is_primary THEN '1' "
    "ELSE '0' END || chr(31) || l.language, chr(30) ORDER BY l.is_primary DESC, l.language, "
    "l.country) FROM user_languages l WHERE l.user_id = d.id), '') || chr(29) || "
    "coalesce((SELECT string_agg(s.country || chr(31) || CASE WHEN s.is_primary THEN '1' "
    "ELSE '0' END || chr(31) || s.source_id, chr(30) ORDER BY s.is_primary DESC, s.source_id, "
    "s.country) FROM user_sources s WHERE s.user_id = d.id), '') || chr(29) || "
    "coalesce((SELECT string_agg(k.category, chr(30) ORDER BY k.category) "
    "FROM user_categories k WHERE k.user_id = d.id), '') || chr(29) || "
    "coalesce((SELECT string_agg(t.minute::text, chr(30) ORDER BY t.minute) "
    "FROM user_delivery_times t WHERE t.user_id = d.id), '')"
)

# Every user's column recomputed (the migration's backfill), and the named users' (the setters
# and the bulk seeding: the ids one parameter, as ``storage.id_lists`` binds them).
_SET = "UPDATE users AS d SET preferences = "
_NAMED_SQLITE = " WHERE d.id IN (SELECT value FROM json_each(:ids))"
SQLITE_REFRESH_ALL = _SET + SQLITE_PREFERENCES
PG_REFRESH_ALL = _SET + PG_PREFERENCES
_SQLITE_REFRESH = SQLITE_REFRESH_ALL + _NAMED_SQLITE
_PG_REFRESH = PG_REFRESH_ALL + " WHERE d.id = ANY(:ids)"

# Each statement: the user columns a Reader holds (in its field order), then the preferences
# text (computed when the column is NULL). Written out in full (statement text is constants
# only); the one-reader statements swap the due statements' choice of rows.

# Due readers (set up, active, next digest due), oldest due first, ``limit`` of them. Their ids
# first: sorting ids rather than whole rows halves the statement's cost on SQLite.
SQLITE_DUE = (
    "WITH chosen AS MATERIALIZED (SELECT id FROM users "  # noqa: S608 - constants only
    "WHERE next_due_at <= ? AND active = 1 AND setup_complete = 1 "
    "ORDER BY next_due_at, id LIMIT ?), "
    "due AS (SELECT u.* FROM chosen JOIN users u ON u.id = chosen.id) "
    "SELECT d.id, d.chat_id, d.first_name, d.ui_language, d.timezone, d.flow_step, "
    "d.flow_mode, d.menu_message_id, d.setup_complete, d.active, d.paused, d.paused_until, "
    "d.next_due_at, d.quiet_start, d.quiet_end, d.stories_per_digest, d.empty_digest, "
    "coalesce(d.preferences, " + SQLITE_PREFERENCES + ") "
    "FROM due d ORDER BY d.next_due_at, d.id"
)
# The same on PostgreSQL, locked FOR UPDATE SKIP LOCKED: compose workers side by side
# take disjoint batches. The columns come from the locking scan itself: they are the locked
# version of each row (a row updated since the statement began is re-read when locked).
PG_DUE = (
    "WITH due AS MATERIALIZED (SELECT "  # noqa: S608 - constants only
    "id, chat_id, first_name, ui_language, timezone, flow_step, flow_mode, menu_message_id, "
    "setup_complete, active, paused, paused_until, next_due_at, quiet_start, quiet_end, "
    "stories_per_digest, empty_digest, preferences FROM users "
    "WHERE next_due_at <= %s AND active AND setup_complete "
    "ORDER BY next_due_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "SELECT d.id, d.chat_id, d.first_name, d.ui_language, d.timezone, d.flow_step, "
    "d.flow_mode, d.menu_message_id, d.setup_complete, d.active, d.paused, d.paused_until, "
    "d.next_due_at, d.quiet_start, d.quiet_end, d.stories_per_digest, d.empty_digest, "
    "coalesce(d.preferences, " + PG_PREFERENCES + ") "
    "FROM due d ORDER BY d.next_due_at, d.id"
)


# One reader by id, with the same columns: the due statements with their choice of rows swapped
# (on PostgreSQL locked FOR UPDATE, waiting for a worker that holds the reader).
def _one_reader(due: str, choice_from: str, choice: str) -> str:
    """``due`` with its text from ``choice_from`` up to the outer SELECT replaced by ``choice``."""
    start, end = due.index(choice_from), due.index("SELECT d.id")
    return due[:start] + choice + due[end:]


SQLITE_ONE = _one_reader(SQLITE_DUE, "WITH", "WITH due AS (SELECT * FROM users WHERE id = ?) ")
PG_ONE = _one_reader(PG_DUE, "WHERE next_due_at", "WHERE id = %s FOR UPDATE) ")


def _literal_separators(statement: str) -> str:
    """SQLite's statements with the separators as string literals rather than ``char()``
    calls: SQLite evaluates the calls for every preference row (three per row), about 15 % of
    the subqueries' CPU for 100,000 readers. Same text values, same statement every time."""
    for code, char in (("29", _GS), ("30", _RS), ("31", _US)):
        statement = statement.replace("char(" + code + ")", "'" + char + "'")
    return statement


SQLITE_PREFERENCES = _literal_separators(SQLITE_PREFERENCES)
SQLITE_REFRESH_ALL = _literal_separators(SQLITE_REFRESH_ALL)
_SQLITE_REFRESH = _literal_separators(_SQLITE_REFRESH)
SQLITE_DUE = _literal_separators(SQLITE_DUE)
SQLITE_ONE = _literal_separators(SQLITE_ONE)

_REFRESH_SQLITE: TextClause = sql_text(_SQLITE_REFRESH).bindparams(bindparam("ids", type_=String))
_REFRESH_PG: TextClause = sql_text(_PG_REFRESH).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger))
)


def refresh_preferences(connection: Connection, ids: Collection[int]) -> None:
    """Recompute the preferences text of users ``ids`` from the five tables, in
    ``connection``'s transaction: whatever writes those tables calls this before it commits."""
    if not ids:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(_REFRESH_PG, {"ids": list(ids)})
    else:
        connection.execute(_REFRESH_SQLITE, {"ids": json.dumps(list(ids))})


class ReaderDecoder:
    """Turns rows of the statements above into ``Reader``s, decoding each distinct preferences
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
        self._preferences: dict[str, _Preferences] = {}
        self._countries: dict[tuple[str, str, str], tuple[CountryChoice, ...]] = {}
        self._categories: dict[str, tuple[str, ...]] = {}
        self._minutes: dict[str, tuple[int, ...]] = {}
        self._times: dict[Any, datetime | None] = {None: None}
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._country_choices: dict[CountryChoice, CountryChoice] = {}

    def readers(self, rows: Sequence[Any]) -> list[Reader]:
        """One ``Reader`` per row (the user columns in field order, then the preferences)."""
        if len(self._preferences) + len(self._times) > _LIMIT_CACHE:
            self._clear()
        preferences, times = self._preferences, self._times
        out: list[Reader] = []
        append = out.append
        for (
            uid, chat_id, first_name, ui_language, timezone, flow_step, flow_mode, menu,
            setup_complete, active, paused, paused_until, next_due_at, quiet_start, quiet_end,
            stories, empty, preference_text,
        ) in rows:  # fmt: skip
            decoded = preferences.get(preference_text)
            if decoded is None:
                decoded = preferences[preference_text] = self._decode(preference_text)
            chosen, cats, mins = decoded
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

    def _decode(self, preference_text: str) -> _Preferences:
        """Countries, categories and minutes of one preferences text; each part is decoded
        once too, so readers who share only their categories share that tuple."""
        country_text, language_text, source_text, category_text, minute_text = (
            preference_text.split(_GS)
        )
        key = (country_text, language_text, source_text)
        chosen = self._countries.get(key)
        if chosen is None:
            chosen = self._countries[key] = self._decode_countries(key)
        cats = self._categories.get(category_text)
        if cats is None:
            cats = self._categories[category_text] = self._decode_categories(category_text)
        mins = self._minutes.get(minute_text)
        if mins is None:
            mins = self._minutes[minute_text] = _decode_minutes(minute_text)
        return chosen, cats, mins

    def _shared(self, values: tuple[str, ...]) -> tuple[str, ...]:
        return self._tuples.setdefault(values, values)

    def _decode_countries(self, key: tuple[str, str, str]) -> tuple[CountryChoice, ...]:
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

    def _choices(self, part: str) -> dict[str, tuple[str, ...]]:
        """Per country, the values primary first, then in order (language or source ids)."""
        rows = [(country, flag != "1", value) for country, flag, value in _records(part)]
        if self._sort:
            rows.sort(key=lambda r: (r[1], r[2]))
        out: dict[str, list[str]] = {}
        for country, _, value in rows:
            out.setdefault(country, []).append(value)
        return {country: tuple(values) for country, values in out.items()}

    def _decode_categories(self, part: str) -> tuple[str, ...]:
        values = part.split(_RS) if part else []
        return tuple(sorted(values) if self._sort else values)


def _records(part: str) -> list[tuple[str, str, str]]:
    """The (country, flag, value) records of a part of a preferences text."""
    if not part:
        return []
    out = []
    for record in part.split(_RS):
        country, flag, value = record.split(_US, 2)
        out.append((country, flag, value))
    return out


def _decode_minutes(part: str) -> tuple[int, ...]:
    return tuple(sorted(int(m) for m in part.split(_RS))) if part else ()
