"""Group the same story from different sources into clusters: pure, no I/O.

A cluster lets a digest show one story "also covered by CTV, Global News", and lets
"Related" find the other sources. A wrong merge hides a story from the reader, a missed
merge only shows it twice, so every choice here trades recall for precision.

How a new story finds its cluster (:class:`ClusterIndex`, or :func:`find_cluster`):

1. Its title and summary become a :class:`Signature` (:mod:`digest.textsig` tokens: folded,
   stopwords dropped, stemmed; Han text as bigrams), computed once per story.
2. Candidates are the recent stories that share at least one token with it (an inverted index
   from token to stories), in the same language, from another source (one source does not
   cover one story twice; same-source near-duplicates are dedupe's job), and published within
   ``params.window`` of it, before or after (feeds arrive late and out of order).
3. Each candidate is scored with :func:`similarity` (0..1, weighted Dice of token sets, the
   better of title-only and title+summary).
4. The story joins the cluster of its best-matching candidate if that score reaches
   ``params.threshold`` (single link), and if its mean score over that cluster's other
   members, in window and from other sources, reaches ``params.min_cluster_mean`` (the
   chaining guard, off by default). Single link is used because one story's coverage is
   worded very differently by different sources: a new source usually echoes one of them
   closely and the others barely, so average link would leave it out. Chaining, the usual
   price of single link, is bounded by the window and the high threshold, and measured by
   ``python -m bench.cluster`` on a labelled set. Ties go to the older (lower) cluster id.
5. Otherwise the caller starts a new cluster; :func:`cluster_all` and
   :meth:`ClusterIndex.assign` use the story's own id as the new cluster's id, so ids are
   stable: the same stories give the same ids, whatever order they are handed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.textsig import is_number, tokenize

__all__ = [
    "ClusterIndex",
    "ClusterParams",
    "Signature",
    "StoryText",
    "cluster_all",
    "find_cluster",
    "signature",
    "similarity",
]

NUMBER_WEIGHT = 2.0
"""A shared number (score, toll, rate, amount) counts as much as two shared words."""
MIN_SHARED = 2
"""Stories that share fewer distinct tokens than this are unrelated, whatever the ratio:
two four-word headlines sharing "Trump" are not one story."""


@dataclass(frozen=True, slots=True)
class StoryText:
    """What clustering needs of an article. ``published`` is timezone-aware UTC."""

    id: int
    source_id: str
    language: str
    title: str
    summary: str
    published: datetime


@dataclass(frozen=True, slots=True)
class ClusterParams:
    """Knobs, tuned on ``tests/data/cluster/labelled.json`` by ``python -m bench.cluster``.

    ``window``: two stories further apart in time are different events, however alike
    (daily market reports, a central bank's next decision). ``threshold``: the least
    :func:`similarity` to join a cluster, chosen for pairwise precision >= 0.95.
    ``min_cluster_mean``: the least mean similarity to the joined cluster's other members
    (0 turns the chaining guard off).
    """

    window: timedelta = timedelta(hours=36)
    threshold: float = 0.3
    min_cluster_mean: float = 0.0


@dataclass(frozen=True, slots=True)
class Signature:
    """Precomputed tokens of one story: cheap to compare, safe to cache beside the story.

    ``title`` and ``text`` (title and summary) are token sets; ``numbers`` the number tokens
    among them; the ``*_mass`` fields their weighted sizes (a number weighs
    :data:`NUMBER_WEIGHT`, any other token 1).
    """

    language: str
    title: frozenset[str]
    text: frozenset[str]
    numbers: frozenset[str]
    title_mass: float
    text_mass: float


def _mass(tokens: frozenset[str], numbers: frozenset[str]) -> float:
    return len(tokens) + (NUMBER_WEIGHT - 1) * len(tokens & numbers)


def signature(title: str, summary: str, language: str) -> Signature:
    """The :class:`Signature` of a story. Costs about 20-50 µs; compute it once per story."""
    title_set = frozenset(tokenize(title, language))
    text_set = title_set | frozenset(tokenize(summary, language))
    numbers = frozenset(t for t in text_set if is_number(t))
    return Signature(
        language=language,
        title=title_set,
        text=text_set,
        numbers=numbers,
        title_mass=_mass(title_set, numbers),
        text_mass=_mass(text_set, numbers),
    )


def _dice(a: frozenset[str], b: frozenset[str], mass: float, numbers: frozenset[str]) -> float:
    shared = a & b
    if len(shared) < MIN_SHARED or mass <= 0:
        return 0.0
    weight = len(shared) + ((NUMBER_WEIGHT - 1) * len(shared & numbers) if numbers else 0)
    return 2 * weight / mass


def similarity(a: Signature, b: Signature) -> float:
    """How alike two stories read, 0..1; 0 across languages or with < MIN_SHARED shared tokens.

    Weighted Dice of the title sets and of the title+summary sets, whichever is higher:
    titles carry the story, summaries add the names and numbers a terse title leaves out,
    and one source's missing summary must not drag a matching title down. Dice (not the
    overlap coefficient) so that a long text does not "contain" every short one.
    """
    if a.language != b.language:
        return 0.0
    numbers = a.numbers | b.numbers if a.numbers or b.numbers else a.numbers
    title = _dice(a.title, b.title, a.title_mass + b.title_mass, numbers)
    text = _dice(a.text, b.text, a.text_mass + b.text_mass, numbers)
    return min(1.0, max(title, text))


def _story_signature(story: StoryText) -> Signature:
    return signature(story.title, story.summary, story.language)


def _eligible(new: StoryText, other: StoryText, window: timedelta) -> bool:
    return (
        other.id != new.id
        and other.language == new.language
        and other.source_id != new.source_id
        and abs(other.published - new.published) <= window
    )


def _choose(
    new: StoryText,
    new_sig: Signature,
    scored: Iterable[tuple[float, int]],
    members: Mapping[int, Sequence[tuple[StoryText, Signature]]],
    params: ClusterParams,
) -> int | None:
    """The cluster to join given (score, cluster id) pairs for eligible candidates, or None."""
    best: dict[int, float] = {}
    for score, cluster_id in scored:
        if score >= params.threshold and score > best.get(cluster_id, -1.0):
            best[cluster_id] = score
    for cluster_id, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
        if params.min_cluster_mean <= 0:
            return cluster_id
        scores = [
            similarity(new_sig, sig)
            for story, sig in members.get(cluster_id, ())
            if _eligible(new, story, params.window)
        ]
        if scores and sum(scores) / len(scores) >= params.min_cluster_mean:
            return cluster_id
    return None


def find_cluster(
    new: StoryText,
    candidates: Sequence[tuple[StoryText, int]],
    params: ClusterParams = ClusterParams(),  # noqa: B008 - frozen, so sharing is safe
    *,
    signatures: Mapping[int, Signature] | None = None,
) -> int | None:
    """The cluster id ``new`` should join among ``candidates`` (story, cluster id), or None.

    Re-checks language, source and window itself. ``signatures`` (story id -> Signature)
    saves recomputing them: with it, O(len(candidates)) set intersections, about 1-2 µs each;
    without it, add a :func:`signature` per candidate. Ingest should prefer
    :class:`ClusterIndex`, which only looks at candidates sharing a token.
    """
    sigs = signatures or {}
    new_sig = sigs.get(new.id) or _story_signature(new)
    scored: list[tuple[float, int]] = []
    members: dict[int, list[tuple[StoryText, Signature]]] = {}
    for story, cluster_id in candidates:
        sig = sigs.get(story.id) or _story_signature(story)
        members.setdefault(cluster_id, []).append((story, sig))
        if _eligible(new, story, params.window):
            scored.append((similarity(new_sig, sig), cluster_id))
    return _choose(new, new_sig, scored, members, params)


class ClusterIndex:
    """Recent stories with their clusters and an inverted index, for one-by-one ingest.

    ``add`` is O(tokens); ``match`` is O(tokens + postings of those tokens) to gather the
    candidates sharing a token, then one :func:`similarity` per candidate with at least
    :data:`MIN_SHARED` shared tokens, usually a handful. Memory is O(stories x tokens);
    ``add`` drops stories older than the newest seen minus twice the window (a late story
    can still meet everything within one window of itself); :meth:`prune` drops more.
    """

    def __init__(self, params: ClusterParams = ClusterParams()) -> None:  # noqa: B008
        self.params = params
        self._stories: dict[int, tuple[StoryText, Signature, int]] = {}
        self._postings: dict[tuple[str, str], set[int]] = {}
        self._clusters: dict[int, dict[int, None]] = {}
        self._newest: datetime | None = None

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._stories

    def cluster_of(self, story_id: int) -> int | None:
        """The cluster id of a story in the index, or None."""
        entry = self._stories.get(story_id)
        return entry[2] if entry else None

    def add(self, story: StoryText, cluster_id: int, sig: Signature | None = None) -> None:
        """Remember ``story`` as a member of ``cluster_id`` (re-adding a story moves it)."""
        if story.id in self._stories:
            self._remove(story.id)
        sig = sig or _story_signature(story)
        self._stories[story.id] = (story, sig, cluster_id)
        self._clusters.setdefault(cluster_id, {})[story.id] = None
        for token in sig.text:
            self._postings.setdefault((story.language, token), set()).add(story.id)
        if self._newest is None or story.published > self._newest:
            self._newest = story.published
            horizon = story.published - 2 * self.params.window
            if any(s.published < horizon for s, _, _ in self._oldest()):
                self.prune(horizon)

    def _oldest(self) -> Iterable[tuple[StoryText, Signature, int]]:
        # Dicts keep insertion order and ingest adds roughly in time order: peek the first.
        return list(self._stories.values())[:1]

    def prune(self, before: datetime) -> int:
        """Forget stories published before ``before``; returns how many were dropped."""
        old = [sid for sid, (s, _, _) in self._stories.items() if s.published < before]
        for sid in old:
            self._remove(sid)
        return len(old)

    def _remove(self, story_id: int) -> None:
        story, sig, cluster_id = self._stories.pop(story_id)
        for token in sig.text:
            key = (story.language, token)
            ids = self._postings.get(key)
            if ids is not None:
                ids.discard(story_id)
                if not ids:
                    del self._postings[key]
        members = self._clusters.get(cluster_id)
        if members is not None:
            members.pop(story_id, None)
            if not members:
                del self._clusters[cluster_id]

    def match(self, story: StoryText, sig: Signature | None = None) -> int | None:
        """The cluster ``story`` should join, or None; does not add it."""
        sig = sig or _story_signature(story)
        shared: dict[int, int] = {}
        for token in sig.text:
            for sid in self._postings.get((story.language, token), ()):
                shared[sid] = shared.get(sid, 0) + 1
        scored: list[tuple[float, int]] = []
        for sid, count in shared.items():
            if count < MIN_SHARED:
                continue
            other, other_sig, cluster_id = self._stories[sid]
            if _eligible(story, other, self.params.window):
                scored.append((similarity(sig, other_sig), cluster_id))
        members = _MembersView(self)
        return _choose(story, sig, scored, members, self.params)

    def assign(self, story: StoryText, sig: Signature | None = None) -> int:
        """Match ``story``, add it, and return its cluster id (its own id if it starts one)."""
        sig = sig or _story_signature(story)
        cluster_id = self.match(story, sig)
        if cluster_id is None:
            cluster_id = story.id
        self.add(story, cluster_id, sig)
        return cluster_id


class _MembersView(Mapping[int, Sequence[tuple[StoryText, Signature]]]):
    """Cluster id -> members, read lazily from a ClusterIndex (only the chaining guard asks)."""

    def __init__(self, index: ClusterIndex) -> None:
        self._index = index

    def __getitem__(self, cluster_id: int) -> Sequence[tuple[StoryText, Signature]]:
        stories = self._index._stories
        return [stories[sid][:2] for sid in self._index._clusters[cluster_id]]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._index._clusters)

    def __len__(self) -> int:
        return len(self._index._clusters)


def cluster_all(
    stories: Sequence[StoryText],
    params: ClusterParams = ClusterParams(),  # noqa: B008
) -> dict[int, int]:
    """Story id -> cluster id for a batch, in published order (ties by id), as ingest would.

    The id of a cluster is the id of its first story. For benchmarks, tests and re-clustering.
    """
    index = ClusterIndex(params)
    return {s.id: index.assign(s) for s in sorted(stories, key=lambda s: (s.published, s.id))}
