"""Same-story pairs judged on the shared corpus's real feeds, for ``python -m bench.cluster``.

``bench/data/related_pairs.json`` holds references only (feed file, the item's key as
:func:`digest.parse.parse_feed` computes it with the file's ``base_url``, its link), a label
and a note per pair; the titles and summaries are read from ``../shared/corpus/feeds/real`` at
run time, so no feed text is copied into the repository. Without the corpus the bench says so
and skips this part.

Every item of every feed a pair names is clustered, in published order, as ingest would meet
them (about 700 stories, so a pair can also be split by a third story joining the wrong way).
A feed's source is its publisher in the corpus's ``MANIFEST.csv`` (the three tagesschau feeds
are one source, so are the two heise and the two New York Times feeds); its language is the
feed's own, else the manifest's.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from digest.cluster import StoryText
from digest.parse import parse_feed

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "bench" / "data" / "related_pairs.json"
CORPUS = ROOT.parent / "shared" / "corpus"
_LANGUAGES = {"English": "en", "German": "de", "French": "fr", "Hindi": "hi", "Arabic": "ar"}
_LANGUAGES |= {"Chinese": "zh"}


@dataclass(frozen=True, slots=True)
class Pair:
    """Two story ids, whether they are one story, and how that was judged."""

    a: int
    b: int
    same: bool
    note: str
    cross_language: bool


@dataclass(frozen=True, slots=True)
class PairScores:
    """Pairwise precision/recall over the judged pairs, and B-cubed over their items."""

    precision: float
    recall: float
    positives: int
    negatives: int
    bcubed_precision: float
    bcubed_recall: float
    missed: tuple[Pair, ...]
    wrong: tuple[Pair, ...]


def _manifest(feeds: Path) -> dict[str, tuple[str, str]]:
    with (feeds / "MANIFEST.csv").open(encoding="utf-8", newline="") as f:
        return {row["file"]: (row["publisher"], row["language"]) for row in csv.DictReader(f)}


def load_pairs(
    corpus: Path = CORPUS, path: Path = PAIRS
) -> tuple[list[StoryText], list[Pair]] | None:
    """Every story of the feeds the pairs name, and the pairs; None without the corpus."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    feeds = corpus / doc["corpus"]
    if not (feeds / "MANIFEST.csv").is_file():
        return None
    manifest = _manifest(feeds)
    names = sorted({p[side]["feed"] for p in doc["pairs"] for side in ("a", "b")})
    now = datetime(2030, 1, 1, tzinfo=UTC)  # after every item: no date is capped
    stories: list[StoryText] = []
    ids: dict[tuple[str, str], int] = {}
    for name in names:
        body = (feeds / name).read_bytes()
        if name.endswith(".gz"):
            body = gzip.decompress(body)
        parsed = parse_feed(body, url=doc["base_url"], now=now)
        publisher, language_name = manifest[name]
        language = parsed.language or _LANGUAGES.get(language_name, "")
        for entry in parsed.entries:
            sid = len(stories) + 1
            ids[(name, entry.key)] = sid
            stories.append(
                StoryText(sid, publisher, language, entry.title, entry.summary, entry.published)
            )
    by_id = {s.id: s for s in stories}
    pairs: list[Pair] = []
    for p in doc["pairs"]:
        a = ids[(p["a"]["feed"], p["a"]["key"])]
        b = ids[(p["b"]["feed"], p["b"]["key"])]
        cross = by_id[a].language != by_id[b].language
        pairs.append(Pair(a, b, bool(p["same"]), p["note"], cross))
    return stories, pairs


def score_pairs(clusters: Mapping[int, int], pairs: Sequence[Pair]) -> PairScores:
    """Pairwise figures over ``pairs``; B-cubed over their items, the truth being the
    connected groups of the positive pairs (an unjudged pair counts as two stories)."""
    predicted = [clusters[p.a] == clusters[p.b] for p in pairs]
    hits = sum(1 for p, same in zip(pairs, predicted, strict=True) if same and p.same)
    n_pred = sum(predicted)
    positives = sum(1 for p in pairs if p.same)
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for p in pairs:
        root(p.a), root(p.b)
        if p.same:
            parent[root(p.a)] = root(p.b)
    items = sorted(parent)
    truth = {i: root(i) for i in items}
    members: dict[int, list[int]] = defaultdict(list)
    label_size: dict[int, int] = defaultdict(int)
    for i in items:
        members[clusters[i]].append(i)
        label_size[truth[i]] += 1
    b_p = b_r = 0.0
    for i in items:
        same = sum(1 for j in members[clusters[i]] if truth[j] == truth[i])
        b_p += same / len(members[clusters[i]])
        b_r += same / label_size[truth[i]]
    n = len(items) or 1
    return PairScores(
        precision=hits / n_pred if n_pred else 1.0,
        recall=hits / positives if positives else 1.0,
        positives=positives,
        negatives=len(pairs) - positives,
        bcubed_precision=b_p / n,
        bcubed_recall=b_r / n,
        missed=tuple(p for p, s in zip(pairs, predicted, strict=True) if p.same and not s),
        wrong=tuple(p for p, s in zip(pairs, predicted, strict=True) if s and not p.same),
    )


def languages(pairs: Sequence[Pair], stories: Sequence[StoryText]) -> dict[str, int]:
    """How many judged pairs per language pair ("de", "en", "de/en")."""
    lang = {s.id: s.language for s in stories}
    out: dict[str, int] = defaultdict(int)
    for p in pairs:
        out["/".join(sorted({lang[p.a], lang[p.b]}))] += 1
    return dict(out)


__all__ = ["CORPUS", "PAIRS", "Pair", "PairScores", "languages", "load_pairs", "score_pairs"]
