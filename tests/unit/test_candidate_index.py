"""The tick's in-memory ranking gives, story for story, what ``rank_for`` gives over the same
candidates, however the selection, the clusters and the categories fall (random cases), and
the cases that make its shortcuts wrong if they are (each one spelled out)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from digest.compose import story_key
from digest.phrases import phrase_key
from digest.rank import PRIMARY_BONUS, RankedStory
from digest.reader_selection import CandidateIndex, Selection, rank_for
from storage.articles import ArticleColumns, ArticleRow

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SOURCES = ("a", "b", "c", "d", "e", "f")
CATEGORIES = ("national", "sports", "business")


def world(rng: random.Random) -> tuple[list[ArticleRow], dict[int, tuple[str, ...]]]:
    articles: list[ArticleRow] = []
    for article_id in range(1, rng.randint(5, 120)):
        published = NOW - timedelta(minutes=rng.choice((rng.randint(0, 4000), 30, 60)))
        cluster = rng.choice((None, article_id, rng.randint(1, 15)))
        cats = tuple(sorted(set(rng.sample(CATEGORIES, rng.randint(1, 2)))))
        articles.append(ArticleRow(
            article_id, rng.choice(SOURCES), f"https://x.example/{article_id}", "t", "", None,
            rng.choice(("en", "en", "fr")), published, published, cluster, cats,
        ))  # fmt: skip
    coverage: dict[int, set[str]] = {}
    for a in articles:
        if a.cluster_id is not None:
            coverage.setdefault(a.cluster_id, set()).add(a.source_id)
    for told in coverage.values():  # sometimes also told by a source whose copy left the window
        if rng.random() < 0.2:
            told.add(rng.choice(SOURCES))
    return articles, {k: tuple(sorted(v)) for k, v in coverage.items()}


@pytest.mark.parametrize("seed", range(60))
def test_lazy_ranking_matches_rank_for(seed: int) -> None:
    rng = random.Random(seed)
    articles, coverage = world(rng)
    index = CandidateIndex(ArticleColumns.of(articles), coverage, NOW)
    for _ in range(5):
        sources = frozenset(rng.sample(SOURCES, rng.randint(1, 6)))
        primaries = frozenset(rng.sample(sorted(sources), min(len(sources), rng.randint(0, 2))))
        languages = frozenset(rng.choice((("en",), ("fr",), ("en", "fr"))))
        selection = Selection(sources, languages, primaries)
        category = rng.choice((None, *CATEGORIES, "special"))
        candidates = sorted(
            (a for a in articles
             if a.source_id in sources and a.language in languages
             and (category is None or category in a.categories)),
            key=lambda a: (a.published_at, a.id), reverse=True,
        )  # fmt: skip
        expected = rank_for(selection, candidates, coverage, NOW)
        stream = index.ranked(selection, category)
        got = [stream.get(i) for i in range(len(expected) + 1)]
        assert got[-1] is None
        assert [(s.article.id, s.also_covered_by, s.score) for s in got[:-1] if s] == [
            (s.article.id, s.also_covered_by, s.score) for s in expected
        ]
        received = {story_key(s) for s in expected[:2]}
        fresh = index.ranked(selection, category).fresh(received, 3)
        assert [s.article.id for s in fresh] == [
            s.article.id for s in expected
            if (s.article.cluster_id if s.article.cluster_id is not None else s.article.id)
            not in received
        ][:3]  # fmt: skip


def row(
    article_id: int,
    source: str,
    minutes: int,
    cluster: int | None = None,
    categories: tuple[str, ...] = ("national",),
    language: str = "en",
) -> ArticleRow:
    published = NOW - timedelta(minutes=minutes)
    return ArticleRow(
        article_id, source, "", f"title {article_id}", "", None, language, published,
        published, cluster, categories,
    )  # fmt: skip


def ranking(
    articles: list[ArticleRow],
    coverage: dict[int, tuple[str, ...]],
    selection: Selection,
    category: str | None = None,
) -> list[RankedStory]:
    """The index's whole ranking, checked against ``rank_for`` over the same candidates."""
    index = CandidateIndex(ArticleColumns.of(articles), coverage, NOW)
    stream = index.ranked(selection, category)
    got = []
    while (story := stream.get(len(got))) is not None:
        got.append(story)
    candidates = sorted(
        (a for a in articles if a.source_id in selection.source_ids
         and a.language in selection.languages
         and (category is None or category in a.categories)),
        key=lambda a: (a.published_at, a.id), reverse=True,
    )  # fmt: skip
    expected = rank_for(selection, candidates, coverage, NOW)
    assert [(s.article.id, s.also_covered_by, s.score) for s in got] == [
        (s.article.id, s.also_covered_by, s.score) for s in expected
    ]
    return got


def chose(
    *sources: str, primary: tuple[str, ...] = (), languages: tuple[str, ...] = ("en",)
) -> Selection:
    return Selection(frozenset(sources), frozenset(languages), frozenset(primary))


def test_a_primary_source_lifts_its_older_story_above_newer_ones() -> None:
    articles = [row(1, "a", 120), row(2, "b", 10), row(3, "b", 20)]
    got = ranking(articles, {}, chose("a", "b", primary=("a",)))
    assert [s.article.id for s in got] == [1, 2, 3]
    assert got[0].score > 1.0 > got[1].score  # recency below 1, plus PRIMARY_BONUS
    assert [s.article.id for s in ranking(articles, {}, chose("a", "b"))] == [2, 3, 1]


