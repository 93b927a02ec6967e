"""Group the same story from different sources into clusters: pure, no I/O.

A cluster lets a digest show one story "also covered by CTV, Global News", and lets "Related"
find the other sources. A wrong merge hides a story from the reader; a missed merge only shows
it twice. So every choice here gives up recall for precision.

How a new story finds its cluster (:class:`ClusterIndex` for ingest, :func:`find_cluster`):

1. Its title and summary become a :class:`Signature`: token sets from :mod:`digest.textsig`
   (folded, stopwords dropped, stemmed, numbers kept, Han text as bigrams), and which of them
   are names (:func:`digest.textsig.anchors`: words capitalised mid-sentence, Latin words in
   other scripts), once per story.
2. Candidates are recent stories from another source (one source does not cover one story
   twice; same-source near-duplicates are dedupe's job), published within ``params.window`` of
   it, before or after (feeds arrive late and out of order): in its language, those sharing
   :data:`MIN_SHARED` tokens with it; in another language (``params.across_languages``), those
   sharing more than :data:`ACROSS_NAMES` names or numbers written alike, scored by
   :func:`across_languages` instead of :func:`similarity`.
3. Each candidate scores :func:`similarity` (0..1): the best of the weighted Dice of the
   texts, of the titles, and of how much one title its lead repeats (:func:`lead_cover`).
   Shared names and numbers weigh double, unless :func:`common_names` finds them in many recent
   stories ("Trump", "Iran" in a week of war news). A word of a Title Case headline counts as
   a name when the other headline names it (:func:`confirmed`). The score is discounted linearly
   with the time between the two beyond ``params.grace``, down to ``1 - params.time_decay`` at the
   window's edge: different sources cover one event within hours, while the next day's
   development (the toll update, the rematch, the strike's first day) reuses most of the first
   report's words.
4. The story joins the cluster of its best-scoring candidate if that score reaches
   ``params.threshold`` (single link; ties go to the lower cluster id), else the caller starts
   a new cluster. Single link, because sources word one story very differently: a newcomer
   usually echoes one earlier report closely and the rest barely, so average link (the mean
   score over the cluster) leaves it out. Measured on the labelled set, average link gives
   less recall at the same precision (0.611 against 0.692 at precision 0.98); chaining, the
   usual risk of single link, is held back by the window, the time discount and the
   threshold. If it reaches the threshold with members of several clusters,
   :meth:`ClusterIndex.place` merges them (``params.merge``): two reports that each echoed
   a different earlier one had started two clusters of one story.
5. :func:`cluster_all` and :meth:`ClusterIndex.assign` give a new cluster its first story's
   id, so ids are stable: the same stories get the same ids, in whatever order they come.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from digest.textsig import is_number, names_and_keys, title_case_words, tokenize

__all__ = [
    "MIN_SHARED",
    "across_languages",
    "common_keys",
    "common_names",
    "confirmed",
    "lead_cover",
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
TITLE_ONLY = 0.75
"""A match of titles alone counts for less than the same match of titles and summaries."""
NAME_WEIGHT = 2.0
"""A shared name (a capitalised word, see :func:`digest.textsig.anchors`) counts as much as
two shared words."""
LEAD = 0.5
"""How much a title covered by the other story's lead counts against the Dice scores."""
MIN_TITLE = 3
"""A title of fewer tokens is too short to be "covered" ("Wall Street Week Ahead" is a column)."""
LEAD_CHARS = 400
"""The lead that may cover a title: the title and this much of the summary, about the first
paragraph. A whole article in a summary would otherwise "cover" every title it mentions."""
COMMON_SHARE = 0.03
"""A name or number given by this share of the recent stories of a language is common."""
COMMON_MIN = 3
"""... and by at least this many (in a small index every name would be "common")."""
ACROSS_NAMES = 2
"""Across languages: this many shared names and a number, or one name more (see
:func:`across_languages`)."""
MIN_SHARED = 2
"""Stories sharing fewer distinct tokens are unrelated, whatever the ratio: two three-word
headlines that share "Trump" are not one story, nor are two empty ones."""


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
    """Knobs, tuned on ``tests/data/cluster/labelled.json`` with ``python -m bench.cluster``.

    ``window``: stories further apart are different events, however alike (daily market
    reports, a central bank's next decision). ``threshold``: the least time-discounted
    :func:`similarity` to join a cluster. 0.30 gives pairwise precision 0.98 and recall 0.79 on
    the labelled set (0.69 before names, leads and the grace counted), and 0.90 / 0.59 on the
    judged pairs of the shared corpus's real feeds (``bench.corpus_pairs``; 0.93 / 0.45
    before); lower thresholds lose precision on both. ``time_decay``: the share of the
    similarity lost across the whole window, linearly (0 turns it off; without it precision
    at 0.30 falls to 0.75). ``grace``: no discount within it, since sources report one
    event within hours of each other (on the labelled set it adds recall, 0.76 to 0.79, at
    the same precision; its next-day developments come 20 hours and more later).
    ``merge``: when a new story reaches the threshold with members of two or more clusters,
    :meth:`ClusterIndex.place` makes them one (see there).
    """

    window: timedelta = timedelta(hours=36)
    threshold: float = 0.30
    time_decay: float = 0.6
    grace: timedelta = timedelta(hours=6)
    across_languages: bool = True
    merge: bool = True

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise ValueError("window must be positive")
        if not (0.0 <= self.threshold <= 1.0 and 0.0 <= self.time_decay <= 1.0):
            raise ValueError("threshold and time_decay must be within 0..1")
        if not timedelta(0) <= self.grace < self.window:
            raise ValueError("grace must be within 0..window")

    def score(self, sim: float, a: StoryText, b: StoryText) -> float:
        """``sim`` discounted for the time between ``a`` and ``b`` beyond ``grace``."""
        gap = max(timedelta(0), abs(a.published - b.published) - self.grace)
        return sim * (1.0 - self.time_decay * min(1.0, gap / (self.window - self.grace)))


