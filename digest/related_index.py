"""The Related index: an in-memory BM25 over titles and summaries, one per language. Pure.

No I/O and no clock: it is fed :class:`~storage.articles.ArticleText` values and answers
:meth:`RelatedIndex.similar` with (article id, score) pairs. ``digest.related`` is its shell:
it loads rows from the store into it and reads the proposed ids back before listing them.

A candidate must share :data:`MIN_SHARED` tokens and score :data:`MIN_SCORE` of the story's
score against itself (scaled per language by :data:`LANGUAGE_FACTOR`), so that a Related list
ends rather than fills up with unrelated news; scores then decay with the time between stories.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeAlias

from digest.textsig import tokenize
from storage.articles import ArticleRow, ArticleText

__all__ = ["LANGUAGE_FACTOR", "MIN_SCORE", "MIN_SHARED", "RelatedIndex"]

MIN_SCORE = 0.15
"""Least share of the story's BM25 score against itself that a similar story must reach. On
``tests/data/cluster/labelled.json`` with a subject given by hand to each story (rates, quakes,
hockey...; ``python -m bench.related`` prints the sweep), in the five languages other than
Chinese, 0.15 finds 64 % of the pairs on one subject (231 of 362) against 17 pairs that are
not, most of them near subjects (a quake and a building collapse, a rate cut and the stock
market); 0.12 finds 74 % against 29, 0.20 finds 47 % against 10."""
LANGUAGE_FACTOR = {"zh": 0.55}
"""Scales :data:`MIN_SCORE` per language. Han text becomes overlapping bigrams, many across
word boundaries: they swell a story's score against itself but rarely match. On the same set,
Chinese at 0.0825 (0.15 x 0.55) finds 13 of 32 subject pairs against 1 other; at 0.15, 8."""
MIN_SHARED = 2
"""Stories sharing a single token (a name, a country) are not on one subject."""
TITLE_WEIGHT = 2
"""A title token counts as two summary tokens: the title names the subject."""
RECENCY_HALF_LIFE = timedelta(days=3)
"""Similar stories rank by score halved per three days between them and the story: a reader of
today's rate cut wants this week's rate news before last week's."""
K1, B = 1.2, 0.75
_SCALE = 1000  # BM25 term weights are stored as integers in thousandths
_MAX_WEIGHT = round((K1 + 1) * _SCALE)  # a term weight tends to K1 + 1 as tf grows
_COMPACT_SHARE = 0.25  # rebuild a language's postings once this share of its slots is dead


def _terms(title: str, summary: str, language: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for token in tokenize(title, language):
        counts[token] = counts.get(token, 0) + TITLE_WEIGHT
    for token in tokenize(summary, language):
        counts[token] = counts.get(token, 0) + 1
    return counts


def _tf_weight(tf: int, length: int, mean_length: float) -> float:
    return tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / mean_length))


_WEIGHT_BITS = 12  # a posting is one int: slot << 12 | weight
_WEIGHT_MASK = (1 << _WEIGHT_BITS) - 1
assert _MAX_WEIGHT <= _WEIGHT_MASK
_NARROW_SLOTS = 1 << (32 - _WEIGHT_BITS)  # below this many slots a posting fits 4 bytes
_SLOT_BITS = 32  # where an article is: shard number << 32 | slot
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_KEY_MASK = (1 << 60) - 1  # a key below 2**60 is a 32-byte int object


def token_key(token: str) -> int:
    """The key of ``token`` in a shard's postings: its string hash, cut to 60 bits.

    An int of 32 bytes where the token string took 57 (a short Latin word) to 78 (a Chinese
    bigram); the index lives in one process, whose string hashes do not change while it runs.
    Two of a language's 100,000-odd tokens share a key with a chance of about 1 in 10**8; if
    they do, stories sharing either count as sharing that token, which only blurs a score."""
    return hash(token) & _KEY_MASK


Postings: TypeAlias = "array[int] | int"
"""A token's postings, each one int ``slot << 12 | weight``: an array of them (4 bytes each while
the shard has under :data:`_NARROW_SLOTS` slots, else 8), or for a token of one story alone (a
name, most Chinese bigrams: about half of all tokens) that one int instead of a 64-byte array."""


