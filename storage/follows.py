"""Followed phrases (/follow): what each reader follows, and who follows what.

A fetch pass reads the distinct phrase keys once (to build its matcher) and then the followers
of the few phrases it found, along ``ix_followed_phrases_key``: never every reader's list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, select
from sqlalchemy.engine import Engine

from storage.errors import wraps_errors
from storage.tables import FollowedPhrase, utcnow

_FP: Table = FollowedPhrase.__table__  # type: ignore[attr-defined]
_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class Follow:
    """One followed phrase: its id (the Remove button's argument), as typed, and its key."""

    id: int
    phrase: str
    key: str


@wraps_errors
class FollowStore:
    """Facade over followed_phrases."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, user_id: int, phrase: str, key: str, limit: int) -> bool | None:
        """Follow a phrase: True if added, False if followed already, None when the reader
        follows ``limit`` phrases already (nothing stored)."""
        with self._engine.begin() as conn:
            keys = {k for (k,) in conn.execute(select(_FP.c.key).where(_FP.c.user_id == user_id))}
            if key in keys:
                return False
            if len(keys) >= limit:
                return None
            conn.execute(
                _FP.insert().values(
                    user_id=user_id, phrase=phrase[:64], key=key[:200], created_at=utcnow()
                )
            )
            return True

    def remove(self, user_id: int, follow_id: int) -> Follow | None:
        """Stop following; the phrase removed, or None if it was not the reader's."""
        with self._engine.begin() as conn:
            found = conn.execute(
                select(_FP.c.id, _FP.c.phrase, _FP.c.key).where(
                    _FP.c.id == follow_id, _FP.c.user_id == user_id
                )
            ).first()
            if found is None:
                return None
            conn.execute(delete(_FP).where(_FP.c.id == follow_id))
            return Follow(int(found[0]), found[1], found[2])

    def for_user(self, user_id: int) -> list[Follow]:
        """The reader's phrases, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_FP.c.id, _FP.c.phrase, _FP.c.key)
                .where(_FP.c.user_id == user_id)
                .order_by(_FP.c.id)
            )
            return [Follow(int(i), p, k) for i, p, k in rows]

    def distinct_keys(self) -> list[str]:
        """Every phrase anyone follows, once (what a pass's matcher is built from)."""
        with self._engine.connect() as conn:
            return [k for (k,) in conn.execute(select(_FP.c.key).distinct())]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_FP)).scalar_one())

    def followers(self, keys: Iterable[str]) -> dict[str, list[int]]:
        """Who follows each of ``keys`` (keys nobody follows are absent)."""
        return self.followers_and_spellings(keys)[0]

    def followers_and_spellings(
        self, keys: Iterable[str]
    ) -> tuple[dict[str, list[int]], dict[tuple[int, str], str]]:
        """Who follows each of ``keys``, and how each follower typed it where that differs
        from the key (an alert names the phrase as the reader wrote it)."""
        wanted = sorted(set(keys))
        out: dict[str, list[int]] = {}
        spelled: dict[tuple[int, str], str] = {}
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                for key, user_id, phrase in conn.execute(
                    select(_FP.c.key, _FP.c.user_id, _FP.c.phrase).where(_FP.c.key.in_(chunk))
                ):
                    out.setdefault(key, []).append(int(user_id))
                    if phrase != key:
                        spelled[(int(user_id), key)] = phrase
        return out, spelled