@dataclass(frozen=True, slots=True)
class Signature:
    """Precomputed tokens of one story: cheap to compare, safe to cache beside the story.

    ``title`` and ``text`` (title and summary) are token sets, ``numbers`` the number tokens
    among them, ``names`` the name tokens (:func:`digest.textsig.anchors`), ``lead`` the title
    and the first :data:`LEAD_CHARS` of the summary, ``keys`` the names in Latin letters
    unstemmed (:func:`digest.textsig.name_keys`) and the numbers of two digits or more, which
    two languages can share, ``heavy`` the names and numbers, the ``*_mass`` fields the sets'
    weighted sizes (a number weighs :data:`NUMBER_WEIGHT`, a name :data:`NAME_WEIGHT`, any other
    token 1). ``maybe``: the words of a Title Case title that may be names
    (:func:`digest.textsig.title_case_words`); :func:`confirmed` makes one a name when the
    other story's title names it.
    """

    language: str
    title: frozenset[str]
    text: frozenset[str]
    numbers: frozenset[str]
    title_mass: float
    text_mass: float
    names: frozenset[str] = frozenset()
    lead: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    heavy: frozenset[str] = frozenset()
    maybe: frozenset[str] = frozenset()


_NONE: frozenset[str] = frozenset()
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def _weight(sig: Signature, tokens: frozenset[str], common: frozenset[str] = _NONE) -> float:
    """``tokens`` counted with their weights in ``sig``: numbers :data:`NUMBER_WEIGHT`, names
    :data:`NAME_WEIGHT`, any other token (and any token in ``common``) 1."""
    heavy = tokens & sig.heavy
    if not heavy:
        return len(tokens)
    if common:
        heavy -= common
    numbers = len(heavy & sig.numbers)
    return len(tokens) + (NUMBER_WEIGHT - 1) * numbers + (NAME_WEIGHT - 1) * (len(heavy) - numbers)


def common_names(sig: Signature, df: Mapping[str, int], stories: int) -> frozenset[str]:
    """The names and numbers of ``sig`` that :data:`COMMON_SHARE` of the ``stories`` recent
    stories of its language also give (``df``: token -> how many), and at least
    :data:`COMMON_MIN`: "Trump", "Iran", "2026" in a week of such news. They then count as
    plain words, since sharing them says little about sharing an event."""
    limit = max(COMMON_MIN, COMMON_SHARE * stories)
    return frozenset(t for t in sig.names | sig.numbers | sig.maybe if df.get(t, 0) >= limit)


