"""A reader's /search words, so that the Previous/Next buttons of its results carry a short id.

Callback data holds 64 bytes of ASCII; a query in Hindi or Chinese does not fit, so the words
are stored and the buttons say ``<search id>.<page>``. Only the reader who searched can page
their search (the id of someone else's reads as unknown). Rows older than ``RETENTION`` are
deleted as new ones are saved: older result messages answer "this menu has expired".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Engine

from storage.errors import wraps_errors
from storage.tables import SavedSearch

RETENTION = timedelta(days=1)
_SEARCHES: Table = SavedSearch.__table__  # type: ignore[attr-defined]
_C = _SEARCHES.c


@wraps_errors
class SavedSearchStore:
    """Facade over the saved_searches table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, user_id: int, query: str, now: datetime) -> int:
        """Store ``query`` for ``user_id``; its id. Forgets searches older than the retention."""
        now = now.astimezone(UTC)
        with self._engine.begin() as conn:
            inserted = conn.execute(
                insert(_SEARCHES)
                .values(user_id=user_id, query=query[:200], created_at=now)
                .returning(_C.id)
            )
            search_id = int(inserted.scalar_one())
            # Older rows only: the newest stays, or SQLite would hand its id out again and an
            # old button would page a newer search.
            conn.execute(
                delete(_SEARCHES).where(_C.created_at < now - RETENTION, _C.id < search_id)
            )
            return search_id

    def get(self, search_id: int, user_id: int) -> str | None:
        """The words of this reader's search, or None (unknown, expired or someone else's)."""
        with self._engine.connect() as conn:
            found = conn.execute(
                select(_C.query).where(_C.id == search_id, _C.user_id == user_id)
            ).first()
        return None if found is None else str(found[0])
