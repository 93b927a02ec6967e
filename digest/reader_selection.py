"""What a reader reads, reduced to what queries need: sources, languages, primary sources. Pure.

Readers with the same selection get the same stories, which lets a digest be composed once per
distinct selection instead of once per reader. ``digest.selection`` is the I/O shell that reads
the candidates from the store and hands them to :func:`rank_for`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from digest.catalog import Catalog
from digest.phrases import contains, text_key
from digest.rank import (
    COVERAGE_BONUS_PER_SOURCE,
    MAX_COVERAGE_BONUS,
    PRIMARY_BONUS,
    RankedStory,
    rank_stories,
    story_score,
)
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


def selection_key(reader: Reader) -> object:
    """What :func:`selection_for` reads of a reader, as a hashable key: readers with equal keys
    get the same selection, so the tick computes it once per key. Every reader field that
    ``selection_for`` comes to use (muted sources, words ...) must be added here too."""
    return reader.countries


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


class CandidateIndex:
    """Every recent article, indexed once per tick so that thousands of distinct selections are
    ranked in memory, lazily: a reader's digest needs its top few stories, not all of them.

    Why lazy is exact: a story's score is its representative's recency plus a primary bonus (at
    most :data:`PRIMARY_BONUS`) plus a coverage bonus that cannot exceed what its cluster's
    sources allow. Each (source, language, category) list is sorted once by recency plus that
    coverage bound; a selection merges its lists, each shifted by its source's primary bonus, so
    the merge yields articles in falling order of an upper bound of any score they could give.
    A story is scored exactly (all its cluster's candidates) when its first article comes out,
    and handed out only once its score beats the bound of everything not yet seen. The order is
    :func:`rank_for`'s over all candidates in the window (it has no 300-candidate cap).
    """

    def __init__(
        self,
        articles: Sequence[ArticleRow],
        cluster_sources: Mapping[int, tuple[str, ...]],
        now: datetime,
        read_texts: Callable[[list[int]], Mapping[int, tuple[str, str]]] | None = None,
    ) -> None:
        self.now = now
        self.cluster_sources = cluster_sources
        # articles ranked without their texts (the tick's window): muted words need the title
        # and summary of the few stories they are looked for in, read here on demand
        self._read_texts = read_texts
        self._texts: dict[int, str] = {}  # text keys of articles a muted word was looked for in
        self.members: dict[int, list[ArticleRow]] = {}
        self.recency: dict[int, float] = {}
        self._alone: dict[tuple[int, bool], tuple[float, float, int, RankedStory]] = {}
        lists: dict[tuple[str, str, str | None], list[tuple[float, int, ArticleRow]]] = {}
        for order, article in enumerate(
            sorted(articles, key=lambda a: (a.published_at, a.id), reverse=True)
        ):
            cid = article.cluster_id
            coverage = 0.0
            if cid is not None:
                self.members.setdefault(cid, []).append(article)
                spread = len(cluster_sources.get(cid, ())) - 1
                coverage = min(MAX_COVERAGE_BONUS, COVERAGE_BONUS_PER_SOURCE * max(0, spread))
            recency = story_score(article, 1, False, now)
            self.recency[article.id] = recency
            bound = recency + coverage
            entry = (bound, order, article)
            for category in (None, *article.categories):
                lists.setdefault((article.source_id, article.language, category), []).append(entry)
        members = self.members
        for entries in lists.values():
            entries.sort(key=lambda e: (-e[0], e[1]))
        self.lists = lists
        # Stories of one article from one source (most of them) need no scoring per selection:
        # their ranking entry is shared (``alone``). Decided once here, not at every pop.
        self.single = frozenset(
            a.id
            for a in articles
            if (a.cluster_id is None or len(members[a.cluster_id]) <= 1)
            and len(cluster_sources.get(a.cluster_id or 0, ())) <= 1
        )
        self.keys = frozenset(a.cluster_id if a.cluster_id is not None else a.id for a in articles)

    def has_word(self, article: ArticleRow, words: tuple[str, ...]) -> bool:
        """Whether the article contains one of ``words`` (its text read once per tick)."""
        text = self._texts.get(article.id)
        if text is None:
            title, summary = article.title, article.summary
            if self._read_texts is not None and not title:
                title, summary = self._read_texts([article.id]).get(article.id, ("", ""))
            text = self._texts[article.id] = text_key(title, summary)
        return any(contains(text, word) for word in words)

    def alone(self, article: ArticleRow, primary: bool) -> tuple[float, float, int, RankedStory]:
        """The ranking entry of a story with one article (shared by every selection)."""
        key = (article.id, primary)
        found = self._alone.get(key)
        if found is None:
            bonus = PRIMARY_BONUS if primary else 0.0
            story = RankedStory(article, (), self.recency[article.id] + 0.0 + bonus)
            found = (-story.score, -article.published_at.timestamp(), article.id, story)
            self._alone[key] = found
        return found

    def ranked(self, selection: Selection, category: str | None) -> RankedStream:
        """The stories of ``selection`` in ``category`` (None: all), best first, on demand."""
        return RankedStream(self, selection, category)


class RankedStream:
    """One selection's ranking, computed only as far as readers ask (see CandidateIndex)."""

    def __init__(self, index: CandidateIndex, selection: Selection, category: str | None) -> None:
        self._index = index
        self._selection = selection
        self._category = category
        self._heap: list[tuple[float, int, int, list[tuple[float, int, ArticleRow]], float]] = []
        for source in selection.source_ids:
            bonus = PRIMARY_BONUS if source in selection.primary_sources else 0.0
            for language in selection.languages:
                entries = index.lists.get((source, language, category))
                if entries:
                    first = entries[0]
                    self._heap.append((-(first[0] + bonus), first[1], 0, entries, bonus))
        heapq.heapify(self._heap)
        self._pending: list[tuple[float, float, int, RankedStory]] = []
        self._seen: set[int] = set()
        self.stories: list[RankedStory] = []

    def get(self, position: int) -> RankedStory | None:
        """The story at ``position`` (0 is the best), or None past the last."""
        while len(self.stories) <= position:
            if not self._advance():
                return None
        return self.stories[position]

    def fresh(
        self, received: Collection[int], size: int, muted_words: tuple[str, ...] = ()
    ) -> tuple[RankedStory, ...]:
        """The best ``size`` stories whose key is not in ``received`` and whose title and
        summary contain none of ``muted_words`` (phrase keys, ``digest.phrases``)."""
        out: list[RankedStory] = []
        position = 0
        while len(out) < size:
            story = self.get(position)
            if story is None:
                break
            article = story.article
            if (
                article.cluster_id if article.cluster_id is not None else article.id
            ) not in received and not (muted_words and self._index.has_word(article, muted_words)):
                out.append(story)
            position += 1
        return tuple(out)

    def _advance(self) -> bool:
        heap, pending, seen, index = self._heap, self._pending, self._seen, self._index
        single = index.single
        while True:
            head = -heap[0][0] if heap else float("-inf")
            if pending and (-pending[0][0] > head or not heap):
                self.stories.append(heapq.heappop(pending)[3])
                return True
            if not heap:
                return False
            _, _, position, entries, bonus = heap[0]
            article = entries[position][2]
            if position + 1 < len(entries):
                nxt = entries[position + 1]
                heapq.heapreplace(heap, (-(nxt[0] + bonus), nxt[1], position + 1, entries, bonus))
            else:
                heapq.heappop(heap)
            cid = article.cluster_id
            key = cid if cid is not None else -article.id
            if key in seen:
                continue
            seen.add(key)
            if article.id in single:  # one article, one source: the article is the story
                heapq.heappush(pending, index.alone(article, bonus > 0))
                continue
            story = self._score(index.members[cid]) if cid is not None else None
            if story is not None:
                at = story.article
                heapq.heappush(pending, (-story.score, -at.published_at.timestamp(), at.id, story))

    def _candidate(self, article: ArticleRow) -> bool:
        s = self._selection
        return (
            article.source_id in s.source_ids
            and article.language in s.languages
            and (self._category is None or self._category in article.categories)
        )

    def _score(self, members: Sequence[ArticleRow]) -> RankedStory | None:
        """Exactly as :func:`rank_for`: the representative is the newest candidate from a
        primary source, else the newest; coverage counts the selection's sources only. The
        score adds the same terms in the same order as :func:`story_score`."""
        selection = self._selection
        primaries = selection.primary_sources
        found = [a for a in members if self._candidate(a)]
        if not found:
            return None
        rep = next((a for a in found if a.source_id in primaries), found[0])
        assert rep.cluster_id is not None
        chosen = selection.source_ids
        sources = self._index.cluster_sources.get(rep.cluster_id, ())
        others = tuple(x for x in sources if x in chosen and x != rep.source_id)
        coverage = min(MAX_COVERAGE_BONUS, COVERAGE_BONUS_PER_SOURCE * len(others))
        bonus = PRIMARY_BONUS if rep.source_id in primaries else 0.0
        return RankedStory(rep, others, self._index.recency[rep.id] + coverage + bonus)
