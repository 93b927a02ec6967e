"""The full-text index of articles, one per backend, fed the tokens of ``storage.search_text``.

- SQLite: an FTS5 table ``article_search(body)`` whose rowid is the article id, tokenized by
  ``unicode61`` with combining marks counted as letters (so a Hindi word stays one token) and
  nothing else changed: the text is already normalised.
- PostgreSQL: ``article_search(article_id, doc tsvector)`` with a GIN index. The tsvector is
  built from our own tokens and positions (a ``'token':1 'next':2`` literal), not by a text
  search configuration, so the server's locale and parser do not matter.

The article store writes a row here in the same transaction as each new or edited article;
deleting an article removes its row (a trigger on SQLite, the foreign key's cascade on
PostgreSQL), so pruning needs nothing more. Migration 0009 creates both and back-fills.

Queries are assembled here from parsed terms, never from the reader's raw text: every token is
quoted, and tokens hold only letters, digits and marks, so no input is query syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger, Text

from storage.search_text import Phrase, document, is_single_cjk

TABLE = "article_search"
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position

# Lightweight descriptions for building queries; the tables themselves come from migration 0009.
SQLITE_INDEX = Table(TABLE, MetaData(), Column("rowid", BigInteger), Column("body", Text))
PG_INDEX = Table(TABLE, MetaData(), Column("article_id", BigInteger), Column("doc", TSVECTOR))

SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS article_search USING fts5(body, "
    "tokenize = \"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\")",
    "CREATE TRIGGER IF NOT EXISTS article_search_delete AFTER DELETE ON articles BEGIN "
    "DELETE FROM article_search WHERE rowid = old.id; END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS article_search_delete",
    "DROP TABLE IF EXISTS article_search",
)
PG_CREATE = (
    "CREATE TABLE IF NOT EXISTS article_search ("
    "article_id BIGINT PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE, "
    "doc tsvector NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_article_search_doc ON article_search USING GIN (doc)",
)
PG_DROP = ("DROP TABLE IF EXISTS article_search",)

_SQLITE_DELETE = text("DELETE FROM article_search WHERE rowid = :id")
_SQLITE_INSERT = text("INSERT INTO article_search (rowid, body) VALUES (:id, :body)")
_PG_UPSERT = text(
    "INSERT INTO article_search (article_id, doc) VALUES (:id, CAST(:doc AS tsvector)) "
    "ON CONFLICT (article_id) DO UPDATE SET doc = EXCLUDED.doc"
)


def is_search_table(name: str | None) -> bool:
    """The index and SQLite's FTS5 shadow tables: not in ``storage.tables`` (they differ by
    backend), so schema comparisons and autogenerate leave them alone."""
    return bool(name) and str(name).startswith(TABLE)


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """For Alembic's ``include_name``: compare and autogenerate skip the search tables."""
    return not (type_ == "table" and is_search_table(name))


def _tsvector_literal(found: list[str]) -> str:
    """``'token':1 'next':2 …``: positions kept for phrase queries, quotes escaped."""
    return " ".join(
        f"{_quote(token)}:{min(position, MAX_POSITION)}"
        for position, token in enumerate(found, start=1)
    )


def _quote(token: str) -> str:
    """A lexeme quoted for tsvector/tsquery input (tokens never hold quotes; escaped anyway)."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def write(executor: Session | Connection, rows: Sequence[tuple[int, str, str]]) -> None:
    """Index (or re-index) articles given as (id, title, summary), inside the caller's
    transaction."""
    if not rows:
        return
    dialect = (
        executor.get_bind().dialect.name
        if isinstance(executor, Session)
        else (executor.dialect.name)
    )
    if dialect == "postgresql":
        params = [{"id": i, "doc": _tsvector_literal(document(t, s))} for i, t, s in rows]
        executor.execute(_PG_UPSERT, params)
        return
    executor.execute(_SQLITE_DELETE, [{"id": i} for i, _t, _s in rows])
    executor.execute(
        _SQLITE_INSERT, [{"id": i, "body": " ".join(document(t, s))} for i, t, s in rows]
    )


def fts5_query(terms: Sequence[Phrase]) -> str:
    """An FTS5 MATCH expression requiring every term: quoted phrases, a lone CJK character as
    a prefix."""
    parts = []
    for term in terms:
        if len(term.tokens) == 1 and is_single_cjk(term.tokens[0]):
            parts.append(f'"{term.tokens[0]}" *')
        else:
            parts.append('"' + " ".join(term.tokens) + '"')
    return " AND ".join(parts)


def fts5_any(terms: Sequence[Phrase]) -> str:
    """An FTS5 MATCH expression for any of the terms (muted words)."""
    return " OR ".join(fts5_query([term]) for term in terms)


def tsquery(terms: Sequence[Phrase], joiner: str = " & ") -> str:
    """A tsquery requiring every term (``joiner`` ``" | "``: any of them)."""
    parts = []
    for term in terms:
        if len(term.tokens) == 1 and is_single_cjk(term.tokens[0]):
            parts.append(_quote(term.tokens[0]) + ":*")
        else:
            parts.append("(" + " <-> ".join(_quote(t) for t in term.tokens) + ")")
    return joiner.join(parts)
