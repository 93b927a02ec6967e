"""Stored articles: upsert from feeds, look-ups for headlines and clustering, pruning.

An article is identified per source by its entry key (guid, else canonical link, else a hash),
so the same entry in two category feeds of one source is one row with two categories, and an
entry edited by its publisher is updated in place rather than stored again.

Feed content is untrusted, so :meth:`ArticleStore.upsert` fits every entry to the schema's
column lengths itself, the same on SQLite (which ignores lengths) as on PostgreSQL (which
refuses the statement): a key too long becomes its hash, a title or summary is cut, an image
URL too long is dropped, and an entry whose link is too long is refused (skipped, counted).
If the batch still fails on one entry's data, each entry is stored in its own transaction and
only the failing ones are skipped: one entry never costs the others.

Over 350 lines on purpose: every statement on the articles tables sits behind this one facade, the
upsert with its per-entry fallback and the read paths of headlines, clustering and Related, so
their indexes and limits are seen together.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakValueDictionary

from sqlalchemy import Table, bindparam, delete, func, insert, literal, null, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from storage import search_index
from storage.db import session_scope
from storage.errors import wraps_errors
from storage.id_lists import ids_value, in_ids
from storage.tables import Article, ArticleCategory

_CHUNK = 500
_ARTICLES: Table = Article.__table__  # type: ignore[attr-defined]
_CATEGORIES: Table = ArticleCategory.__table__  # type: ignore[attr-defined]
# One entry's bad data: a value the database refuses (DataError: too long, NUL on PostgreSQL),
# a key that collides (IntegrityError), text the driver cannot encode (UnicodeEncodeError).
# Connection and lock errors are not here: they fail the whole feed, which is retried.
_ENTRY_ERRORS = (DataError, IntegrityError, ValueError)
ERRORS_KEPT = 5
log = logging.getLogger(__name__)


def _length(table: Table, column: str) -> int:
    length = getattr(table.c[column].type, "length", None)
    assert isinstance(length, int), column
    return length


KEY_CHARS = _length(_ARTICLES, "entry_key")
URL_CHARS = _length(_ARTICLES, "url")
TITLE_CHARS = _length(_ARTICLES, "title")
SUMMARY_CHARS = _length(_ARTICLES, "summary")
IMAGE_CHARS = _length(_ARTICLES, "image_url")
LANGUAGE_CHARS = _length(_ARTICLES, "language")
CATEGORY_CHARS = _length(_CATEGORIES, "category")


@dataclass(frozen=True, slots=True)
class ArticleInput:
    """What ingest hands over for one feed entry (already cleaned)."""

    entry_key: str
    url: str
    title: str
    summary: str
    image_url: str | None
    published_at: datetime
    language: str
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True, weakref_slot=True)
class ArticleRow:
    """A stored article as readers' features see it.

    Immutable, so the store hands out one object per article while any is alive (see
    ``ArticleStore``): a weak reference to it is what that costs."""

    id: int
    source_id: str
    url: str
    title: str
    summary: str
    image_url: str | None
    language: str
    published_at: datetime
    first_seen_at: datetime
    cluster_id: int | None
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ArticleText:
    """What an in-memory text index reads of an article (``ArticleStore.texts_since``): no
    URL, image or categories, and no ORM object on the way, so loading a whole window makes
    a fraction of the garbage (and the fragmented heap) that full rows would."""

    id: int
    language: str
    title: str
    summary: str
    published_at: datetime


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch (an aware datetime, or a naive one in UTC): exact, so
    differences are what the datetimes' own differences give to the microsecond."""
    return (_aware(moment) - EPOCH) // MICROSECOND


