"""Full-text search on both backends: scripts, phrases, scope, ranking, pruning, hostile input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from storage.articles import ArticleInput, ArticleStore
from storage.db import alembic_config, make_engine, migrate
from storage.saved_searches import SavedSearchStore
from storage.search import ArticleSearch, SearchScope
from storage.search_text import parse_query, tokens

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WINDOW = SearchScope(since=NOW - timedelta(days=14))


def item(key: str, title: str, summary: str = "", language: str = "en", hours: float = 1):
    return ArticleInput(
        entry_key=key, url=f"https://example.com/{key}", title=title, summary=summary,
        image_url=None, published_at=NOW - timedelta(hours=hours), language=language,
        categories=("national",),
    )  # fmt: skip


@pytest.fixture
def stores(engine: Engine) -> tuple[ArticleStore, ArticleSearch]:
    articles = ArticleStore(engine)
    articles.upsert("bbc", [
        item("e1", "Parliament passes the climate bill", "Lawmakers voted late on Tuesday."),
        item("e2", "Bill Gates visits Delhi", "A climate summit follows.", hours=3),
    ], NOW)  # fmt: skip
    articles.upsert("spiegel", [
        item("d1", "Große Straßenproteste in MÜNCHEN", "Tausende gingen auf die Straße.", "de"),
    ], NOW)  # fmt: skip
    articles.upsert("bhaskar", [
        item("h1", "भारत की अर्थव्यवस्था तेज़ी से बढ़ी", "रिज़र्व बैंक ने दरें स्थिर रखीं", "hi"),
    ], NOW)  # fmt: skip
    articles.upsert("aljazeera", [
        item("a1", "الاقتصادُ القطريّ ينمو بسرعة", "توقعات إيجابية للعام المقبل", "ar"),
    ], NOW)  # fmt: skip
    articles.upsert("xinhua", [
        item("z1", "中国经济增长超过预期", "国家统计局发布最新数据", "zh"),
    ], NOW)  # fmt: skip
    return articles, ArticleSearch(engine)


def titles(search: ArticleSearch, query: str, scope: SearchScope = WINDOW) -> list[str]:
    return [a.title for a in search.search(query, scope, limit=20).articles]


def test_english_words_and_phrases(stores: tuple[ArticleStore, ArticleSearch]) -> None:
    _articles, search = stores
    assert titles(search, "climate") == [
        "Parliament passes the climate bill", "Bill Gates visits Delhi",
    ]  # fmt: skip
    assert titles(search, "CLIMATE bill") == titles(search, "climate")
    assert titles(search, '"climate bill"') == ["Parliament passes the climate bill"]
    assert titles(search, "climate volcano") == []


def test_german_is_case_and_accent_insensitive(stores: tuple[ArticleStore, ArticleSearch]) -> None:
    _articles, search = stores
    wanted = ["Große Straßenproteste in MÜNCHEN"]
    assert titles(search, "münchen") == wanted
    assert titles(search, "Munchen") == wanted
    assert titles(search, "GROSSE strasse") == wanted


def test_hindi_arabic_chinese(stores: tuple[ArticleStore, ArticleSearch]) -> None:
    _articles, search = stores
    assert titles(search, "अर्थव्यवस्था") == ["भारत की अर्थव्यवस्था तेज़ी से बढ़ी"]
    assert titles(search, "रिज़र्व बैंक") == ["भारत की अर्थव्यवस्था तेज़ी से बढ़ी"]
    assert titles(search, "القطري") == ["الاقتصادُ القطريّ ينمو بسرعة"]  # harakat ignored
    assert titles(search, "经济") == ["中国经济增长超过预期"]
    assert titles(search, "经济增长") == ["中国经济增长超过预期"]
    assert titles(search, "统计") == ["中国经济增长超过预期"]  # in the summary
    assert titles(search, "经") == ["中国经济增长超过预期"]  # one character: a bigram prefix
    assert titles(search, "增经") == []  # the characters, but not in this order


def test_scope_languages_window_and_own_sources_first(
    stores: tuple[ArticleStore, ArticleSearch],
) -> None:
    articles, search = stores
    articles.upsert("old", [item("o1", "Climate report", hours=24 * 20)], NOW)
    articles.upsert("cnn", [item("c1", "Climate march", hours=0.5)], NOW)
    assert titles(search, "climate")[0] == "Climate march"  # newest first
    assert "Climate report" not in titles(search, "climate")  # older than the window
    own = SearchScope(since=WINDOW.since, own_sources=("bbc",))
    assert titles(search, "climate", own)[:2] == [
        "Parliament passes the climate bill", "Bill Gates visits Delhi",
    ]  # fmt: skip
    assert titles(search, "climate", SearchScope(since=WINDOW.since, languages=("de",))) == []


def test_muted_sources_and_words_are_left_out(stores: tuple[ArticleStore, ArticleSearch]) -> None:
    _articles, search = stores
    muted = SearchScope(since=WINDOW.since, exclude_sources=("bbc",))
    assert titles(search, "climate", muted) == []
    words = SearchScope(since=WINDOW.since, exclude_words=("Gates", "nothing here"))
    assert titles(search, "climate", words) == ["Parliament passes the climate bill"]
    latest = search.latest(words, limit=20).articles
    assert "Bill Gates visits Delhi" not in [a.title for a in latest] and len(latest) == 5


def test_paging(stores: tuple[ArticleStore, ArticleSearch]) -> None:
    articles, search = stores
    articles.upsert("cnn", [item(f"p{i}", f"Election day {i}", hours=i) for i in range(7)], NOW)
    first = search.search("election", WINDOW, offset=0, limit=5)
    second = search.search("election", WINDOW, offset=5, limit=5)
    assert [a.title for a in first.articles] == [f"Election day {i}" for i in range(5)]
    assert first.has_more and not second.has_more and len(second.articles) == 2


def test_postgres_looks_a_common_words_matches_up_by_key(engine: Engine) -> None:
    """A word in a thousand stories must not make PostgreSQL read every article of the window
    (a hash join over a sequential scan: 50-90 ms at 50,000 articles); the plan of the
    statement the search runs looks each match up by the primary key."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the plan of PostgreSQL's statement")
    articles = ArticleStore(engine)
    for start in range(0, 1500, 500):
        articles.upsert("cnn", [
            item(f"c{i}", f"Election news {i}", hours=i / 200)
            for i in range(start, start + 500)
        ], NOW)  # fmt: skip
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    statements: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().startswith("SELECT articles.id"):
            statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        page = ArticleSearch(engine).search("election", WINDOW, limit=5)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    # The newest 1,000 matches by arrival (MATCH_CAP), then newest published first.
    assert [a.title for a in page.articles] == [f"Election news {i}" for i in range(500, 505)]
    assert page.has_more and len(statements) == 1
    statement, params = statements[0]
    with engine.connect() as connection:  # the same statement and parameters, explained
        rows = connection.exec_driver_sql("EXPLAIN " + statement, params)  # type: ignore[arg-type]
        plan = "\n".join(row[0] for row in rows)
    assert "Seq Scan on articles" not in plan and "Hash Join" not in plan, plan
    assert "articles_pkey" in plan, plan