def signature(title: str, summary: str, language: str) -> Signature:
    """The :class:`Signature` of a story: 40-120 µs, so compute it once per story."""
    title_set = frozenset(tokenize(title, language))
    if len(summary) <= LEAD_CHARS:  # most feeds: the lead is the text, one set for both
        lead = text_set = title_set | frozenset(tokenize(summary, language))
    else:
        cut = max(summary.rfind(" ", 0, LEAD_CHARS), 0)
        lead = title_set | frozenset(tokenize(summary[:cut], language))
        text_set = lead | frozenset(tokenize(summary[cut:], language))
    numbers = frozenset(t for t in text_set if is_number(t))
    found, latin = names_and_keys(title, summary, language)
    names = (found & text_set) - numbers
    keys = latin | {n for n in numbers if len(n) > 1}
    heavy = (names | numbers) if names and numbers else (names or numbers)
    maybe = title_case_words(title, summary, language, found) & title_set

    def mass(tokens: frozenset[str]) -> float:
        numbered = len(tokens & numbers)
        named = len(tokens & names)
        return len(tokens) + (NUMBER_WEIGHT - 1) * numbered + (NAME_WEIGHT - 1) * named

    return Signature(
        language, title_set, text_set, numbers, mass(title_set), mass(text_set), names, lead,
        keys, heavy, maybe,
    )  # fmt: skip


def common_keys(sig: Signature, df: Mapping[str, int], stories: int) -> frozenset[str]:
    """:func:`common_names` for :attr:`Signature.keys`, over the recent stories of every
    language (``df`` counts in how many a key appears; keys do not depend on the language)."""
    limit = max(COMMON_MIN, COMMON_SHARE * stories)
    return frozenset(k for k in sig.keys if df.get(k, 0) >= limit)


def _dice(
    a: Signature, b: Signature, shared: frozenset[str], mass: float, common: frozenset[str]
) -> float:
    if len(shared) < MIN_SHARED:
        return 0.0
    return (_weight(a, shared, common) + _weight(b, shared, common)) / mass


def confirmed(a: Signature, b: Signature) -> tuple[Signature, Signature]:
    """``a`` and ``b`` with the words of a Title Case title (:attr:`Signature.maybe`) that the
    other story's title names (capitalised mid-sentence) counted as names on both sides.

    Why: "States Sue to Stop Trump From Reviving Steep Tariffs" over a summary that names no
    one gives no names of its own, so the name the two reports share ("Trump") weighs no more
    than "steep"; the other headline's "... sue to block Trump's latest tariffs" settles that
    "Trump" is a name, "Steep" and "Tariffs" are not. The other *title*, not its summary: two
    headlines naming one person or place agree on whom the story is about, while a summary
    names the background too ("Strait of Hormuz" in every report on oil that week); measured,
    the summary as well adds a wrong link on the judged corpus pairs and no right one.
    Costs nothing when neither title is in Title Case.
    """
    if not (a.maybe or b.maybe):
        return a, b
    a_new, b_new = a.maybe & b.names & b.title, b.maybe & a.names & a.title
    if not (a_new or b_new):
        return a, b
    return _promote(a, a_new), _promote(b, b_new)


def _promote(sig: Signature, names: frozenset[str]) -> Signature:
    """``sig`` with ``names`` (tokens of its title) counted as names, masses adjusted."""
    if not names:
        return sig
    extra = NAME_WEIGHT - 1  # positional, not dataclasses.replace: this is the hot path
    return Signature(
        sig.language, sig.title, sig.text, sig.numbers,
        sig.title_mass + extra * len(names & sig.title),
        sig.text_mass + extra * len(names & sig.text),
        sig.names | names, sig.lead, sig.keys, sig.heavy | names, sig.maybe - names,
    )  # fmt: skip


def lead_cover(a: Signature, b: Signature, common: frozenset[str] = _NONE) -> float:
    """How much of ``a``'s title ``b``'s title and lead (summary) repeat, 0..1, by weight;
    0 unless they share :data:`MIN_SHARED` title tokens, one of them a name or number both
    stories give, and ``a``'s title has :data:`MIN_TITLE` tokens.

    Why: a report's title says what happened to whom; a second source's title words it its
    own way, but its first paragraph names the same people, places and numbers. Dice over the
    whole texts is diluted by a long lead, whereas this asks whether one headline is told in
    the other story.
    """
    if len(a.title) < MIN_TITLE:
        return 0.0
    shared = a.title & b.lead
    if len(shared) < MIN_SHARED:
        return 0.0
    anchored = shared & a.heavy & b.heavy
    if not anchored or (common and not anchored - common):
        return 0.0
    return _weight(a, shared, common) / a.title_mass


