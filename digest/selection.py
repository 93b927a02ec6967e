"""Top stories for a reader's selection: the I/O shell around ``digest.reader_selection``.

Reads the recent candidates and their clusters' sources from the store, then leaves every
decision (which sources count, how stories rank) to the pure :func:`rank_for`.
:class:`Selection` and :func:`selection_for` are re-exported here, where callers import them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from digest.rank import RankedStory
from digest.reader_selection import Selection, rank_for, selection_for
from storage.articles import ArticleStore

__all__ = ["CANDIDATES", "HEADLINE_WINDOW", "Selection", "selection_for", "top_stories"]

HEADLINE_WINDOW = timedelta(days=3)
CANDIDATES = 300


def top_stories(
    articles: ArticleStore, selection: Selection, category: str | None, now: datetime
) -> list[RankedStory]:
    """Ranked stories for a selection; ``category`` None means all categories."""
    if selection.empty:
        return []
    candidates = articles.latest(
        selection.source_ids, selection.languages, now - HEADLINE_WINDOW, category, CANDIDATES
    )
    clusters = {a.cluster_id for a in candidates if a.cluster_id is not None}
    return rank_for(selection, candidates, articles.cluster_sources(clusters), now)