@dataclass(slots=True)
class ArticleColumns:
    """What the digest tick ranks on, one entry per article, newest first (ties: higher id
    first), column by column rather than one object per article: 50,000 ``ArticleRow``
    objects with their datetimes were most of the tick's window memory and load time.

    ``published`` is in microseconds since the epoch (exact: rankings compare and subtract
    it as they would the datetimes); ``clusters`` holds 0 for an article in no cluster
    (cluster ids are article ids, so positive). Equal sources, languages and category
    tuples are one object each. No texts: the tick reads those of the stories it shows
    (:meth:`ArticleStore.texts_of`)."""

    ids: array[int] = field(default_factory=lambda: array("q"))
    sources: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    published: array[int] = field(default_factory=lambda: array("q"))
    clusters: array[int] = field(default_factory=lambda: array("q"))
    categories: list[tuple[str, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, rows: Iterable[ArticleRow]) -> ArticleColumns:
        """The columns of these rows, in the window's order (tests and small callers)."""
        out = cls()
        for r in sorted(rows, key=lambda a: (a.published_at, a.id), reverse=True):
            out.ids.append(r.id)
            out.sources.append(r.source_id)
            out.languages.append(r.language)
            out.published.append(micros(r.published_at))
            out.clusters.append(r.cluster_id or 0)
            out.categories.append(r.categories)
        return out


# The tick's window through the driver's own cursor: SQLAlchemy's per-row work (Row objects,
# datetime processing) was most of its cost. One row per (article, category), LEFT JOIN so an
# article without categories is still there, by id so an article's rows are adjacent: SQLite
# then scans the table in its own order, where sorting by time cost it more than the rest
# of the read (the window is put in time order in Python). Then the sources of the window's
# clusters that only articles outside the window give (the rest are in the window's rows).
# Constant texts, one per parameter style.
_WINDOW_SQL = (
    "SELECT a.id, a.source_id, a.language, a.published_at, a.cluster_id, c.category"
    " FROM articles a LEFT JOIN article_categories c ON c.article_id = a.id"
    " WHERE a.published_at >= {p} ORDER BY a.id"
)
_CLUSTERS_SQL = (
    "SELECT DISTINCT cluster_id, source_id FROM articles WHERE published_at < {p}"
    " AND cluster_id IN"
    " (SELECT cluster_id FROM articles WHERE published_at >= {p} AND cluster_id IS NOT NULL)"
)
_QMARK = {"window": _WINDOW_SQL.format(p="?"), "clusters": _CLUSTERS_SQL.format(p="?")}
_PYFORMAT = {"window": _WINDOW_SQL.format(p="%s"), "clusters": _CLUSTERS_SQL.format(p="%s")}


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """``skipped``: entries not stored (refused by :func:`fit` or failing alone in the
    database); ``errors``: the first few reasons, for the log."""

    new: tuple[ArticleRow, ...]
    updated: int
    unchanged: int
    skipped: int = 0
    errors: tuple[str, ...] = ()


def fit(item: ArticleInput) -> ArticleInput | str:
    """``item`` fitted to the columns' lengths, or why it cannot be stored."""
    if (
        len(item.url) <= URL_CHARS
        and len(item.entry_key) <= KEY_CHARS
        and len(item.title) <= TITLE_CHARS
        and len(item.summary) <= SUMMARY_CHARS
        and len(item.image_url or "") <= IMAGE_CHARS
        and len(item.language) <= LANGUAGE_CHARS
        and all(len(c) <= CATEGORY_CHARS for c in item.categories)
    ):
        return item  # the usual case, cheaply
    if len(item.url) > URL_CHARS:
        return f"link of {len(item.url)} characters (limit {URL_CHARS})"
    if len(item.language) > LANGUAGE_CHARS:
        return f"language tag of {len(item.language)} characters"
    key = item.entry_key
    if len(key) > KEY_CHARS:
        key = "key-sha1:" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()
    image = item.image_url if item.image_url and len(item.image_url) <= IMAGE_CHARS else None
    categories = tuple(c for c in item.categories if len(c) <= CATEGORY_CHARS)
    fitted = replace(
        item, entry_key=key, title=item.title[:TITLE_CHARS], summary=item.summary[:SUMMARY_CHARS],
        image_url=image, categories=categories,
    )  # fmt: skip
    return fitted


@wraps_errors
class ArticleStore:
    """Facade over the articles and article_categories tables.

    Rows read while an equal row of the same article is still alive come back as that same
    object: a digest tick ranks the same few thousand recent stories for every distinct
    selection and holds the rankings to the end, and without sharing it held a copy of each
    story per selection (5,000 readers due: 800 MiB more RSS; ``python -m bench.memory``).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._shared: WeakValueDictionary[int, ArticleRow] = WeakValueDictionary()

    def upsert(self, source_id: str, items: Sequence[ArticleInput], now: datetime) -> UpsertResult:
        """Store a feed's entries: fitted to the schema, in one transaction; if the database
        refuses that batch for one entry's data, one transaction per entry (see the module
        docstring). Connection or lock errors are raised: the caller fails the feed."""
        fitted: list[ArticleInput] = []
        errors: list[str] = []
        for item in items:
            result = fit(item)
            if isinstance(result, str):
                errors.append(result)
            else:
                fitted.append(result)
        try:
            stored = self._upsert_batch(source_id, fitted, now)
        except _ENTRY_ERRORS as e:
            if len(fitted) < 2:
                stored = UpsertResult((), 0, 0)
                errors += [_reason(e)] * len(fitted)
            else:
                log.info("articles of %s: batch refused (%s); storing one by one", source_id,
                         _reason(e))  # fmt: skip
                stored = self._upsert_each(source_id, fitted, now, errors)
        return replace(
            stored, skipped=len(errors), errors=tuple(dict.fromkeys(errors))[:ERRORS_KEPT]
        )

    def _upsert_each(
        self, source_id: str, items: Sequence[ArticleInput], now: datetime, errors: list[str]
    ) -> UpsertResult:
        """One transaction per entry; the failing ones add their reason to ``errors``."""
        new: list[ArticleRow] = []
        updated = unchanged = 0
        for item in items:
            try:
                one = self._upsert_batch(source_id, [item], now)
            except _ENTRY_ERRORS as e:
                errors.append(_reason(e))
                continue
            new += one.new
            updated += one.updated
            unchanged += one.unchanged
        return UpsertResult(tuple(new), updated, unchanged)

    def _upsert_batch(
        self, source_id: str, items: Sequence[ArticleInput], now: datetime
    ) -> UpsertResult:
        """Insert new entries, update changed ones, add categories; one transaction.

        Statements are batched: one look-up of the known entries and one of their categories,
        one multi-row INSERT ... RETURNING for the new articles, one for all new category rows,
        so a feed's 30-50 entries cost a handful of statements rather than two or three each.
        The new rows are returned as stored, without reading them back.
        """
        unique = {item.entry_key: item for item in items}
        updated = unchanged = 0
        with session_scope(self._engine) as session:
            existing = _existing(session, source_id, list(unique))
            known = _categories(session, [a.id for a in existing.values() if a.id is not None])
            fresh = [item for key, item in unique.items() if key not in existing]
            new_ids = _insert(session, source_id, fresh, now)
            category_rows = [
                {"article_id": article_id, "category": category}
                for article_id, item in zip(new_ids, fresh, strict=True)
                for category in dict.fromkeys(item.categories)
            ]
            reworded = {
                key
                for key, article in existing.items()
                if (article.title, article.summary) != (unique[key].title, unique[key].summary)
            }
            for key, article in existing.items():
                assert article.id is not None
                changed = _apply_changes(article, unique[key], now)
                have = set(known.get(article.id, ()))
                missing = [c for c in dict.fromkeys(unique[key].categories) if c not in have]
                category_rows += [{"article_id": article.id, "category": c} for c in missing]
                if changed or missing:
                    session.add(article)
                    updated += 1
                else:
                    unchanged += 1
            if category_rows:
                session.execute(insert(_CATEGORIES), category_rows)
            # The search index, in the same transaction: new articles and edited wording.
            indexed = [
                (i, item.title, item.summary) for i, item in zip(new_ids, fresh, strict=True)
            ]
            indexed += [
                (article.id, article.title, article.summary)
                for key, article in existing.items()
                if article.id is not None and key in reworded
            ]
            search_index.write(session, indexed)
        return UpsertResult(
            new=tuple(
                _new_row(article_id, source_id, item, now)
                for article_id, item in zip(new_ids, fresh, strict=True)
            ),
            updated=updated,
            unchanged=unchanged,
        )

    def get(self, article_id: int) -> ArticleRow | None:
        return self.get_many([article_id]).get(article_id)

    def get_many(self, ids: Iterable[int]) -> dict[int, ArticleRow]:
        wanted = list(dict.fromkeys(ids))
        found: dict[int, ArticleRow] = {}
        with Session(self._engine) as session:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = session.exec(select(Article).where(col(Article.id).in_(chunk))).all()
                found.update(_rows(self._shared, session, rows))
        return found

    def recent(
        self, languages: Collection[str], since: datetime, limit: int = 5000
    ) -> list[ArticleRow]:
        """Newest first, any source: candidates for clustering."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(Article)
                .where(col(Article.language).in_(list(languages)), Article.published_at >= since)
                .order_by(col(Article.published_at).desc(), col(Article.id).desc())
                .limit(limit)
            ).all()
            return list(_rows(self._shared, session, rows).values())

    def latest(
        self,
        source_ids: Collection[str],
        languages: Collection[str],
        since: datetime,
        category: str | None = None,
        limit: int = 300,
    ) -> list[ArticleRow]:
        """Newest first from these sources in these languages (optionally one category)."""
        query = select(Article).where(
            col(Article.source_id).in_(list(source_ids)),
            col(Article.language).in_(list(languages)),
            Article.published_at >= since,
        )
        if category is not None:
            query = query.where(
                col(Article.id).in_(
                    select(ArticleCategory.article_id).where(ArticleCategory.category == category)
                )
            )
        query = query.order_by(col(Article.published_at).desc(), col(Article.id).desc())
        with Session(self._engine) as session:
            rows = session.exec(query.limit(limit)).all()
            return list(_rows(self._shared, session, rows).values())

    def window(
        self, since: datetime, *, texts: bool = True
    ) -> tuple[list[ArticleRow], dict[int, tuple[str, ...]]]:
        """Every article published since ``since`` (newest first) and each of their clusters'
        sources, in three Core queries: what the digest tick ranks for all its readers at once,
        instead of one query per distinct selection.

        ``texts=False`` leaves url, title and summary empty (and no image): the tick ranks on
        the rest and reads the texts of the few stories its digests show (:meth:`texts_of`),
        rather than holding every article's text (most of a tick's memory)."""
        t, c = _ARTICLES.c, _CATEGORIES.c
        recent = (t.published_at >= since,)
        blank = (literal(""), literal(""), literal(""), null())
        text_columns = (t.url, t.title, t.summary, t.image_url) if texts else blank
        with self._engine.connect() as conn:
            rows = conn.execute(
                core_select(t.id, t.source_id, *text_columns, t.language, t.published_at,
                            t.first_seen_at, t.cluster_id)
                .where(*recent)
                .order_by(t.published_at.desc(), t.id.desc())
            ).all()  # fmt: skip
            categories: dict[int, list[str]] = {}
            for article_id, category in conn.execute(
                core_select(c.article_id, c.category)
                .join(_ARTICLES, t.id == c.article_id)
                .where(*recent)
                .order_by(c.category)
            ).all():
                categories.setdefault(article_id, []).append(category)
            clusters: dict[int, list[str]] = {}
            in_window = core_select(t.cluster_id).where(*recent, t.cluster_id.is_not(None))
            for cluster_id, source_id in conn.execute(
                core_select(t.cluster_id, t.source_id)
                .where(t.cluster_id.in_(in_window))
                .distinct()
                .order_by(t.cluster_id, t.source_id)
            ).all():
                clusters.setdefault(cluster_id, []).append(source_id)
        articles = [
            ArticleRow(
                id=r[0], source_id=r[1], url=r[2], title=r[3], summary=r[4], image_url=r[5],
                language=r[6], published_at=_aware(r[7]), first_seen_at=_aware(r[8]),
                cluster_id=r[9], categories=tuple(categories.get(r[0], ())),
            )
            for r in rows
        ]  # fmt: skip
        return articles, {k: tuple(v) for k, v in clusters.items()}

    def ranking_window(self, since: datetime) -> tuple[ArticleColumns, dict[int, tuple[str, ...]]]:
        """:meth:`window` as the tick ranks it: the columns ranking needs (no texts, no
        first-seen time), streamed from the driver's cursor into :class:`ArticleColumns`,
        and each cluster's sources. Two statements."""
        out = ArticleColumns()
        strings: dict[str, str] = {}  # one object per distinct source or language
        tuples: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}
        outside: list[tuple[int, str]] = []
        with self._engine.connect() as conn:
            dialect = conn.dialect
            process = _ARTICLES.c.published_at.type.bind_processor(dialect)
            bound = process(since) if process is not None else since
            sql = _QMARK if dialect.paramstyle == "qmark" else _PYFORMAT
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql["window"], (bound,))
                _fill(out, _streamed(cursor), strings, tuples)
                cursor.execute(sql["clusters"], (bound, bound))
                outside = list(_streamed(cursor))
            finally:
                cursor.close()
        out = _newest_first(out)
        clusters: dict[int, set[str]] = {}
        for cluster_id, source_id in zip(out.clusters, out.sources, strict=True):
            if cluster_id:
                clusters.setdefault(cluster_id, set()).add(source_id)
        for cluster_id, source_id in outside:
            clusters.setdefault(cluster_id, set()).add(strings.setdefault(source_id, source_id))
        return out, {k: tuple(sorted(v)) for k, v in clusters.items()}

    def texts_of(self, ids: Collection[int]) -> dict[int, tuple[str, str, str, str | None]]:
        """(url, title, summary, image_url) of these articles, in one Core query."""
        if not ids:
            return {}
        t = _ARTICLES.c
        with self._engine.connect() as conn:
            query = core_select(t.id, t.url, t.title, t.summary, t.image_url).where(
                in_ids(conn, t.id)
            )
            rows = conn.execute(query, {"ids": ids_value(conn, list(ids))}).all()
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def cluster_sources(self, cluster_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        """The distinct sources of each cluster, for "also covered by …" and ranking."""
        result: dict[int, list[str]] = {}
        wanted = list(cluster_ids)
        with Session(self._engine) as session:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                pairs = session.exec(
                    select(Article.cluster_id, Article.source_id)
                    .where(col(Article.cluster_id).in_(chunk))
                    .distinct()
                    .order_by(col(Article.cluster_id), col(Article.source_id))
                ).all()
                for cluster_id, source_id in pairs:
                    if cluster_id is not None:
                        result.setdefault(cluster_id, []).append(source_id)
        return {k: tuple(v) for k, v in result.items()}

    def set_clusters(self, assignments: Mapping[int, int]) -> None:
        """Article id -> cluster id, in one executemany UPDATE by primary key."""
        if not assignments:
            return
        rows = [{"b_id": article_id, "b_cluster": cid} for article_id, cid in assignments.items()]
        statement = (
            update(_ARTICLES)
            .where(_ARTICLES.c.id == bindparam("b_id"))
            .values(cluster_id=bindparam("b_cluster"))
        )
        with session_scope(self._engine) as session:
            session.execute(statement, rows)

    def prune(self, before: datetime) -> int:
        """Delete articles published before ``before`` (their categories cascade)."""
        with session_scope(self._engine) as session:
            old = select(Article.id).where(Article.published_at < before)
            session.execute(delete(ArticleCategory).where(col(ArticleCategory.article_id).in_(old)))
            result = session.execute(delete(Article).where(col(Article.published_at) < before))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def count(self) -> int:
        """How many articles are stored (API, for operators and the ingest tests)."""
        with Session(self._engine) as session:
            return int(session.exec(select(func.count()).select_from(Article)).one())

    def story_with_cluster(self, article_id: int, since: datetime) -> list[ArticleRow]:
        """The article (whatever its age) and the others of its cluster published since
        ``since``, newest first; empty if the article is unknown. One round trip where
        "Related" would otherwise need two (the article, then its cluster).

        The caller filters languages: given a language condition, SQLite (without ANALYZE
        statistics) would pick the (language, published) index and scan the whole window,
        where the cluster index finds the few rows of one story directly.
        """
        cluster = select(Article.cluster_id).where(Article.id == article_id).scalar_subquery()
        query = (
            select(Article)
            .where(
                (col(Article.id) == article_id)
                | ((col(Article.cluster_id) == cluster) & (col(Article.published_at) >= since))
            )
            .order_by(col(Article.published_at).desc(), col(Article.id).desc())
        )
        with Session(self._engine) as session:
            return list(_rows(self._shared, session, session.exec(query).all()).values())

    def since(
        self,
        published_since: datetime,
        *,
        after_id: int = 0,
        edited_since: datetime | None = None,
        limit: int = 2000,
    ) -> list[ArticleRow]:
        """Articles published since ``published_since`` with an id above ``after_id``, in id
        order: pages for an in-memory index to load, and then only what is new (the primary
        key finds it, whatever the table's size). With ``edited_since``, only the articles
        edited (stored, then changed) at or after it; that condition is a table scan.
        """
        query = select(Article).where(
            Article.published_at >= published_since, col(Article.id) > after_id
        )
        if edited_since is not None:
            query = query.where(
                Article.updated_at >= edited_since,
                col(Article.updated_at) > col(Article.first_seen_at),
            )
        with Session(self._engine) as session:
            rows = session.exec(query.order_by(col(Article.id)).limit(limit)).all()
            return list(_rows(self._shared, session, rows).values())

    def texts_since(
        self,
        published_since: datetime,
        *,
        after_id: int = 0,
        edited_since: datetime | None = None,
        limit: int = 2000,
    ) -> list[ArticleText]:
        """As :meth:`since`, but only what a text index needs, read with one Core statement
        (no ORM objects, no categories query): the Related index loads its whole window
        through this."""
        a = _ARTICLES.c
        query = core_select(a.id, a.language, a.title, a.summary, a.published_at).where(
            a.published_at >= published_since, a.id > after_id
        )
        if edited_since is not None:
            query = query.where(a.updated_at >= edited_since, a.updated_at > a.first_seen_at)
        with self._engine.connect() as conn:
            result = conn.execute(query.order_by(a.id).limit(limit))
            return [ArticleText(*row) for row in result]


def _reason(error: Exception) -> str:
    """A short, one-line reason: the driver's first line, without the SQL or parameters."""
    inner = getattr(error, "orig", None) or error
    first = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {first}"[:200]


def _existing(session: Session, source_id: str, keys: list[str]) -> dict[str, Article]:
    found: dict[str, Article] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = session.exec(
            select(Article).where(Article.source_id == source_id, col(Article.entry_key).in_(chunk))
        ).all()
        found.update({row.entry_key: row for row in rows})
    return found


def _apply_changes(article: Article, item: ArticleInput, now: datetime) -> bool:
    """Publishers fix titles and summaries after the fact: keep the newest wording."""
    fields = {
        "url": item.url,
        "title": item.title,
        "summary": item.summary,
        "image_url": item.image_url,
    }
    changed = False
    for name, value in fields.items():
        if getattr(article, name) != value:
            setattr(article, name, value)
            changed = True
    if changed:
        article.updated_at = now
    return changed


def _insert(
    session: Session, source_id: str, items: Sequence[ArticleInput], now: datetime
) -> list[int]:
    """Insert new articles in multi-row statements; their ids, in the order of ``items``."""
    if not items:
        return []
    rows = [
        {
            "source_id": source_id,
            "entry_key": item.entry_key,
            "url": item.url,
            "title": item.title,
            "summary": item.summary,
            "image_url": item.image_url,
            "language": item.language,
            "published_at": item.published_at,
            "first_seen_at": now,
            "updated_at": now,
        }
        for item in items
    ]
    # Core, not the ORM: the ORM splits the rows into a batch per run of equal None-ness.
    # RETURNING the key too: SQLite batches rows only when their order need not be kept.
    statement = insert(_ARTICLES).returning(_ARTICLES.c.entry_key, _ARTICLES.c.id)
    ids = {key: int(article_id) for key, article_id in session.execute(statement, rows)}
    return [ids[item.entry_key] for item in items]


def _new_row(article_id: int, source_id: str, item: ArticleInput, now: datetime) -> ArticleRow:
    """The row just inserted, as :meth:`ArticleStore.get` would read it back (times in UTC)."""
    return ArticleRow(
        id=article_id,
        source_id=source_id,
        url=item.url,
        title=item.title,
        summary=item.summary,
        image_url=item.image_url,
        language=item.language,
        published_at=item.published_at.astimezone(UTC),
        first_seen_at=now.astimezone(UTC),
        cluster_id=None,
        categories=tuple(sorted(set(item.categories))),
    )


def _streamed(cursor: Any, batch: int = 2000) -> Iterator[Any]:
    """The cursor's rows a batch at a time (never the whole result as Python objects)."""
    while rows := cursor.fetchmany(batch):
        yield from rows


def _fill(
    out: ArticleColumns,
    cursor: Iterable[tuple[int, str, str, datetime | str, int | None, str | None]],
    strings: dict[str, str],
    tuples: dict[tuple[str, ...], tuple[str, ...]],
) -> None:
    """Append the window's rows (one per article and category, an article's adjacent) to
    ``out``. SQLite hands datetimes back as SQLAlchemy's text (naive UTC), PostgreSQL as
    aware datetimes."""
    ids, sources, languages = out.ids, out.sources, out.languages
    published, clusters, categories = out.published, out.clusters, out.categories
    last = None
    pending: list[str] = []
    parse = datetime.fromisoformat
    for article_id, source_id, language, at, cluster_id, category in cursor:
        if article_id != last:
            if last is not None:
                key = tuple(sorted(pending))
                categories.append(tuples.setdefault(key, key))
                pending = []
            last = article_id
            ids.append(article_id)
            sources.append(strings.setdefault(source_id, source_id))
            languages.append(strings.setdefault(language, language))
            published.append(micros(parse(at) if isinstance(at, str) else at))
            clusters.append(cluster_id or 0)
        if category is not None:
            pending.append(strings.setdefault(category, category))
    if last is not None:
        key = tuple(sorted(pending))
        categories.append(tuples.setdefault(key, key))


def _newest_first(out: ArticleColumns) -> ArticleColumns:
    """The columns in the window's order: newest first, then the higher id (they come in id
    order; the sort is stable, so equal times keep the reversed id order)."""
    published = out.published
    order = sorted(range(len(published) - 1, -1, -1), key=published.__getitem__, reverse=True)
    ids, sources, languages, clusters = out.ids, out.sources, out.languages, out.clusters
    categories = out.categories
    return ArticleColumns(
        array("q", [ids[i] for i in order]),
        [sources[i] for i in order],
        [languages[i] for i in order],
        array("q", [published[i] for i in order]),
        array("q", [clusters[i] for i in order]),
        [categories[i] for i in order],
    )


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC by construction."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _categories(session: Session, ids: list[int]) -> dict[int, tuple[str, ...]]:
    result: dict[int, list[str]] = {}
    for start in range(0, len(ids), _CHUNK):
        pairs = session.exec(
            select(ArticleCategory.article_id, ArticleCategory.category)
            .where(col(ArticleCategory.article_id).in_(ids[start : start + _CHUNK]))
            .order_by(col(ArticleCategory.category))
        ).all()
        for article_id, category in pairs:
            result.setdefault(article_id, []).append(category)
    return {k: tuple(v) for k, v in result.items()}


def _rows(
    shared: WeakValueDictionary[int, ArticleRow], session: Session, articles: Sequence[Article]
) -> dict[int, ArticleRow]:
    """Plain rows in the given order, with their categories (one extra query); a row equal
    to one in ``shared`` is that one (see :class:`ArticleStore`)."""
    ids = [a.id for a in articles if a.id is not None]
    categories = _categories(session, ids)
    return {
        a.id: _share(shared, ArticleRow(
            id=a.id,
            source_id=a.source_id,
            url=a.url,
            title=a.title,
            summary=a.summary,
            image_url=a.image_url,
            language=a.language,
            published_at=a.published_at,
            first_seen_at=a.first_seen_at,
            cluster_id=a.cluster_id,
            categories=categories.get(a.id, ()),
        ))
        for a in articles
        if a.id is not None
    }  # fmt: skip


def _share(shared: WeakValueDictionary[int, ArticleRow], row: ArticleRow) -> ArticleRow:
    """``row``, or the equal row of the same article already handed out and still alive."""
    known = shared.get(row.id)
    if known is not None and known == row:
        return known
    shared[row.id] = row
    return row