def similarity(a: Signature, b: Signature, common: frozenset[str] = _NONE) -> float:
    """How alike two stories read, 0..1: 0 across languages or below :data:`MIN_SHARED`.

    The highest of: the weighted Dice of the title+summary sets; that of the title sets,
    scaled by :data:`TITLE_ONLY`; and the :func:`lead_cover` of either title by the other
    story, scaled by :data:`LEAD`. Titles carry the story, summaries add the names and
    numbers a terse title leaves out, and one source's empty or chatty summary must not sink a
    matching title. Dice rather than the overlap coefficient, so that a long text does not
    "contain" every short one. Names and numbers weigh more than other words
    (:data:`NAME_WEIGHT`, :data:`NUMBER_WEIGHT`): two reports of one event share its names,
    two events on one subject share its vocabulary, unless the name is in ``common`` (see
    :func:`common_names`); the words of a Title Case headline count as names where the other
    headline names them (:func:`confirmed`). About 2 µs.
    """
    if a.language != b.language:
        return 0.0
    shared = a.text & b.text
    if len(shared) < MIN_SHARED:
        return 0.0
    if a.maybe or b.maybe:
        a, b = confirmed(a, b)
    text = _dice(a, b, shared, a.text_mass + b.text_mass, common)
    title = _dice(a, b, a.title & b.title, a.title_mass + b.title_mass, common)
    best = max(text, TITLE_ONLY * title)
    if best < LEAD:  # else the cover, at most 1, cannot beat it
        best = max(best, LEAD * max(lead_cover(a, b, common), lead_cover(b, a, common)))
    return min(1.0, best)


def across_languages(a: Signature, b: Signature, common: frozenset[str] = _NONE) -> float:
    """How clearly two stories in different languages name one event, 0..1: the Dice of their
    :attr:`Signature.keys` (names in Latin letters, numbers), outside ``common``; 0 unless
    they share :data:`ACROSS_NAMES` names and a number, or one name more and no number.

    Why so strict: across languages the words cannot be compared, only what both write alike,
    and one shared name ("Mali", "Trump") is as likely to be two events. Names written in
    other scripts are not transliterated (too many spellings), so Hindi, Arabic or Chinese
    stories link only through the Latin names and the digits they carry.
    """
    shared = (a.keys & b.keys) - common
    numbers = sum(1 for k in shared if k[:1].isdigit())
    names = len(shared) - numbers
    if not (names >= ACROSS_NAMES and numbers) and names <= ACROSS_NAMES:
        return 0.0
    return 2.0 * len(shared) / (len(a.keys) + len(b.keys))


def _sig(story: StoryText) -> Signature:
    return signature(story.title, story.summary, story.language)


def _scores(
    new: StoryText,
    new_sig: Signature,
    candidates: Iterable[tuple[StoryText, Signature, int]],
    params: ClusterParams,
    common: frozenset[str] = _NONE,
) -> dict[int, float]:
    """Cluster id -> the best time-discounted score of its eligible candidates, for the
    clusters reaching the threshold.

    The cheap tests come first (source, language, window, two shared tokens), as most of the
    candidates a caller passes fail them; this loop is the hot path of :func:`find_cluster`.
    """
    earliest, latest = new.published - params.window, new.published + params.window
    source, language, text, keys = new.source_id, new.language, new_sig.text, new_sig.keys
    threshold, across = params.threshold, params.across_languages
    out: dict[int, float] = {}
    for story, sig, cluster_id in candidates:
        if (
            story.source_id == source
            or not earliest <= story.published <= latest
            or story.id == new.id
        ):
            continue
        if story.language == language:
            if len(text & sig.text) < MIN_SHARED:
                continue
            sim = similarity(new_sig, sig, common)
        elif across and len(keys & sig.keys) >= ACROSS_NAMES + 1:
            sim = across_languages(new_sig, sig, common)
        else:
            continue
        if sim < threshold:  # the time discount only lowers it
            continue
        score = params.score(sim, new, story)
        if score >= threshold and score > out.get(cluster_id, 0.0):
            out[cluster_id] = score
    return out


def _best(scores: Mapping[int, float]) -> int | None:
    """The best-scoring cluster; ties go to the lower cluster id."""
    return min(scores, key=lambda cid: (-scores[cid], cid), default=None)


