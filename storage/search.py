"""Full-text search over stored articles: one interface, FTS5 on SQLite, tsvector on PostgreSQL.

A search is one statement: the index finds the articles holding every term (the newest
:data:`MATCH_CAP` of them), the articles table restricts them to a time window, languages and
sources, and orders them: the reader's own sources first, then newest first (every result is
relevant: it holds every term). Muted
sources and words (``exclude_sources``, ``exclude_words``) are conditions of the same
statement, so a page is always full when enough results exist. The page's rows and their
categories are read on the same connection (two statements: on PostgreSQL each round trip
counts).

What the reader typed never reaches the database as query syntax: ``storage.search_text``
reduces it to quoted tokens of letters, digits and marks, and the expression built from them
is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, any_, bindparam, case, cast, func, select
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from storage.articles import ArticleRow
from storage.errors import wraps_errors
from storage.search_index import PG_INDEX, SQLITE_INDEX, fts5_any, fts5_query, tsquery
from storage.search_text import MAX_TERMS, Phrase, parse_query
from storage.tables import Article, ArticleCategory

_ARTICLES = Article.__table__  # type: ignore[attr-defined]
_CATEGORIES = ArticleCategory.__table__  # type: ignore[attr-defined]
MAX_OFFSET = 500  # deeper pages are not worth a scan: nobody reads result 500 of a search
# A query matching more stories than this (a word like "the") ranks only the newest this many
# matches: it bounds the work of the broadest searches, and such a query finds plenty anyway.
MATCH_CAP = 1000


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, in order; ``has_more`` says a next page exists."""

    articles: tuple[ArticleRow, ...]
    has_more: bool


@dataclass(frozen=True, slots=True)
class SearchScope:
    """Where to look: published since ``since``, in ``languages`` (empty: any), with
    ``own_sources`` ranked first, and the muted sources and words left out."""

    since: datetime
    languages: Collection[str] = ()
    own_sources: Collection[str] = ()
    exclude_sources: Collection[str] = ()
    exclude_words: Collection[str] = ()


@wraps_errors
class ArticleSearch:
    """Facade over the search index (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def search(
        self, query: str, scope: SearchScope, *, offset: int = 0, limit: int = 5
    ) -> SearchPage:
        """Articles holding every word and phrase of ``query``; no term, no result."""
        terms = parse_query(query)
        if not terms:
            return SearchPage((), False)
        return self._page(self._matching(terms), scope, offset, limit)

    def latest(self, scope: SearchScope, *, offset: int = 0, limit: int = 5) -> SearchPage:
        """The same order and filters without a query: what an empty inline query lists."""
        return self._page(None, scope, offset, limit)

    def _matching(self, terms: Sequence[Phrase]) -> Select[tuple[int]]:
        """The newest :data:`MATCH_CAP` articles holding every term, by id (ids grow with
        arrival): the search starts from them and looks each article up by its key, instead
        of scanning the window and probing the matches."""
        if self._postgres:
            condition = PG_INDEX.c.doc.op("@@")(cast(bindparam("terms", tsquery(terms)), TSQUERY))
            key = PG_INDEX.c.article_id
        else:
            condition = SQLITE_INDEX.c.body.op("MATCH")(bindparam("terms", fts5_query(terms)))
            key = SQLITE_INDEX.c.rowid
        return select(key.label("id")).where(condition).order_by(key.desc()).limit(MATCH_CAP)

    def _muted(self, words: Collection[str]) -> ColumnElement[bool] | None:
        """True for an article holding any muted word or phrase (each a term of its own).

        On PostgreSQL a correlated ``EXISTS`` on the article's own index row: one look-up per
        candidate, where a list of every article with a muted common word would cost as much
        as searching for it. On SQLite the list (``IN``): FTS5 builds it fast, and probing it
        per candidate costs a parse of the expression each time."""
        # a muted phrase is one term (its words adjacent), never any one of its words
        quoted = ('"' + word.replace('"', " ") + '"' for word in words)
        terms = [term for phrase in quoted for term in parse_query(phrase, 1)][: MAX_TERMS * 4]
        if not terms:
            return None
        a = _ARTICLES.c
        if self._postgres:
            expression = cast(bindparam("muted", tsquery(terms, " | ")), TSQUERY)
            return (
                select(PG_INDEX.c.article_id)
                .where(PG_INDEX.c.article_id == a.id, PG_INDEX.c.doc.op("@@")(expression))
                .exists()
            )
        listed = select(SQLITE_INDEX.c.rowid).where(
            SQLITE_INDEX.c.body.op("MATCH")(bindparam("muted", fts5_any(terms)))
        )
        return a.id.in_(listed)

    def _page(
        self, matching: Select[tuple[int]] | None, scope: SearchScope, offset: int, limit: int
    ) -> SearchPage:
        a = _ARTICLES.c
        conditions: list[ColumnElement[bool]] = [a.published_at >= scope.since]
        source = _ARTICLES
        if matching is not None and self._postgres:
            # An array computed once (an InitPlan), each id looked up by the primary key. As
            # a join, PostgreSQL sees up to 1,000 matches (a common word) and hash-joins them
            # with a sequential scan of every article in the window: 50-90 ms at 50,000.
            conditions.append(a.id == any_(func.array(matching.scalar_subquery())))
        elif matching is not None:
            found = matching.subquery("matches")
            source = found.join(_ARTICLES, a.id == found.c.id)
        if scope.languages:
            conditions.append(a.language.in_(sorted(scope.languages)))
        if scope.exclude_sources:
            conditions.append(a.source_id.not_in(sorted(scope.exclude_sources)))
        muted = self._muted(scope.exclude_words)
        if muted is not None:
            conditions.append(~muted)
        own = sorted(scope.own_sources)
        order = [case((a.source_id.in_(own), 0), else_=1)] if own else []
        if matching is None and not own:  # the latest stories: by arrival, the key's order
            order = [a.id.desc()]
        offset = min(max(offset, 0), MAX_OFFSET)
        statement = (
            select(a.id, a.source_id, a.url, a.title, a.summary, a.image_url, a.language,
                   a.published_at, a.first_seen_at, a.cluster_id)
            .select_from(source)
            .where(*conditions)
            .order_by(*order, a.published_at.desc(), a.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )  # fmt: skip
        # One connection, two statements: the page's rows, then their categories (a round
        # trip saved per step is what PostgreSQL's latency is made of here).
        with self._engine.connect() as connection:
            rows = connection.execute(statement).all()
            ids = [int(r[0]) for r in rows[:limit]]
            categories: dict[int, list[str]] = {}
            if ids:
                pairs = connection.execute(
                    select(_CATEGORIES.c.article_id, _CATEGORIES.c.category)
                    .where(_CATEGORIES.c.article_id.in_(ids))
                    .order_by(_CATEGORIES.c.category)
                )
                for article_id, category in pairs:
                    categories.setdefault(int(article_id), []).append(category)
        articles = tuple(
            ArticleRow(
                id=int(r[0]), source_id=r[1], url=r[2], title=r[3], summary=r[4],
                image_url=r[5], language=r[6], published_at=_aware(r[7]),
                first_seen_at=_aware(r[8]), cluster_id=r[9],
                categories=tuple(categories.get(int(r[0]), ())),
            )
            for r in rows[:limit]
        )  # fmt: skip
        return SearchPage(articles, len(rows) > limit)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC by construction."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
