"""The tick's in-memory ranking gives, story for story, what ``rank_for`` gives over the same
candidates, however the selection, the clusters and the categories fall (random cases)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest.reader_selection import CandidateIndex, Selection, rank_for
from storage.articles import ArticleRow

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
    return articles, {k: tuple(sorted(v)) for k, v in coverage.items()}


@pytest.mark.parametrize("seed", range(60))
def test_lazy_ranking_matches_rank_for(seed: int) -> None:
    rng = random.Random(seed)
    articles, coverage = world(rng)
    index = CandidateIndex(articles, coverage, NOW)
    for _ in range(5):
        sources = frozenset(rng.sample(SOURCES, rng.randint(1, 4)))
        primaries = frozenset(rng.sample(sorted(sources), min(len(sources), rng.randint(0, 2))))
        languages = frozenset(rng.choice((("en",), ("fr",), ("en", "fr"))))
        selection = Selection(sources, languages, primaries)
        category = rng.choice((None, *CATEGORIES))
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
        assert [(s.article.id, s.also_covered_by) for s in got[:-1] if s] == [
            (s.article.id, s.also_covered_by) for s in expected
        ]
        received = {s.article.cluster_id or s.article.id for s in expected[:2]}
        fresh = index.ranked(selection, category).fresh(received, 3)
        assert [s.article.id for s in fresh] == [
            s.article.id for s in expected
            if (s.article.cluster_id if s.article.cluster_id is not None else s.article.id)
            not in received
        ][:3]  # fmt: skip
