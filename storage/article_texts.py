"""Cached full-story texts: one row per article, so a page is fetched once for every reader.

A row holds either the extracted text (``status == "ok"``) or why there is none
(``status == "failed"`` with a short ``reason``); the caller decides how long each stays
fresh from ``fetched_at``. Writing is an upsert, because two processes (or a retry after a
cached failure) may store the same article's text: the last write wins, which is the
newest fetch. Every method is one short transaction and returns plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from storage.errors import wraps_errors
from storage.tables import ArticleText

__all__ = ["STATUSES", "ArticleTextRow", "ArticleTextStore"]

_TEXTS: Table = ArticleText.__table__  # type: ignore[attr-defined]
_C = _TEXTS.c
STATUSES = frozenset({"ok", "failed"})
# Column widths (see storage.tables.ArticleText): page-supplied strings are cut to fit, since
# PostgreSQL refuses an over-long VARCHAR where SQLite would silently keep it.
_TITLE, _AUTHOR, _REASON, _URL = 500, 200, 32, 2048


@dataclass(frozen=True, slots=True)
class ArticleTextRow:
    """One cached extraction result; ``paragraphs`` is empty for a failure."""

    article_id: int
    status: str
    reason: str | None
    title: str
    author: str | None
    published_at: datetime | None
    paragraphs: tuple[str, ...]
    final_url: str
    fetched_at: datetime

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@wraps_errors
class ArticleTextStore:
    """Facade over the article_texts table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, article_id: int) -> ArticleTextRow | None:
        """The cached text (or failure) of one article, or None if it was never fetched."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_TEXTS).where(_C.article_id == article_id)).first()
        if row is None:
            return None
        return ArticleTextRow(
            article_id=int(row.article_id),
            status=row.status,
            reason=row.reason,
            title=row.title,
            author=row.author,
            published_at=row.published_at,
            paragraphs=tuple(str(p) for p in row.paragraphs or ()),
            final_url=row.final_url,
            fetched_at=row.fetched_at,
        )

    def put(self, row: ArticleTextRow) -> None:
        """Insert or replace the row for ``row.article_id`` (atomic on both backends)."""
        if row.status not in STATUSES:
            raise ValueError(f"unknown article text status {row.status!r}")
        values = {
            "status": row.status,
            "reason": row.reason[:_REASON] if row.reason else None,
            "title": row.title[:_TITLE],
            "author": row.author[:_AUTHOR] if row.author else None,
            "published_at": _utc(row.published_at) if row.published_at else None,
            "paragraphs": list(row.paragraphs),
            "final_url": row.final_url[:_URL],
            "fetched_at": _utc(row.fetched_at),
        }
        with self._engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(_TEXTS).values(article_id=row.article_id, **values)
            conn.execute(
                statement.on_conflict_do_update(index_elements=[_C.article_id], set_=values)
            )

    def prune(self, before: datetime) -> int:
        """Delete texts fetched before ``before``; how many went.

        Call it with the articles' retention cutoff. A text fetched late for an old article
        outlives that article by at most one retention period, unreachable and harmless; a
        story still read after its text went is simply fetched again.
        """
        with self._engine.begin() as conn:
            result = conn.execute(delete(_TEXTS).where(_C.fetched_at < _utc(before)))
            return int(result.rowcount or 0)


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite hands them back that way), aware ones converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