@pytest.mark.parametrize(
    "hostile",
    ['"AND OR NEAR(', "*", '"', "NOT", "a OR b AND", "body:climate", "climate*", "'; DROP--",
     "^climate", "(((", "\\", "NEAR(climate bill, 2)", "x" * 10_000, "\x00climate", "' | !"],
)  # fmt: skip
def test_hostile_queries_never_fail(
    stores: tuple[ArticleStore, ArticleSearch], hostile: str
) -> None:
    _articles, search = stores
    page = search.search(hostile, WINDOW)
    assert isinstance(page.articles, tuple)
    muted = SearchScope(since=WINDOW.since, exclude_words=(hostile,))
    assert isinstance(search.search("climate", muted).articles, tuple)


def test_edits_reindex_and_pruning_removes(
    engine: Engine, stores: tuple[ArticleStore, ArticleSearch]
) -> None:
    articles, search = stores
    articles.upsert("bbc", [item("e1", "Parliament passes the energy bill")], NOW)
    assert titles(search, "energy") == ["Parliament passes the energy bill"]
    assert titles(search, '"climate bill"') == []
    assert articles.prune(NOW) == 6
    assert titles(search, "energy") == []
    with engine.connect() as connection:
        left = connection.execute(text("SELECT count(*) FROM article_search")).scalar_one()
    assert left == 0


def test_migration_backfills_existing_articles(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    articles = ArticleStore(engine)
    articles.upsert("bbc", [item("b1", "Backfilled volcano story")], NOW)
    # back to the schema before the index (later revisions undone too), then up again
    with engine.begin() as connection:
        config = alembic_config(db_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    migrate(engine)
    assert titles(ArticleSearch(engine), "volcano") == ["Backfilled volcano story"]
    engine.dispose()


def test_saved_searches_belong_to_their_reader(engine: Engine) -> None:
    saved = SavedSearchStore(engine)
    first = saved.save(1, "中国 经济", NOW)
    assert saved.get(first, 1) == "中国 经济"
    assert saved.get(first, 2) is None
    later = saved.save(1, "later", NOW + timedelta(days=2))
    assert saved.get(first, 1) is None  # expired and pruned
    assert saved.get(later, 1) == "later" and later != first


def test_tokens_and_query_parsing() -> None:
    assert tokens("Café NAÏVE straße") == ["cafe", "naive", "strasse"]
    assert tokens("中国经济") == ["中国", "国经", "经济"]
    assert [p.tokens for p in parse_query('climate "red  cross" e-mail')] == [
        ("climate",), ("red", "cross"), ("e", "mail"),
    ]  # fmt: skip
    assert parse_query("* ( ) - :") == ()
    assert len(parse_query(" ".join(f"w{i}" for i in range(50)))) == 8
