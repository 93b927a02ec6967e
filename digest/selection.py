"""What a reader reads, reduced to what queries need: sources, languages, primary sources.

Readers with the same selection get the same stories, which later lets a digest be composed once
per distinct selection instead of once per reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.catalog import Catalog
from digest.rank import RankedStory, rank_stories
from storage.articles import ArticleStore
from storage.users import Reader

HEADLINE_WINDOW = timedelta(days=3)
CANDIDATES = 300


@dataclass(frozen=True, slots=True)
class Selection:
    source_ids: frozenset[str]
    languages: frozenset[str]
    primary_sources: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.source_ids


def selection_for(reader: Reader, catalog: Catalog) -> Selection:
    """The reader's chosen sources that the catalog still offers, and their languages."""
    sources: set[str] = set()
    primaries: set[str] = set()
    languages: set[str] = set()
    for choice in reader.countries:
        for position, source_id in enumerate(choice.sources):
            source = catalog.source(source_id)
            if source is None or not source.offered:
                continue
            sources.add(source_id)
            languages.add(source.language)
            if position == 0:
                primaries.add(source_id)
        languages.update(choice.languages)
    return Selection(frozenset(sources), frozenset(languages), frozenset(primaries))


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
    coverage = articles.cluster_sources(clusters)
    restricted = {k: tuple(s for s in v if s in selection.source_ids) for k, v in coverage.items()}
    return rank_stories(candidates, restricted, selection.primary_sources, now)
