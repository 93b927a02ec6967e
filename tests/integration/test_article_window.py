"""The tick's article window without texts, and the texts of the stories it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from storage.articles import ArticleInput, ArticleStore

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
