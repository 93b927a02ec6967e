"""What readers muted: sources and words. One short transaction per method, plain data out.

``MuteSet`` is the whole of one reader's mutes, the value digests, headlines, alerts and
search filter with (``digest.mutes.is_muted``). Readers with no mutes have no rows, and
:meth:`MuteStore.many` returns nothing for them: the digest tick pays one indexed query per
batch, never a row per reader who muted nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.errors import wraps_errors
from storage.id_lists import ids_value, in_ids
from storage.tables import MutedSource, MutedWord

_MS: Table = MutedSource.__table__  # type: ignore[attr-defined]
_MW: Table = MutedWord.__table__  # type: ignore[attr-defined]
MAX_MUTED_WORDS = 50
MAX_MUTED_SOURCES = 100


@dataclass(frozen=True, slots=True)
class MuteSet:
    """One reader's mutes: source ids, and the normalised keys of muted words."""

    sources: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.words)


NO_MUTES = MuteSet()


@dataclass(frozen=True, slots=True)
class MutedWordRow:
    """A muted word as the reader typed it, with its id (the Unmute button's argument)."""

    id: int
    word: str
    key: str


@wraps_errors
class MuteStore:
    """Facade over muted_sources and muted_words."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ----------------------------------------------------------------- reading
    def muted_sources(self, user_id: int) -> frozenset[str]:
        """The sources ``user_id`` muted (API for the search service too)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_MS.c.source_id).where(_MS.c.user_id == user_id))
            return frozenset(r for (r,) in rows)

    def muted_words(self, user_id: int) -> tuple[str, ...]:
        """The normalised keys of the words ``user_id`` muted, oldest first (API for search)."""
        return tuple(w.key for w in self.word_rows(user_id))

    def word_rows(self, user_id: int) -> list[MutedWordRow]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_MW.c.id, _MW.c.word, _MW.c.key)
                .where(_MW.c.user_id == user_id)
                .order_by(_MW.c.id)
            )
            return [MutedWordRow(int(i), w, k) for i, w, k in rows]

    def sources_and_words(self, user_id: int) -> tuple[frozenset[str], tuple[str, ...]]:
        """What /search leaves out for ``user_id``: muted sources, muted word keys."""
        muted = self.for_user(user_id)
        return muted.sources, muted.words

    def for_user(self, user_id: int) -> MuteSet:
        """Everything ``user_id`` muted, in one value."""
        found = self.many([user_id])
        return found.get(user_id, NO_MUTES)

    def many(
        self, user_ids: Sequence[int], connection: Connection | None = None
    ) -> dict[int, MuteSet]:
        """Mutes of the readers among ``user_ids`` who muted anything (two queries a chunk)."""
        if connection is None:
            with self._engine.connect() as conn:
                return self._many(conn, list(user_ids))
        return self._many(connection, list(user_ids))

    def _many(self, conn: Connection, ids: list[int]) -> dict[int, MuteSet]:
        """Two statements whatever the number of ids (the list is one bound parameter,
        ``storage.id_lists``: a tick's batch of 2,000 readers costs no 2,000 parameters)."""
        sources: dict[int, set[str]] = {}
        words: dict[int, list[str]] = {}
        wanted = {"ids": ids_value(conn, ids)}
        for uid, source in conn.execute(
            select(_MS.c.user_id, _MS.c.source_id).where(in_ids(conn, _MS.c.user_id)), wanted
        ):
            sources.setdefault(uid, set()).add(source)
        for uid, key in conn.execute(
            select(_MW.c.user_id, _MW.c.key).where(in_ids(conn, _MW.c.user_id)).order_by(_MW.c.id),
            wanted,
        ):
            words.setdefault(uid, []).append(key)
        return {
            uid: MuteSet(frozenset(sources.get(uid, ())), tuple(words.get(uid, ())))
            for uid in sources.keys() | words.keys()
        }

    # ----------------------------------------------------------------- writing
    def mute_source(self, user_id: int, source_id: str) -> bool:
        """Mute a source; False when the reader already muted too many (nothing stored)."""
        with self._engine.begin() as conn:
            count = conn.execute(
                select(func.count()).select_from(_MS).where(_MS.c.user_id == user_id)
            ).scalar_one()
            if count >= MAX_MUTED_SOURCES:
                return False
            conn.execute(
                _insert(conn, _MS).on_conflict_do_nothing(),
                {"user_id": user_id, "source_id": source_id[:64]},
            )
            return True

    def unmute_source(self, user_id: int, source_id: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(_MS).where(_MS.c.user_id == user_id, _MS.c.source_id == source_id)
            )
            return bool(result.rowcount)

    def mute_word(self, user_id: int, word: str, key: str) -> bool | None:
        """Mute a word: True if added, False if it was muted already, None when the reader
        has muted :data:`MAX_MUTED_WORDS` already (nothing stored)."""
        with self._engine.begin() as conn:
            keys = {k for (k,) in conn.execute(select(_MW.c.key).where(_MW.c.user_id == user_id))}
            if key in keys:
                return False
            if len(keys) >= MAX_MUTED_WORDS:
                return None
            conn.execute(
                _insert(conn, _MW).on_conflict_do_nothing(),
                {"user_id": user_id, "word": word[:64], "key": key[:200]},
            )
            return True

    def unmute_word(self, user_id: int, word_id: int) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(delete(_MW).where(_MW.c.user_id == user_id, _MW.c.id == word_id))
            return bool(result.rowcount)


def _insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
