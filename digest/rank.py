"""Which stories to show first: a pure function of the candidates, the reader and ``now``.

Recency leads (news is perishable), a story from the reader's primary source gets a lift, and so
does a story that several sources cover (coverage is a cheap, robust signal of importance). One
story per cluster: the reader sees "also covered by CTV, Global News" instead of three copies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.articles import ArticleRow

RECENCY_HALF_LIFE_HOURS = 6.0
PRIMARY_BONUS = 0.35
COVERAGE_BONUS_PER_SOURCE = 0.15
MAX_COVERAGE_BONUS = 0.45


@dataclass(frozen=True, slots=True)
class RankedStory:
    """A story to show, with the other sources that covered it."""

    article: ArticleRow
    also_covered_by: tuple[str, ...]
    score: float


def recency(age_seconds: float) -> float:
    """A story's recency term, 1 when new, halving every ``RECENCY_HALF_LIFE_HOURS``. One
    function, so that the tick's index (which has ages in microseconds, not datetimes)
    computes the very same float."""
    hours = max(0.0, age_seconds / 3600)
    return float(0.5 ** (hours / RECENCY_HALF_LIFE_HOURS))


def story_score(
    article: ArticleRow, sources_in_cluster: int, is_primary: bool, now: datetime
) -> float:
    fresh = recency((now - article.published_at).total_seconds())
    coverage = min(MAX_COVERAGE_BONUS, COVERAGE_BONUS_PER_SOURCE * max(0, sources_in_cluster - 1))
    return fresh + coverage + (PRIMARY_BONUS if is_primary else 0.0)


def rank_stories(
    candidates: Sequence[ArticleRow],
    cluster_sources: Mapping[int, tuple[str, ...]],
    primary_sources: Collection[str],
    now: datetime,
    exclude_ids: Collection[int] = (),
) -> list[RankedStory]:
    """Best first, one per cluster; the representative is the reader's primary source's copy
    if there is one, else the newest."""
    best_per_cluster: dict[int, ArticleRow] = {}
    for article in candidates:
        if article.id in exclude_ids:
            continue
        key = article.cluster_id if article.cluster_id is not None else -article.id
        current = best_per_cluster.get(key)
        if current is None or _better_representative(article, current, primary_sources):
            best_per_cluster[key] = article
    ranked = []
    for key, article in best_per_cluster.items():
        sources = cluster_sources.get(key, (article.source_id,)) if key >= 0 else ()
        others = tuple(s for s in sources if s != article.source_id)
        score = story_score(article, len(others) + 1, article.source_id in primary_sources, now)
        ranked.append(RankedStory(article, others, score))
    ranked.sort(key=lambda r: (-r.score, -r.article.published_at.timestamp(), r.article.id))
    return ranked


def _better_representative(
    candidate: ArticleRow, current: ArticleRow, primary_sources: Collection[str]
) -> bool:
    candidate_primary = candidate.source_id in primary_sources
    current_primary = current.source_id in primary_sources
    if candidate_primary != current_primary:
        return candidate_primary
    return candidate.published_at > current.published_at