def _each(postings: Postings) -> Sequence[int]:
    """The postings of a token, whichever form they take."""
    return (postings,) if isinstance(postings, int) else postings


def _typecode(slots: int) -> str:
    return "I" if slots <= _NARROW_SLOTS else "Q"


@dataclass(eq=False, slots=True)
class _Shard:
    """One language: postings token key -> (slot, weight), and per-slot columns.

    A slot is one indexed version of one article. Removing or re-indexing an article only marks
    its slot dead (postings are append-only arrays, 4 bytes per posting rather than ~70 in a
    dict); dead slots are skipped when scoring and dropped by :meth:`compact`. Document
    frequencies count dead slots too until then, which only blurs idf a little. ``keys`` holds
    each slot's text hash, which tells an edited text from one already indexed.
    """

    postings: dict[int, Postings] = field(default_factory=dict)
    ids: array[int] = field(default_factory=lambda: array("q"))
    published: array[float] = field(default_factory=lambda: array("d"))
    lengths: array[int] = field(default_factory=lambda: array("I"))
    keys: array[int] = field(default_factory=lambda: array("q"))
    alive: bytearray = field(default_factory=bytearray)
    total_length: int = 0
    dead: int = 0
    typecode: str = "I"  # of the postings arrays: "Q" once a posting no longer fits 4 bytes

    def add(
        self, article_id: int, published: float, key: int, terms: dict[str, int], mean: float
    ) -> int:
        """Append a slot; ``mean`` is the mean length with the caller's whole batch counted
        (a cold build's first stories would otherwise be weighed against a mean of a few)."""
        slot, length = len(self.ids), sum(terms.values())
        if slot >= _NARROW_SLOTS and self.typecode == "I":
            self._widen()
        self.ids.append(article_id)
        self.published.append(published)
        self.lengths.append(length)
        self.keys.append(key)
        self.alive.append(1)
        self.total_length += length
        postings, typecode, at = self.postings, self.typecode, slot << _WEIGHT_BITS
        for token, tf in terms.items():
            posting = at | round(_tf_weight(tf, length, mean) * _SCALE)
            token_at = token_key(token)
            known = postings.get(token_at)
            if known is None:
                postings[token_at] = posting
            elif isinstance(known, int):
                postings[token_at] = array(typecode, (known, posting))
            else:
                known.append(posting)
        return slot

    def _widen(self) -> None:
        """Postings of 8 bytes from now on: slot numbers have outgrown 4-byte postings."""
        self.typecode = "Q"
        for token_at, postings in self.postings.items():
            if not isinstance(postings, int):
                self.postings[token_at] = array("Q", postings)

    def compact(self) -> list[int]:
        """Drop dead slots and renumber; returns old slot -> new slot (-1: dropped).
        O(postings)."""
        keep = [slot for slot, alive in enumerate(self.alive) if alive]
        renumber = [-1] * len(self.ids)
        for new, old in enumerate(keep):
            renumber[old] = new
        self.typecode = _typecode(len(keep))
        for token_at, postings in list(self.postings.items()):
            kept = array(self.typecode)
            for posting in _each(postings):
                slot = renumber[posting >> _WEIGHT_BITS]
                if slot >= 0:
                    kept.append(slot << _WEIGHT_BITS | posting & _WEIGHT_MASK)
            if len(kept) > 1:
                self.postings[token_at] = kept
            elif kept:
                self.postings[token_at] = kept[0]
            else:
                del self.postings[token_at]
        self.ids = array("q", (self.ids[s] for s in keep))
        self.published = array("d", (self.published[s] for s in keep))
        self.lengths = array("I", (self.lengths[s] for s in keep))
        self.keys = array("q", (self.keys[s] for s in keep))
        self.alive = bytearray([1]) * len(keep)
        self.total_length, self.dead = sum(self.lengths), 0
        return renumber


