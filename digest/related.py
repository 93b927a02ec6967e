"""Related stories for a story: the same story elsewhere, then the same subject, then the source.

How :meth:`RelatedFinder.related` builds the list (about 8 lines, as the seed site's "More
Related News" does), each part skipping what an earlier one listed:

1. **Same story**: the story's cluster (``digest.cluster``) from other sources in the reader's
   languages, one per source, newest first.
2. **Similar**: other stories on the same subject from :class:`RelatedIndex`, an in-memory BM25
   index over titles and summaries, one per language. A candidate must share two tokens and
   score :data:`MIN_SCORE` of the story's score against itself, so that the list ends rather
   than fills up with unrelated news; at most :data:`PER_SOURCE` per source, so one prolific
   source does not take the whole part.
3. **Same source**: that source's newest stories.

The index itself (BM25, thresholds, recency) is the pure half, in ``digest.related_index``;
this module is the I/O shell that loads it from the store and reads its proposals back.

Never the story itself, never two stories of one cluster, nothing older than the retention.
The database stays the authority for rows and clusters (ingest assigns clusters after storing,
and pruning deletes rows): the index only proposes ids, which are read back before use.
:meth:`RelatedFinder.refresh` feeds the index what ingest stored since the last refresh.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.clock import Clock, utcnow
from digest.related_index import LANGUAGE_FACTOR, MIN_SCORE, RelatedIndex
from storage.articles import ArticleRow, ArticleStore

__all__ = ["LANGUAGE_FACTOR", "MIN_SCORE", "RelatedFinder", "RelatedIndex", "RelatedStory"]

PER_SOURCE = 2
"""At most this many similar stories per source, so one prolific source does not take the part."""
EDIT_SCAN_EVERY = timedelta(minutes=15)
"""How often :meth:`RelatedFinder.refresh` looks for edited titles and summaries: new articles
are found by their ids at the cost of an index look-up, edits only by a scan of the table
(30 ms at 50,000 articles on SQLite), and a fixed title matters little to "Related"."""
EDIT_OVERLAP = timedelta(hours=1)
"""An ingest pass stamps what it stores with its start time and may still be storing when a
scan runs, so each scan reaches this far before the previous one."""
PRUNE_EVERY = timedelta(hours=1)
"""Pruning the index walks all of it; between prunes, stories past the retention stay indexed
but are never listed (rows are checked against the retention when read back)."""
_PAGE = 500
"""Rows per read of a cold build. Each page's rows and token lists are garbage once indexed,
interleaved in the heap with the postings that stay; smaller pages leave fewer holes the
allocator cannot give back: 3 MiB less resident after a 50,000-article build than pages of
2,000, for no measurable CPU (``python -m bench.memory``)."""


@dataclass(frozen=True, slots=True)
class RelatedStory:
    """One line of a Related list; ``reason`` is "same_story", "similar" or "same_source"."""

    article: ArticleRow
    reason: str


class RelatedFinder:
    """Builds Related lists from the article store and a :class:`RelatedIndex` it keeps fresh.

    Synchronous, and pure apart from the store reads: the caller runs it in a worker thread.
    """

    def __init__(
        self,
        articles: ArticleStore,
        index: RelatedIndex,
        *,
        retention: timedelta = timedelta(days=14),
        clock: Clock = utcnow,
    ) -> None:
        self.articles = articles
        self.index = index
        self.retention = retention
        self.clock = clock
        self._last_id = 0  # the highest article id indexed: newer ids are new articles
        self._edits_scanned: datetime | None = None
        self._pruned: datetime | None = None
        self._refresh_lock = threading.Lock()

    def refresh(self, now: datetime | None = None) -> int:
        """Index the articles stored since the last refresh (the whole retention window the
        first time), and forget those past the retention; returns how many were added.

        The first call reads every stored article (10 s of CPU for 50,000): make it at start-up,
        off the event loop. After that it is cheap enough to call before every
        :meth:`related` (a look-up by primary key when nothing is new), while edited texts are
        looked for every :data:`EDIT_SCAN_EVERY` and the index pruned every
        :data:`PRUNE_EVERY`. New articles are found by id, which grows in commit order while
        one ingest writes at a time (it holds one database lock). A call made while another
        thread refreshes returns 0 at once rather than wait for it.
        """
        now = now or self.clock()
        cutoff = now - self.retention
        if not self._refresh_lock.acquire(blocking=False):
            return 0  # another thread is refreshing: no need to wait for it to search
        try:
            if self._pruned is None or cutoff - self._pruned >= PRUNE_EVERY:
                self.index.remove_older_than(cutoff)
                self._pruned = cutoff
            before = len(self.index)
            self._last_id = self._load(cutoff, after_id=self._last_id)
            if self._edits_scanned is None:  # the first load read every text as it is
                self._edits_scanned = now
            elif now - self._edits_scanned >= EDIT_SCAN_EVERY:
                self._load(cutoff, edited_since=self._edits_scanned - EDIT_OVERLAP)
                self._edits_scanned = now
            return len(self.index) - before
        finally:
            self._refresh_lock.release()

    def _load(
        self, cutoff: datetime, *, after_id: int = 0, edited_since: datetime | None = None
    ) -> int:
        """Feed the index the matching articles, page by page; returns the last id read."""
        while True:
            page = self.articles.texts_since(
                cutoff, after_id=after_id, edited_since=edited_since, limit=_PAGE
            )
            self.index.add(page)
            after_id = page[-1].id if page else after_id
            if len(page) < _PAGE:
                return after_id

    def related(
        self, article_id: int, languages: Collection[str], now: datetime, limit: int = 8
    ) -> list[RelatedStory] | None:
        """Up to ``limit`` stories related to ``article_id`` for a reader of ``languages``,
        in the module's three parts; None if the article is unknown or past the retention."""
        cutoff = now - self.retention
        cluster = self.articles.story_with_cluster(article_id, cutoff)
        story = next((row for row in cluster if row.id == article_id), None)
        if story is None or story.published_at < cutoff:
            return None
        wanted = frozenset(languages)
        picked = _Picked(limit, {story.id}, {_cluster_key(story)})
        sources = {story.source_id}
        for row in cluster:  # newest first
            if row.language in wanted and row.source_id not in sources:
                sources.add(row.source_id)
                picked.add(row, "same_story", same_cluster_ok=True)
        if picked.room:
            # A few spares for those the per-source cap or a listed cluster will skip.
            hits = self.index.similar(story, wanted, 3 * picked.room, exclude=picked.ids)
            rows = self.articles.get_many(hit_id for hit_id, _ in hits)
            per_source: Counter[str] = Counter()
            for hit_id, _ in hits:
                hit = rows.get(hit_id)
                if hit is None or hit.published_at < cutoff or hit.language not in wanted:
                    continue
                if per_source[hit.source_id] < PER_SOURCE and picked.add(hit, "similar"):
                    per_source[hit.source_id] += 1
        need = picked.room + len(picked.ids)  # the listed ids may come back; few else will
        while picked.room:
            newest = self.articles.latest([story.source_id], wanted, cutoff, None, need)
            for row in newest:  # a row seen in an earlier round is skipped again
                picked.add(row, "same_source")
            if len(newest) < need:
                break
            need *= 2  # many of the source's rows were in listed clusters (a live blog)
        return picked.stories


def _cluster_key(row: ArticleRow) -> int:
    # A story not yet clustered is its own cluster, whose id would be its own id.
    return row.cluster_id if row.cluster_id is not None else row.id


@dataclass(slots=True)
class _Picked:
    """The list being built, and what it holds by id and by cluster."""

    limit: int
    ids: set[int]
    clusters: set[int]
    stories: list[RelatedStory] = field(default_factory=list)

    @property
    def room(self) -> int:
        return max(0, self.limit - len(self.stories))

    def add(self, row: ArticleRow, reason: str, *, same_cluster_ok: bool = False) -> bool:
        """Append ``row`` unless full, listed, or (unless ``same_cluster_ok``) of a listed
        cluster; returns whether it was appended."""
        key = _cluster_key(row)
        if not self.room or row.id in self.ids or (key in self.clusters and not same_cluster_ok):
            return False
        self.ids.add(row.id)
        self.clusters.add(key)
        self.stories.append(RelatedStory(row, reason))
        return True
