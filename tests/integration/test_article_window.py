"""The tick's article window without texts, and the texts of the stories it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from storage.articles import EPOCH, ArticleColumns, ArticleInput, ArticleStore, micros

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def entry(key: str, minutes: int, image: str | None = None) -> ArticleInput:
    return ArticleInput(
        key, f"https://news.example/{key}", f"Title {key}", f"Summary of {key}.", image,
        NOW - timedelta(minutes=minutes), "en", ("business", "national"),
    )  # fmt: skip


def test_window_without_texts_is_the_window_less_its_texts(engine: Engine) -> None:
    store = ArticleStore(engine)
    items = [entry("a", 5, "https://img.example/a.jpg"), entry("b", 50), entry("old", 9000)]
    store.upsert("cbc", items, NOW)
    full, clusters = store.window(NOW - timedelta(days=3))
    bare, bare_clusters = store.window(NOW - timedelta(days=3), texts=False)
    assert [a.title for a in full] == ["Title a", "Title b"]  # newest first, "old" left out
    assert bare_clusters == clusters
    assert [(a.url, a.title, a.summary, a.image_url) for a in bare] == [("", "", "", None)] * 2
    texts = store.texts_of([a.id for a in bare])
    rebuilt = [
        replace(a, url=t[0], title=t[1], summary=t[2], image_url=t[3])
        for a in bare
        for t in [texts[a.id]]
    ]
    assert rebuilt == full
    assert store.texts_of([]) == {}


def test_ranking_window_is_the_window_as_columns(engine: Engine) -> None:
    """The tick's columns hold, article for article and in the same order, what the window's
    rows hold that ranking reads; ties in time (newest first, then higher id), an article in
    no category, categories in order, and a cluster's source outside the window all kept."""
    store = ArticleStore(engine)
    same = replace(entry("tie-a", 30), categories=("sports", "business"))
    store.upsert("cbc", [same, replace(same, entry_key="tie-b"), entry("old", 9000)], NOW)
    store.upsert("ctv", [replace(entry("bare", 5), categories=()), entry("x", 700)], NOW)
    since = NOW - timedelta(days=3)
    rows, clusters = store.window(since, texts=False)
    by_key = {a.url.rsplit("/", 1)[-1]: a.id for a in store.window(since)[0]}
    old = next(a.id for a in store.recent(["en"], NOW - timedelta(days=30)) if a.id not in
               by_key.values())  # fmt: skip
    store.set_clusters({by_key["tie-a"]: by_key["tie-a"], by_key["x"]: by_key["tie-a"],
                        old: by_key["tie-a"]})  # fmt: skip
    rows, clusters = store.window(since, texts=False)
    columns, column_clusters = store.ranking_window(since)
    assert column_clusters == clusters == {by_key["tie-a"]: ("cbc", "ctv")}
    assert len(columns) == len(rows) == 4
    assert list(columns.ids) == [a.id for a in rows]
    assert columns.sources == [a.source_id for a in rows]
    assert columns.languages == [a.language for a in rows]
    assert [EPOCH + timedelta(microseconds=p) for p in columns.published] == [
        a.published_at for a in rows
    ]
    assert list(columns.published) == [micros(a.published_at) for a in rows]
    assert list(columns.clusters) == [a.cluster_id or 0 for a in rows]
    assert columns.categories == [a.categories for a in rows]
    assert ("business", "sports") in columns.categories and () in columns.categories
    assert ArticleColumns.of(rows) == columns