class RelatedIndex:
    """In-memory BM25 over title+summary of stored articles, one per language.

    Scores are normalised by the story's score against itself, so one threshold serves short
    and long texts and (scaled for Chinese) every language. Thread-safe: one lock, held per
    call (per language when compacting), with text tokenised outside it, so that loading and
    pruning never hold up a reader for long.

    Memory (``python -m bench.memory``): where each article is indexed is two flat arrays
    sorted by id (16 bytes an article, against about 230 in a dict of tuples), its text hash a
    column of its shard, and a token of one story a single int; tokens are 60-bit keys
    (:func:`token_key`) rather than strings, and a posting is 4 bytes. 50,000 articles take
    24 MiB by tracemalloc (60, then 37 before; ``python -m bench.related``), most of it the
    postings arrays (a 64-byte header each), the keys and the dict tables.
    """

    def __init__(
        self, *, max_age: timedelta = timedelta(days=14), min_score: float = MIN_SCORE
    ) -> None:
        self.max_age = max_age
        self.min_score = min_score
        self._shards: dict[str, _Shard] = {}
        self._numbers: dict[str, int] = {}  # language -> shard number
        self._languages: list[str] = []  # shard number -> language
        self._ids = array("q")  # indexed article ids, ascending
        self._where = array("q")  # beside each: shard number << 32 | slot
        self._newest = 0.0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def _find(self, article_id: int) -> int:
        """The position of ``article_id`` in ``_ids``, or -1."""
        at = bisect_left(self._ids, article_id)
        return at if at < len(self._ids) and self._ids[at] == article_id else -1

    def _located(self, at: int) -> tuple[_Shard, int]:
        where = self._where[at]
        return self._shards[self._languages[where >> _SLOT_BITS]], where & _SLOT_MASK

    def add(self, rows: Iterable[ArticleText | ArticleRow]) -> None:
        """Index ``rows``; an article already indexed with the same text is skipped, one whose
        title or summary changed replaces its old tokens. Rows older than ``max_age`` before
        the newest indexed story are skipped (they could never be listed)."""
        rows = list(rows)
        with self._lock:  # positions in _ids move as other calls add and prune
            known = [self._key_of(row.id) for row in rows]
        prepared = []
        for row, old in zip(rows, known, strict=True):
            key = hash((row.language, row.title, row.summary))
            if old != key:
                terms = _terms(row.title, row.summary, row.language)
                prepared.append((row, key, row.published_at.timestamp(), terms))
        with self._lock:
            self._newest = max([self._newest, *(published for _, _, published, _ in prepared)])
            batch = [p for p in prepared if p[2] >= self._newest - self.max_age.total_seconds()]
            lengths: dict[str, list[int]] = {}
            for row, _, _, terms in batch:
                lengths.setdefault(row.language, []).append(sum(terms.values()))
            means = {}
            for language, mine in lengths.items():
                shard = self._shard(language)
                means[language] = (shard.total_length + sum(mine)) / (len(shard.ids) + len(mine))
            for row, key, published, terms in batch:
                shard = self._shards[row.language]
                slot = shard.add(row.id, published, key, terms, means[row.language])
                self._place(row.id, self._numbers[row.language] << _SLOT_BITS | slot)

    def _key_of(self, article_id: int) -> int | None:
        """The text hash ``article_id`` is indexed with, None if it is not; under the lock."""
        at = self._find(article_id)
        if at < 0:
            return None
        shard, slot = self._located(at)
        return shard.keys[slot]

    def _shard(self, language: str) -> _Shard:
        shard = self._shards.get(language)
        if shard is None:
            shard = self._shards[language] = _Shard()
            self._numbers[language] = len(self._languages)
            self._languages.append(language)
        return shard

    def _place(self, article_id: int, where: int) -> None:
        """Record where ``article_id`` now is; the slot it had before (if any) dies."""
        at = bisect_left(self._ids, article_id)
        if at < len(self._ids) and self._ids[at] == article_id:
            self._kill(at)
            self._where[at] = where
        elif at == len(self._ids):  # the usual case: ids grow
            self._ids.append(article_id)
            self._where.append(where)
        else:
            self._ids.insert(at, article_id)
            self._where.insert(at, where)

    def _kill(self, at: int) -> None:
        shard, slot = self._located(at)
        shard.alive[slot] = 0
        shard.dead += 1

    def remove_older_than(self, before: datetime) -> int:
        """Forget articles published before ``before``; returns how many. O(articles), plus
        O(postings) for a language whose dead slots reach :data:`_COMPACT_SHARE`."""
        limit = before.timestamp()
        with self._lock:
            kept_ids, kept_where = array("q"), array("q")
            removed = 0
            for at, article_id in enumerate(self._ids):
                shard, slot = self._located(at)
                if shard.published[slot] < limit:
                    self._kill(at)
                    removed += 1
                else:
                    kept_ids.append(article_id)
                    kept_where.append(self._where[at])
            if removed:
                self._ids, self._where = kept_ids, kept_where
            due = [lang for lang, shard in self._shards.items() if shard.dead > 0]
        for language in due:  # one language per hold of the lock: readers wait for one at most
            with self._lock:
                shard = self._shards[language]
                if shard.dead > _COMPACT_SHARE * len(shard.ids):
                    number = self._numbers[language]
                    renumber = shard.compact()
                    for at, place in enumerate(self._where):
                        if place >> _SLOT_BITS == number:
                            new = renumber[place & _SLOT_MASK]
                            self._where[at] = number << _SLOT_BITS | new
        return removed

    def similar(
        self,
        article: ArticleRow,
        languages: Collection[str],
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[tuple[int, float]]:
        """Stories on the subject of ``article``: (article id, score), best first.

        Only stories in ``article``'s language (BM25 cannot compare across languages), and
        none if that language is not in ``languages``; never ``article`` itself. A story
        must reach ``min_score`` (BM25 over the story's own score); its score is then halved
        per :data:`RECENCY_HALF_LIFE` between the two. O(postings of the story's tokens).
        """
        if article.language not in languages or limit <= 0:
            return []
        terms = _terms(article.title, article.summary, article.language)
        length, skip = sum(terms.values()), {article.id, *exclude}
        with self._lock:
            shard = self._shards.get(article.language)
            if shard is None or not shard.ids:
                return []
            slots = len(shard.ids)
            mean = shard.total_length / slots
            itself, looked_up = 0.0, []
            for token, tf in terms.items():
                postings = shard.postings.get(token_key(token))
                found_in = _each(postings) if postings is not None else ()
                df = len(found_in)
                idf = math.log(1 + (slots - df + 0.5) / (df + 0.5))
                itself += idf * _tf_weight(tf, length, mean)
                if found_in:
                    looked_up.append((found_in, idf))
            floor = self.min_score * LANGUAGE_FACTOR.get(article.language, 1.0) * itself
            # Count shared tokens only if one token alone could reach the floor (short texts,
            # mostly): a stored weight is at most _MAX_WEIGHT, so a term adds at most that x idf.
            most = _MAX_WEIGHT / _SCALE * max((idf for _, idf in looked_up), default=0.0)
            count = floor <= most
            scores: dict[int, float] = {}
            shared: Counter[int] = Counter()
            get = scores.get
            for found_in, idf in looked_up:
                scale = idf / _SCALE
                for posting in found_in:
                    slot = posting >> _WEIGHT_BITS
                    scores[slot] = get(slot, 0.0) + (posting & _WEIGHT_MASK) * scale
                if count:
                    shared.update([posting >> _WEIGHT_BITS for posting in found_in])
            oldest = self._newest - self.max_age.total_seconds()
            seed_time = article.published_at.timestamp()
            half_life = RECENCY_HALF_LIFE.total_seconds()
            found = []
            for slot, score in scores.items():
                if score < floor or (count and shared[slot] < MIN_SHARED) or not shard.alive[slot]:
                    continue
                article_id, published = shard.ids[slot], shard.published[slot]
                if article_id not in skip and published >= oldest:
                    decay = 0.5 ** (abs(published - seed_time) / half_life)
                    found.append((article_id, score / itself * decay))
        found.sort(key=lambda hit: (-hit[1], -hit[0]))
        return found[:limit]