def test_coverage_counts_only_the_chosen_sources_inside_the_window_or_not() -> None:
    """Cluster 1 is told by a, b, c and d, where d's copy is outside the window (or another
    category): for a reader of a and d it has one more source, for a reader of a and e none."""
    articles = [row(1, "a", 100, cluster=1), row(2, "b", 90, cluster=1), row(3, "c", 80, cluster=1),
                row(4, "e", 30), row(5, "d", 40)]  # fmt: skip
    coverage = {1: ("a", "b", "c", "d")}
    lifted = ranking(articles, coverage, chose("a", "d"))
    assert [(s.article.id, s.also_covered_by) for s in lifted] == [(1, ("d",)), (5, ())]
    flat = ranking(articles, coverage, chose("a", "e"))
    assert [(s.article.id, s.also_covered_by) for s in flat] == [(4, ()), (1, ())]
    assert ranking(articles, coverage, chose("a", "b", "c"))[0].also_covered_by == ("a", "b")


def test_a_story_told_by_several_chosen_sources_comes_once_from_the_primary() -> None:
    """The representative is the primary source's copy even when another is newer; without
    a primary, the newest copy; a copy in another language or category does not count."""
    articles = [row(1, "a", 200, cluster=1), row(2, "b", 100, cluster=1),
                row(3, "c", 50, cluster=1, language="fr"), row(4, "d", 60, cluster=1,
                categories=("sports",)), row(5, "b", 150)]  # fmt: skip
    coverage = {1: ("a", "b", "c", "d")}
    got = ranking(articles, coverage, chose("a", "b", "c", "d", primary=("a",)), "national")
    assert [(s.article.id, s.also_covered_by) for s in got] == [(1, ("b", "c", "d")), (5, ())]
    newest = ranking(articles, coverage, chose("a", "b", "c", "d"), "national")
    assert [(s.article.id, s.also_covered_by) for s in newest] == [
        (2, ("a", "c", "d")),
        (5, ()),
    ]
    ranking(articles, coverage, chose("a", "b", "c", "d", languages=("en", "fr")), "sports")
    ranking(articles, coverage, chose("a", "b", "c", "d", languages=("en", "fr")))


def test_categories_and_all() -> None:
    articles = [row(1, "a", 10, categories=("sports",)), row(2, "a", 20, categories=("business",
                "sports")), row(3, "a", 30), row(4, "b", 5, categories=("sports",))]  # fmt: skip
    selection = chose("a")
    assert [s.article.id for s in ranking(articles, {}, selection, "sports")] == [1, 2]
    assert [s.article.id for s in ranking(articles, {}, selection, "business")] == [2]
    assert [s.article.id for s in ranking(articles, {}, selection, "special")] == []
    assert [s.article.id for s in ranking(articles, {}, selection)] == [1, 2, 3]


def test_equal_times_rank_by_id_as_rank_for_does() -> None:
    """Same minute, same score: the lower id first (``rank_for``'s sort), though the window
    lists the higher id first; in a cluster the representative is the higher id."""
    articles = [row(i, "a", 30) for i in (5, 3, 9)] + [row(7, "a", 30, 2), row(8, "a", 30, 2)]
    got = ranking(articles, {2: ("a",)}, chose("a"))
    assert [s.article.id for s in got] == [3, 5, 8, 9]


def test_fresh_skips_received_stories_and_muted_words() -> None:
    articles = [row(1, "a", 10, cluster=1), row(2, "b", 12, cluster=1), row(3, "a", 20),
                row(4, "a", 30), row(5, "a", 40), row(6, "a", 50)]  # fmt: skip
    texts = {i: (f"title {i}", "quiet") for i in range(1, 7)}
    texts[4] = ("Storm warning", "heavy rain")
    asked: list[list[int]] = []

    def read(ids: list[int]) -> dict[int, tuple[str, str]]:
        asked.append(ids)
        return {i: texts[i] for i in ids}

    index = CandidateIndex(ArticleColumns.of(articles), {1: ("a", "b")}, NOW, read)
    stream = index.ranked(chose("a", "b"), None)
    assert [s.article.id for s in stream.fresh(frozenset(), 3)] == [1, 3, 4]
    assert [s.article.id for s in stream.fresh(frozenset({1, 3}), 3)] == [4, 5, 6]
    muted = (phrase_key("Storm") or "",)
    assert [s.article.id for s in stream.fresh(frozenset({1}), 3, muted)] == [3, 5, 6]
    assert [s.article.id for s in stream.fresh(frozenset({1}), 9, muted)] == [3, 5, 6]
    assert sorted(i for ids in asked for i in ids) == [3, 4, 5, 6]  # each read once
    assert stream.fresh(frozenset({1}), 3, muted)[0].article.title == ""  # rows stay text-less
    assert stream.fresh(frozenset(), 1)[0].score == index.ranked(chose("a", "b"), None).get(0).score  # type: ignore[union-attr]
    assert PRIMARY_BONUS > 0


def test_many_stories_published_at_the_same_minute_rank_and_end() -> None:
    """Forty stories of one source at the same minute (a feed that stamps its whole batch
    alike), read by a primary-source reader and a reader of two sources: the first look-up
    found no story strictly above the list's 33rd value, and the next one, asked deeper,
    looped forever doubling a depth of 0."""
    articles = [row(i, "a", 30) for i in range(1, 41)] + [
        row(100 + i, "b", 5 * i) for i in range(8)
    ]
    result: list[list[RankedStory]] = []
    worker = threading.Thread(
        target=lambda: result.append(ranking(articles, {}, chose("a", "b", primary=("a",)))),
        daemon=True,
    )
    worker.start()
    worker.join(30)
    assert result, "the ranking did not end"
    assert len(result[0]) == 48