def find_cluster(
    new: StoryText,
    candidates: Sequence[tuple[StoryText, int]],
    params: ClusterParams = ClusterParams(),
    *,
    signatures: Mapping[int, Signature] | None = None,
) -> int | None:
    """The cluster id ``new`` should join among ``candidates`` (story, cluster id), or None.

    Re-checks language, source and window. ``signatures`` (story id -> Signature, for the
    candidates and optionally ``new``) saves recomputing them. O(len(candidates)): about
    1 µs per candidate with signatures given, 30-80 µs more per missing one. Ingest should
    prefer :class:`ClusterIndex`, which skips candidates sharing no token.
    """
    sigs = signatures or {}
    new_sig = sigs.get(new.id) or _sig(new)
    scored = [(story, sigs.get(story.id) or _sig(story), cid) for story, cid in candidates]
    heavy = new_sig.names | new_sig.numbers | new_sig.maybe
    df: Counter[str] = Counter()
    key_df: Counter[str] = Counter()
    stories = everyone = 0
    for story, sig, _ in scored:
        if story.id == new.id:
            continue
        everyone += 1
        key_df.update(new_sig.keys & sig.keys)
        if story.language == new.language:
            stories += 1
            df.update(heavy & sig.text)
    common = common_names(new_sig, df, stories) | common_keys(new_sig, key_df, everyone)
    return _best(_scores(new, new_sig, scored, params, common))


