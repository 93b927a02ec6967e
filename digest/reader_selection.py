"""What a reader reads, reduced to what queries need: sources, languages, primary sources. Pure.

Readers with the same selection get the same stories, which lets a digest be composed once per
distinct selection instead of once per reader. ``digest.selection`` is the I/O shell that reads
the candidates from the store and hands them to :func:`rank_for`.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain

from digest.catalog import Catalog
from digest.phrases import contains, text_key
from digest.rank import (
    COVERAGE_BONUS_PER_SOURCE,
    MAX_COVERAGE_BONUS,
    PRIMARY_BONUS,
    RankedStory,
    rank_stories,
    recency,
)
from storage.articles import EPOCH, ArticleColumns, ArticleRow, micros
from storage.users import Reader


@dataclass(frozen=True, slots=True)
class Selection:
    source_ids: frozenset[str]
    languages: frozenset[str]
    primary_sources: frozenset[str]
    # the hash the dataclass would compute, once: the tick looks a selection up (in its
    # digests' and rankings' keys) for every category of every reader
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = (self.source_ids, self.languages, self.primary_sources)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

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


# A ranking's entry: (-score, -published, id, article position, also covered by): tuples in
# the order of :func:`rank_for`'s sort, so sorting them sorts the stories as it does.
_Entry = tuple[float, int, int, int, tuple[str, ...]]
_ListKey = tuple[str, str, str | None]  # source, language, category (None: all)
_Listed = tuple[_ListKey, float, list[int]]  # a list, its primary bonus, its positions
_Shared = tuple[float, float, list[int]]  # the most coverage, primary bonus, positions
# a ranking's shared lists, lists, and lists' positions by primary bonus (``plan``)
_Plan = tuple[list[_Shared], list[_Listed], list[tuple[float, list[list[int]]]]]
# a list's key, its positions, its pair lists by other source and its mixed list (each
# with the most other sources a cluster there names): see ``CandidateIndex._by_source``
_Lists = tuple[
    _ListKey, list[int], dict[str, tuple[list[int], int]] | None, tuple[list[int], int] | None
]
_NONE = float("-inf")


def _coverage(others: int) -> float:
    """The coverage bonus of a story ``others`` other chosen sources tell (as ranked)."""
    return min(MAX_COVERAGE_BONUS, COVERAGE_BONUS_PER_SOURCE * others)


# ``_coverage`` of 0, 1, 2 ... (the same floats, computed once): looked up per scored story
_COVERAGES = tuple(_coverage(n) for n in range(64))


def _coverage_of(others: int) -> float:
    """``_coverage``, from the table when it has the value."""
    return _COVERAGES[others] if others < len(_COVERAGES) else _coverage(others)


# How many of the stories a reader received a ranking first computes room for, beyond the
# digest's size: received stories are the best of an earlier tick, so usually near the top.
_RECEIVED_AHEAD = 20


class CandidateIndex:
    """Every recent article, indexed once per tick so that thousands of distinct selections are
    ranked in memory, lazily: a reader's digest needs its top few stories, not all of them.

    An article is a position in the window (newest first), its data flat columns: a story
    becomes a :class:`RankedStory` (with a text-less ``ArticleRow``) only when a digest
    shows it. Lists of positions, each in window order, so in falling recency:

    * per (source, language, category), every article: a story no other chosen source tells
      scores its representative's recency plus its source's primary bonus, so at most the
      list value (recency plus bonus) of its best article;
    * per (source, other source, language, category), the articles whose cluster the other
      source also tells: with both chosen, a story gains coverage, at most
      :data:`MAX_COVERAGE_BONUS` above that list value.

    A selection's ranking (:class:`RankedStream`) cuts each of its lists at a threshold (a
    binary search, the lists being in position order and values falling with position) and
    scores exactly what is above it: every story scoring above the threshold has an article
    there. The order is :func:`rank_for`'s over all candidates in the window (it has no
    300-candidate cap). A story of one article and one source, most of them, is scored
    without looking at its cluster.
    """

    def __init__(
        self,
        window: ArticleColumns,
        cluster_sources: Mapping[int, tuple[str, ...]],
        now: datetime,
        read_texts: Callable[[list[int]], Mapping[int, tuple[str, str]]] | None = None,
    ) -> None:
        self.now = now
        self.cluster_sources = cluster_sources
        self.window = window
        # articles ranked without their texts (the tick's window): muted words need the title
        # and summary of the few stories they are looked for in, read here on demand
        self._read_texts = read_texts
        self._texts: dict[int, str] = {}  # text keys of articles a muted word was looked for in
        self._rows: dict[int, ArticleRow] = {}
        self._stories: dict[object, RankedStory] = {}
        now_us = micros(now)
        ids, sources, languages = window.ids, window.sources, window.languages
        clusters, categories = window.clusters, window.categories
        self.ids: list[int] = ids.tolist()
        self.negative_published: list[int] = [-p for p in window.published]
        self.recency: list[float] = [recency((now_us - p) / 1_000_000) for p in window.published]
        # negated, so rising with position: what bisect searches
        self._falling = [-r for r in self.recency]
        # dedupe key of each article's story: its cluster, or minus its id when it has none
        self.story: list[int] = [c or -i for c, i in zip(clusters, self.ids, strict=True)]
        # what "already received" remembers each article's story by (``received_key``)
        self.received: list[int] = [c or i for c, i in zip(clusters, self.ids, strict=True)]
        members: dict[int, list[int]] = {}
        for position, cluster in enumerate(clusters):
            if cluster:
                members.setdefault(cluster, []).append(position)
        self.single = bytearray(len(ids))
        self.members: dict[int, list[int]] = {}
        lists: dict[_ListKey, list[int]] = {}
        # per list, the articles whose cluster another source tells, by that source
        pairs: dict[_ListKey, dict[str, list[int]]] = {}
        # per list and other source, the most other sources a cluster of it names
        spread: dict[tuple[_ListKey, str], int] = {}
        # per list, the articles whose cluster the same source tells in another language
        mixed: dict[_ListKey, list[int]] = {}
        for position, cluster in enumerate(clusters):
            source, language, listed = sources[position], languages[position], categories[position]
            keys = [(source, language, category) for category in (None, *listed)]
            for key in keys:
                found = lists.get(key)
                if found is None:
                    found = lists[key] = []
                found.append(position)
            if not cluster:
                self.single[position] = 1
                continue
            together = members[cluster]
            named = set(cluster_sources.get(cluster, ()))
            named.update(sources[at] for at in together)
            named.discard(source)
            if not named and len(together) == 1:
                self.single[position] = 1
                continue
            self.members[cluster] = together
            for other in named:
                for key in keys:
                    pairs.setdefault(key, {}).setdefault(other, []).append(position)
                    spread[(key, other)] = max(spread.get((key, other), 0), len(named))
            if any(sources[at] == source and languages[at] != language for at in together):
                for key in keys:
                    mixed.setdefault(key, []).append(position)
                    spread[(key, source)] = max(spread.get((key, source), 0), len(named))
        self.lists = lists
        # per list and other source: (positions, the most other sources a cluster there
        # names); per list, the same for the source's other languages (see ``spread``)
        self.pairs: dict[_ListKey, dict[str, tuple[list[int], int]]] = {
            key: {other: (found, spread[(key, other)]) for other, found in told.items()}
            for key, told in pairs.items()
        }
        self.mixed: dict[_ListKey, tuple[list[int], int]] = {
            key: (found, spread[(key, key[0])]) for key, found in mixed.items()
        }
        # per source, the languages it has articles in: a selection's lists are looked up
        # for these only, not for every (chosen source, chosen language) pair
        languages_of: dict[str, list[str]] = {}
        for source, language, category in lists:
            if category is None:
                languages_of.setdefault(source, []).append(language)
        self.languages_of = {source: tuple(found) for source, found in languages_of.items()}
        # per source, per language it has articles in (in ``languages_of``'s order), per
        # category (None: all): the list's key, its positions, pair lists and mixed list. What
        # ``plan`` looks up, by strings whose hashes are cached: a look-up by the lists' tuple
        # keys hashed a new tuple each time, three per list and ranking
        by_source: dict[str, dict[str, dict[str | None, _Lists]]] = {}
        for key, entries in lists.items():
            per = by_source.setdefault(key[0], {}).setdefault(key[1], {})
            per[key[2]] = (key, entries, self.pairs.get(key), self.mixed.get(key))
        self._by_source = {source: tuple(found.items()) for source, found in by_source.items()}
        # per (list, primary bonus): the list's own ranking as far as computed (entries,
        # every story above this threshold is in it, and the entries' first values, which
        # order them: what a cut bisects), shared by every selection reading it
        self._alone: dict[tuple[_ListKey, float], tuple[list[_Entry], float, list[float]]] = {}

    def cut(self, threshold: float, bonus: float) -> int:
        """The first position whose recency plus ``bonus`` is not above ``threshold``: it
        falls with position. Exact, as the scores' own sums compare (``x + bonus > t`` is not
        always ``x > t - bonus``)."""
        values = self.recency
        if threshold == _NONE:
            return len(values)
        falling = self._falling
        if bonus == 0.0:
            return bisect_left(falling, -threshold)
        at = bisect_left(falling, bonus - threshold)
        while at > 0 and not values[at - 1] + bonus > threshold:
            at -= 1
        while at < len(values) and values[at] + bonus > threshold:
            at += 1
        return at

    def alone(self, key: _ListKey, bonus: float, threshold: float) -> list[_Entry]:
        """The stories of list ``key`` alone (its source, language and category; primary if
        ``bonus``) scoring above ``threshold``, best first. A story another chosen source or
        language also has is scored again by the selection: this is the ranking of the rest.

        Its representative is its newest article in the list and it has no coverage (one
        source), so it scores the list value of that article; computed once per list and
        bonus, as deep as a selection has asked, a few dozen stories."""
        done = self._alone.get((key, bonus))
        if done is None or done[1] > threshold:
            entries = self.lists[key]
            depth = 32 if done is None else max(32, 2 * len(done[0]))  # never 0: it doubles
            fresh, single, story = self.recency, self.single, self.story
            negative_published, ids = self.negative_published, self.ids
            while True:
                floor = _NONE if len(entries) <= depth else fresh[entries[depth]] + bonus
                if floor <= threshold:
                    break
                depth *= 2
            ranked: list[_Entry] = []
            seen: set[int] = set()
            for at in entries[: bisect_left(entries, self.cut(floor, bonus))]:
                if not single[at]:
                    if story[at] in seen:
                        continue
                    seen.add(story[at])
                ranked.append((-(fresh[at] + bonus), negative_published[at], ids[at], at, ()))
            ranked.sort()
            done = self._alone[(key, bonus)] = (ranked, floor, [e[0] for e in ranked])
        ranked = done[0]
        if threshold == _NONE:
            return ranked
        # an entry is below ``(-threshold,)`` exactly when its first value is below
        # ``-threshold``: the same cut as bisecting the entries, comparing floats only
        return ranked[: bisect_left(done[2], -threshold)]

    def received_key(self, position: int) -> int:
        """What "already received" remembers the story of this article by: see
        ``digest.compose.story_key``."""
        return self.received[position]

    def row(self, position: int) -> ArticleRow:
        """The article as a text-less row (url, title and summary empty, first seen at its
        publication): what a digest holds until the tick reads the texts it shows."""
        article_id = self.ids[position]
        row = self._rows.get(article_id)
        if row is None:
            w = self.window
            published = EPOCH + timedelta(microseconds=w.published[position])
            row = self._rows[article_id] = ArticleRow(
                article_id, w.sources[position], "", "", "", None, w.languages[position],
                published, published, w.clusters[position] or None, w.categories[position],
            )  # fmt: skip
        return row

    def story_of(self, entry: _Entry) -> RankedStory:
        """The story of a ranking entry: one object per distinct entry, shared by every
        ranking (and digest) that holds it."""
        at = entry[3]
        # one article, no coverage: the article and whether its source is primary say it
        key: object = 2 * at + (-entry[0] != self.recency[at]) if not entry[4] else entry
        found = self._stories.get(key)
        if found is None:
            found = self._stories[key] = RankedStory(self.row(at), entry[4], -entry[0])
        return found

    def has_word(self, position: int, words: tuple[str, ...]) -> bool:
        """Whether the article contains one of ``words`` (its text read once per tick)."""
        article_id = self.ids[position]
        text = self._texts.get(article_id)
        if text is None:
            title, summary = "", ""
            if self._read_texts is not None:
                title, summary = self._read_texts([article_id]).get(article_id, ("", ""))
            text = self._texts[article_id] = text_key(title, summary)
        return any(contains(text, word) for word in words)

    def plan(self, selection: Selection, category: str | None) -> _Plan:
        """What the ranking of ``selection`` in ``category`` merges: (the most coverage,
        primary bonus, positions) of the articles of each of its lists whose story another
        chosen list may also have (a story there scores at most its article's recency plus
        these, added in the order its score adds them); (list key, primary bonus, positions)
        of every list it merges; and these lists' positions by primary bonus (where the
        threshold is found).

        Only the lists its sources have are looked up (``_by_source``), not every (chosen
        source, chosen language) pair. Their order does not matter: the threshold is a
        maximum, the lists' stories are merged by sorting, and a story is scored once
        whichever list finds it."""
        chosen, languages = selection.source_ids, selection.languages
        by_source = self._by_source
        several, ceiling = len(chosen) > 1, len(chosen) - 1
        mixing = len(languages) > 1
        listed: list[_Listed] = []
        shared: list[_Shared] = []
        groups: dict[float, list[list[int]]] = {}
        for source in chosen:
            spoken = by_source.get(source)
            if spoken is None:
                continue
            bonus = PRIMARY_BONUS if source in selection.primary_sources else 0.0
            for language, per_category in spoken:
                if language not in languages:
                    continue
                found_lists = per_category.get(category)
                if found_lists is None:
                    continue
                key, entries, told, same = found_lists
                listed.append((key, bonus, entries))
                found = groups.get(bonus)
                if found is None:
                    groups[bonus] = [entries]
                else:
                    found.append(entries)
                if several and told is not None:
                    if len(told) <= ceiling:
                        for other, (positions, spread) in told.items():
                            if other in chosen:
                                most = spread if spread < ceiling else ceiling
                                shared.append((_coverage_of(most), bonus, positions))
                    else:
                        for other in chosen:
                            pair = told.get(other)
                            if pair is not None:
                                positions, spread = pair
                                most = spread if spread < ceiling else ceiling
                                shared.append((_coverage_of(most), bonus, positions))
                if mixing and same is not None:
                    positions, spread = same
                    most = spread if spread < ceiling else ceiling
                    shared.append((_coverage_of(most), bonus, positions))
        return shared, listed, list(groups.items())

    def ranked(self, selection: Selection, category: str | None) -> RankedStream:
        """The stories of ``selection`` in ``category`` (None: all), best first, on demand."""
        return RankedStream(self, selection, category)


class RankedStream:
    """One selection's ranking, computed only as deep as readers ask (see CandidateIndex).

    A prefix at a time: the threshold is the value at depth ``wanted`` of the selection's
    lists of one bonus merged, where that value is highest. Above it, the stories only one of
    its lists has come ready-made from that list's own ranking (:meth:`CandidateIndex.alone`,
    shared by every selection that reads the list); those another chosen source (or the same
    source in another chosen language) also tells are scored for the selection, found through
    the pair lists. Merged and sorted, they are the ranking's first stories. A reader who
    needs more gets a prefix at least twice as deep, computed again.
    """

    __slots__ = ("_index", "_selection", "_category", "_order", "_keys", "_complete")

    def __init__(self, index: CandidateIndex, selection: Selection, category: str | None) -> None:
        self._index = index
        self._selection = selection
        self._category = category
        self._order: list[_Entry] = []  # the ranking's first stories, best first
        # their "received" keys, 8 bytes each (a list held an int object per story per stream)
        self._keys: array[int] = array("q")
        self._complete = False  # whether ``_order`` is the whole ranking

    def _setup(self) -> _Plan:
        """What ``_fill`` merges (``CandidateIndex.plan``), found again at each fill rather
        than kept: a stream is filled once or twice, and thousands of streams kept it until
        the tick ended, more than their rankings."""
        return self._index.plan(self._selection, self._category)

    def get(self, position: int) -> RankedStory | None:
        """The story at ``position`` (0 is the best), or None past the last."""
        if position >= len(self._order) and not self._fill(position + 1):
            return None
        return self._index.story_of(self._order[position])

    def fresh(
        self, received: Collection[int], size: int, muted_words: tuple[str, ...] = ()
    ) -> tuple[RankedStory, ...]:
        """The best ``size`` stories whose key is not in ``received`` and whose title and
        summary contain none of ``muted_words`` (phrase keys, ``digest.phrases``)."""
        out: list[RankedStory] = []
        position = 0
        keys = self._keys
        if not keys:  # readers mostly skip what they received: it is at the top
            self._fill(size + min(len(received), _RECEIVED_AHEAD))
            keys = self._keys
        while len(out) < size:
            if position >= len(keys):
                self._fill(2 * (position + size - len(out)))
                keys = self._keys
                if position >= len(keys):
                    break
            if keys[position] not in received and not (
                muted_words and self._index.has_word(self._order[position][3], muted_words)
            ):
                out.append(self._index.story_of(self._order[position]))
            position += 1
        return tuple(out)

    def _fill(self, wanted: int) -> bool:
        """Rank at least ``wanted`` stories (from the start, deeper than before); False if
        the ranking has fewer."""
        if self._complete:
            return len(self._order) >= wanted
        index = self._index
        fresh, story, members = index.recency, index.story, index.members
        shared, lists, groups = self._setup()
        depth = max(wanted, 2 * len(self._order))
        while True:
            # the value of the article at ``depth`` in the merged lists of one bonus (merged
            # by position: one bonus, so by value), the highest of these
            threshold = _NONE
            for bonus, group in groups:
                if len(group) == 1:
                    merged = group[0]
                else:
                    merged = sorted(chain.from_iterable(e[: depth + 1] for e in group))
                if len(merged) > depth:
                    value = fresh[merged[depth]] + bonus
                    if value > threshold:
                        threshold = value
            # stories another chosen list may have too: scored for the selection
            scored: list[_Entry] = []
            seen: set[int] = set()
            for most, bonus, entries in shared:
                for at in entries:  # short lists, in falling recency
                    if not fresh[at] + most + bonus > threshold:
                        break
                    key = story[at]
                    if key not in seen:
                        seen.add(key)
                        entry = self._score(members[key])
                        if entry is not None and -entry[0] > threshold:
                            scored.append(entry)
            parts = [index.alone(key, bonus, threshold) for key, bonus, _ in lists]
            if seen:
                parts = [[e for e in part if story[e[3]] not in seen] for part in parts]
            one = len(parts) == 1 and not scored
            found = parts[0] if one else sorted(chain(scored, *parts))
            if len(found) >= wanted or threshold == _NONE:
                break
            depth *= 2
        received = index.received
        self._order = found
        self._keys = array("q", [received[e[3]] for e in found])
        self._complete = threshold == _NONE
        return len(found) >= wanted

    def _score(self, members: Sequence[int]) -> _Entry | None:
        """Exactly as :func:`rank_for`: the representative is the newest candidate from a
        primary source, else the newest; coverage counts the selection's sources only. The
        score adds the same terms in the same order as :func:`story_score`."""
        index, selection, category = self._index, self._selection, self._category
        w = index.window
        sources, languages, categories = w.sources, w.languages, w.categories
        chosen, primaries, wanted = (
            selection.source_ids, selection.primary_sources, selection.languages,
        )  # fmt: skip
        rep = newest = -1
        for at in members:  # newest first
            if (
                sources[at] in chosen
                and languages[at] in wanted
                and (category is None or category in categories[at])
            ):
                if sources[at] in primaries:
                    rep = at
                    break
                if newest < 0:
                    newest = at
        if rep < 0:
            rep = newest
        if rep < 0:
            return None
        source = sources[rep]
        named = index.cluster_sources.get(w.clusters[rep], ())
        others = tuple([x for x in named if x in chosen and x != source])
        coverage = _coverage_of(len(others))
        bonus = PRIMARY_BONUS if source in primaries else 0.0
        score = index.recency[rep] + coverage + bonus
        return (-score, index.negative_published[rep], index.ids[rep], rep, others)
