"""What a reader reads, reduced to what queries need: sources, languages, primary sources. Pure.

Readers with the same selection get the same stories, which lets a digest be composed once per
distinct selection instead of once per reader. ``digest.selection`` is the I/O shell that reads
the candidates from the store and hands them to :func:`rank_for`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from digest.catalog import Catalog
from digest.rank import RankedStory, rank_stories
from storage.articles import ArticleRow
from storage.users import Reader


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


def rank_for(
    selection: Selection,
    candidates: Sequence[ArticleRow],
    coverage: Mapping[int, tuple[str, ...]],
    now: datetime,
) -> list[RankedStory]:
    """Rank ``candidates`` for ``selection``: a cluster's coverage counts only the sources the
    reader chose (a story covered by five sources the reader ignores is no bigger to them)."""
    restricted = {k: tuple(s for s in v if s in selection.source_ids) for k, v in coverage.items()}
    return rank_stories(candidates, restricted, selection.primary_sources, now)