class ClusterIndex:
    """Recent stories with their clusters and an inverted index, for one-by-one ingest.

    ``add`` is O(tokens). ``match`` is O(postings of the story's tokens) to count shared
    tokens, then one :func:`similarity` per story sharing :data:`MIN_SHARED` or more, usually
    a handful. Memory is O(stories x tokens); ``add`` forgets stories published more than two
    windows before the newest (a late story still meets everything within one window of
    itself) by popping the oldest-added first, and :meth:`prune` forgets by date exactly.
    """

    def __init__(self, params: ClusterParams = ClusterParams()) -> None:
        self.params = params
        self._stories: dict[int, tuple[StoryText, Signature, int]] = {}
        self._postings: dict[tuple[str, str], set[int]] = {}
        self._languages: Counter[str] = Counter()
        self._members: dict[int, set[int]] = {}
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
        """Remember ``story`` as a member of ``cluster_id`` (adding it again moves it)."""
        if story.id in self._stories:
            self._remove(story.id)
        sig = sig or _sig(story)
        self._stories[story.id] = (story, sig, cluster_id)
        self._members.setdefault(cluster_id, set()).add(story.id)
        self._languages[story.language] += 1
        for token in sig.text:
            self._postings.setdefault((story.language, token), set()).add(story.id)
        for key in sig.keys:
            self._postings.setdefault(("*", key), set()).add(story.id)
        if self._newest is None or story.published > self._newest:
            self._newest = story.published
            horizon = story.published - 2 * self.params.window
            while self._stories:  # insertion order is about time order: O(1) amortised
                oldest = next(iter(self._stories))
                if self._stories[oldest][0].published >= horizon:
                    break
                self._remove(oldest)

    def prune(self, before: datetime) -> int:
        """Forget every story published before ``before``; returns how many. O(stories)."""
        old = [sid for sid, (s, _, _) in self._stories.items() if s.published < before]
        for sid in old:
            self._remove(sid)
        return len(old)

    def _remove(self, story_id: int) -> None:
        story, sig, cluster_id = self._stories.pop(story_id)
        members = self._members.get(cluster_id)
        if members is not None:
            members.discard(story_id)
            if not members:
                del self._members[cluster_id]
        self._languages[story.language] -= 1
        keys = [(story.language, t) for t in sig.text] + [("*", k) for k in sig.keys]
        for key in keys:
            ids = self._postings.get(key)
            if ids is not None:
                ids.discard(story_id)
                if not ids:
                    del self._postings[key]

    def match(self, story: StoryText, sig: Signature | None = None) -> int | None:
        """The cluster ``story`` should join, or None. Does not add it."""
        return _best(self._match(story, sig or _sig(story)))

    def _match(self, story: StoryText, sig: Signature) -> dict[int, float]:
        """:func:`_scores` of ``story`` against the indexed stories that may score."""
        postings = (self._postings.get((story.language, t), ()) for t in sig.text)
        shared = Counter(itertools.chain.from_iterable(postings))
        stories = self._stories
        candidates: Iterable[tuple[StoryText, Signature, int]] = (
            stories[sid] for sid, n in shared.items() if n >= MIN_SHARED
        )
        indexed = story.id in stories  # matching a story already indexed: do not count it
        df = {
            t: len(self._postings.get((story.language, t), ()))
            for t in sig.names | sig.numbers | sig.maybe
        }
        key_df = {k: len(self._postings.get(("*", k), ())) - indexed for k in sig.keys}
        if indexed:
            df = {t: n - (t in sig.text) for t, n in df.items()}
        common = common_names(sig, df, self._languages[story.language] - indexed)
        common |= common_keys(sig, key_df, len(stories) - indexed)
        rare = sig.keys - common  # a common key's long postings cannot make a link
        if self.params.across_languages and len(rare) > ACROSS_NAMES and self._foreign(story):
            keyed = (self._postings.get(("*", k), ()) for k in rare)
            near = Counter(itertools.chain.from_iterable(keyed))
            foreign = (
                stories[sid]
                for sid, n in near.items()
                if n > ACROSS_NAMES and stories[sid][0].language != story.language
            )
            candidates = itertools.chain(candidates, foreign)
        return _scores(story, sig, candidates, self.params, common)

    def _foreign(self, story: StoryText) -> bool:
        """Whether the index holds stories of another language than ``story``'s."""
        return any(n for lang, n in self._languages.items() if lang != story.language)

    def assign(self, story: StoryText, sig: Signature | None = None) -> int:
        """Match ``story``, add it, and return its cluster id (its own id if it starts one).
        Clusters it merges (see :meth:`place`) are merged in the index too."""
        return self.place(story, sig)[0]

    def place(self, story: StoryText, sig: Signature | None = None) -> tuple[int, dict[int, int]]:
        """Add ``story`` to its cluster; return that cluster's id and the indexed stories that
        moved to it (story id -> new cluster id), for the caller to store.

        When ``story`` reaches the threshold with members of several clusters and
        ``params.merge`` is on, they are one story told by several sources that came apart
        (each report echoed a different earlier one), so they become one cluster under the
        id of the one that began first (a cluster's id is its first story's). Why it is safe:
        it takes one story scoring above the threshold with each of them, the same evidence
        that joins a story to a cluster, and single link already accepts a chain of such
        links within one cluster. Measured: labelled set recall 0.787 -> 0.824 at precision
        0.983 -> 0.984, judged corpus pairs unchanged (``python -m bench.cluster``). Stories
        older than the index (two windows) keep their old id: Related and the digests look at
        recent ones.
        """
        sig = sig or _sig(story)
        scores = self._match(story, sig)
        moved: dict[int, int] = {}
        if not scores:
            cluster_id = story.id
        elif self.params.merge and len(scores) > 1:
            cluster_id = min(scores, key=self._age)
            for other in sorted(scores):
                if other != cluster_id:
                    moved.update(self._relabel(other, cluster_id))
        else:
            cluster_id = min(scores, key=lambda cid: (-scores[cid], cid))
        self.add(story, cluster_id, sig)
        return cluster_id, moved

    def _age(self, cluster_id: int) -> tuple[datetime, int]:
        """Sort key putting the cluster whose first story (its id) came first, first; a first
        story no longer indexed is older than any that is."""
        first = self._stories.get(cluster_id)
        return (first[0].published if first else _LONG_AGO), cluster_id

    def _relabel(self, old: int, new: int) -> dict[int, int]:
        """Move the indexed members of cluster ``old`` to ``new``; returns them."""
        members = self._members.pop(old, set())
        for sid in members:
            story, sig, _ = self._stories[sid]
            self._stories[sid] = (story, sig, new)
        self._members.setdefault(new, set()).update(members)
        return dict.fromkeys(members, new)


def cluster_all(
    stories: Sequence[StoryText], params: ClusterParams = ClusterParams()
) -> dict[int, int]:
    """Story id -> cluster id for a batch, in published order (ties by id), as ingest would.

    A cluster's id is its first story's id. For benchmarks, tests and re-clustering.
    """
    index = ClusterIndex(params)
    out: dict[int, int] = {}
    for story in sorted(stories, key=lambda s: (s.published, s.id)):
        out[story.id], moved = index.place(story)
        out.update(moved)
    return out
