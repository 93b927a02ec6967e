"""How well and how fast ``digest.cluster`` groups the same story: ``python -m bench.cluster``.

Data: ``tests/data/cluster/labelled.json``, hand-written items in six languages, each with a
story label (two items share a label when they report the same event; a next-day development
is a new story). Hard cases are marked in each item's ``note``.

Quality is pairwise: over all pairs of items of one language (labels are per language), a pair
is predicted positive when both land in one cluster and truly positive when both carry one
label; precision, recall and F1 follow. Pairs of two languages are scored apart, against the
file's ``across_languages`` groups (one event told in several languages).
B-cubed precision and recall (per item: the share of its cluster that has its label, and the
share of its label that is in its cluster, averaged over items) are printed beside them.
``cluster_all`` runs with the default ``ClusterParams`` unless a sweep overrides it.

Corpus pairs (``bench.corpus_pairs``): 300+ same-story / different-story pairs judged on the real
feeds in ``../shared/corpus`` (German, English, and German/English across languages), scored
pairwise and B-cubed the same way, with the pairs missed and wrongly merged listed by
``--errors``. Skipped, with a message, when the corpus is absent.

Speed: for each language, the items are replicated with shifted ids, times and source ids
into 2,000 candidates of that language within the window, as ingest would pass them; each
original item is then matched against them with ``find_cluster`` (precomputed signatures) and
with ``ClusterIndex.match``; the median over items is printed in microseconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from bench.corpus_pairs import CORPUS, languages, load_pairs, score_pairs
from digest.cluster import (
    ClusterIndex,
    ClusterParams,
    StoryText,
    cluster_all,
    find_cluster,
    signature,
    similarity,
)

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "cluster" / "labelled.json"
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
CANDIDATES = 2_000


@dataclass(frozen=True, slots=True)
class Scores:
    """Pairwise and B-cubed figures for one clustering of the labelled set."""

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    bcubed_precision: float
    bcubed_recall: float


def load_labelled(path: Path = LABELLED) -> tuple[list[StoryText], dict[int, str]]:
    """The labelled items as StoryText, and story id -> label."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    stories: list[StoryText] = []
    labels: dict[int, str] = {}
    for item in doc["items"]:
        published = datetime.fromisoformat(item["published"].replace("Z", "+00:00"))
        stories.append(
            StoryText(
                id=item["id"],
                source_id=item["source"],
                language=item["language"],
                title=item["title"],
                summary=item["summary"],
                published=published,
            )
        )
        labels[item["id"]] = item["label"]
    return stories, labels


Keep = Callable[[int, int], bool]


def _pairs(
    groups: Mapping[int, object], ids: Iterable[int], keep: Keep | None = None
) -> set[tuple[int, int]]:
    by_group: dict[object, list[int]] = defaultdict(list)
    for sid in sorted(ids):
        by_group[groups[sid]].append(sid)
    return {
        pair
        for members in by_group.values()
        for pair in itertools.combinations(members, 2)
        if keep is None or keep(*pair)
    }


def same_language(stories: Sequence[StoryText]) -> Keep:
    """Keep pairs of one language: how the labelled set was written and first scored."""
    language = {s.id: s.language for s in stories}
    return lambda a, b: language[a] == language[b]


def across_languages(stories: Sequence[StoryText]) -> Keep:
    """Keep pairs of two languages (scored against :func:`load_across` labels)."""
    language = {s.id: s.language for s in stories}
    return lambda a, b: language[a] != language[b]


def load_across(labels: Mapping[int, str], path: Path = LABELLED) -> dict[int, str]:
    """``labels`` with the labels the file's ``across_languages`` groups merged into one."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    merged = {label: group[0] for group in doc.get("across_languages", ()) for label in group}
    return {sid: merged.get(label, label) for sid, label in labels.items()}


def score(
    clusters: Mapping[int, int], labels: Mapping[int, str], keep: Keep | None = None
) -> Scores:
    """Pairwise and B-cubed precision/recall of ``clusters`` against ``labels``, over the
    pairs ``keep`` accepts (all pairs if None)."""
    ids = list(clusters)
    predicted = _pairs(clusters, ids, keep)
    true = _pairs(labels, ids, keep)
    hits = len(predicted & true)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    members: dict[int, list[int]] = defaultdict(list)
    by_label: dict[str, list[int]] = defaultdict(list)
    for sid, cid in clusters.items():
        members[cid].append(sid)
        by_label[labels[sid]].append(sid)
    b_p = b_r = 0.0
    for sid in ids:
        mates = [o for o in members[clusters[sid]] if o == sid or keep is None or keep(sid, o)]
        kin = [o for o in by_label[labels[sid]] if o == sid or keep is None or keep(sid, o)]
        same = sum(1 for other in mates if labels[other] == labels[sid])
        b_p += same / len(mates)
        b_r += same / len(kin)
    n = len(ids) or 1
    return Scores(precision, recall, f1, len(true), len(predicted), b_p / n, b_r / n)


def wrong_merges(
    stories: Sequence[StoryText], clusters: Mapping[int, int], labels: Mapping[int, str]
) -> list[tuple[StoryText, StoryText]]:
    """Pairs put in one cluster that carry different labels (for reading, not scoring)."""
    by_id = {s.id: s for s in stories}
    return [
        (by_id[a], by_id[b])
        for a, b in sorted(_pairs(clusters, clusters) - _pairs(labels, clusters))
    ]


def cluster_average_link(stories: Sequence[StoryText], params: ClusterParams) -> dict[int, int]:
    """The alternative to single link, for comparison: join the cluster whose eligible members
    score highest on average (time-discounted), if that average reaches the threshold."""
    sigs = {s.id: signature(s.title, s.summary, s.language) for s in stories}
    placed: list[tuple[StoryText, int]] = []
    out: dict[int, int] = {}
    for new in sorted(stories, key=lambda s: (s.published, s.id)):
        scores: dict[int, list[float]] = defaultdict(list)
        for old, cid in placed:
            if (
                old.language == new.language
                and old.source_id != new.source_id
                and abs(old.published - new.published) <= params.window
            ):
                sim = similarity(sigs[new.id], sigs[old.id])
                scores[cid].append(params.score(sim, new, old))
        means = {cid: sum(v) / len(v) for cid, v in scores.items()}
        best = max(means, key=lambda cid: (means[cid], -cid), default=None)
        cid = best if best is not None and means[best] >= params.threshold else new.id
        out[new.id] = cid
        placed.append((new, cid))
    return out


def held_out(
    stories: Sequence[StoryText], labels: Mapping[int, str], params: ClusterParams
) -> list[tuple[str, float, Scores]]:
    """Per language: the threshold the other languages would pick, and its score on this one.

    A check on over-fitting the threshold to the set it is measured on.
    """
    grid = [round(0.2 + 0.02 * i, 2) for i in range(11)]
    runs = {t: cluster_all(stories, replace(params, threshold=t)) for t in grid}
    out: list[tuple[str, float, Scores]] = []
    for language in sorted({s.language for s in stories}):
        train = [s.id for s in stories if s.language != language]
        test = [s.id for s in stories if s.language == language]
        keep = same_language(stories)
        ok = [
            t for t in grid if score({i: runs[t][i] for i in train}, labels, keep).precision >= 0.95
        ]
        threshold = min(ok) if ok else grid[-1]
        out.append((language, threshold, score({i: runs[threshold][i] for i in test}, labels)))
    return out


def replicate(stories: Sequence[StoryText], language: str, n: int) -> list[tuple[StoryText, int]]:
    """``n`` candidates of one language: copies with new ids, sources and times (within 30 h)."""
    base = [s for s in stories if s.language == language]
    anchor = min(s.published for s in base)
    out: list[tuple[StoryText, int]] = []
    for k in itertools.count(1):
        for s in base:
            if len(out) == n:
                return out
            sid = k * 100_000 + s.id
            shift = timedelta(minutes=(k * 37) % (30 * 60))
            copy = replace(s, id=sid, source_id=f"{s.source_id}#{k}", published=anchor + shift)
            out.append((copy, sid))
    return out


def time_matching(stories: Sequence[StoryText]) -> dict[str, tuple[float, float, float]]:
    """Per language: median µs of find_cluster (precomputed), index match, and signature."""
    out: dict[str, tuple[float, float, float]] = {}
    for language in sorted({s.language for s in stories}):
        candidates = replicate(stories, language, CANDIDATES)
        sigs = {c.id: signature(c.title, c.summary, c.language) for c, _ in candidates}
        index = ClusterIndex(ClusterParams(window=timedelta(days=365)))
        for c, cid in candidates:
            index.add(c, cid, sigs[c.id])
        params = ClusterParams(window=timedelta(days=365))
        linear: list[float] = []
        indexed: list[float] = []
        signing: list[float] = []
        probes = [s for s in stories if s.language == language]
        for s in probes:
            t0 = time.perf_counter()
            sig = signature(s.title, s.summary, s.language)
            t1 = time.perf_counter()
            sigs[s.id] = sig
            find_cluster(s, candidates, params, signatures=sigs)
            t2 = time.perf_counter()
            index.match(s, sig)
            t3 = time.perf_counter()
            signing.append((t1 - t0) * 1e6)
            linear.append((t2 - t1) * 1e6)
            indexed.append((t3 - t2) * 1e6)
        out[language] = (
            statistics.median(linear),
            statistics.median(indexed),
            statistics.median(signing),
        )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Print quality at the default threshold, a sweep, per-language figures and timing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=LABELLED)
    parser.add_argument("--errors", action="store_true", help="list wrong merges")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the shared corpus")
    args = parser.parse_args(argv)

    stories, labels = load_labelled(args.data)
    params = ClusterParams()
    print(f"items {len(stories)}, labels {len(set(labels.values()))}, params {params}")
    clusters = cluster_all(stories, params)
    keep = same_language(stories)
    s = score(clusters, labels, keep)
    print(
        "pairs of one language (as the set was written): "
        f"pairwise precision {s.precision:.3f} recall {s.recall:.3f} F1 {s.f1:.3f} "
        f"(true pairs {s.true_pairs}, predicted {s.predicted_pairs}); "
        f"B-cubed precision {s.bcubed_precision:.3f} recall {s.bcubed_recall:.3f}"
    )
    x = score(clusters, load_across(labels, args.data), across_languages(stories))
    print(
        f"pairs of two languages (one event per across_languages group): precision "
        f"{x.precision:.3f} recall {x.recall:.3f} (true pairs {x.true_pairs}, "
        f"predicted {x.predicted_pairs})"
    )

    print("\nthreshold sweep (pairwise P / R / F1, B-cubed P / R)")
    for threshold in SWEEP:
        swept = score(cluster_all(stories, replace(params, threshold=threshold)), labels, keep)
        mark = " <- default" if threshold == params.threshold else ""
        print(
            f"  {threshold:4.2f}  {swept.precision:.3f} / {swept.recall:.3f} / {swept.f1:.3f}"
            f"   {swept.bcubed_precision:.3f} / {swept.bcubed_recall:.3f}{mark}"
        )

    unmerged = score(cluster_all(stories, replace(params, merge=False)), labels, keep)
    print(
        f"  without merging the clusters one story links (merge=False) at "
        f"{params.threshold:.2f}: {unmerged.precision:.3f} / {unmerged.recall:.3f} / "
        f"{unmerged.f1:.3f}"
    )
    plain = score(cluster_all(stories, replace(params, time_decay=0.0)), labels, keep)
    print(
        f"  without the time discount (time_decay=0) at {params.threshold:.2f}: "
        f"{plain.precision:.3f} / {plain.recall:.3f} / {plain.f1:.3f}"
    )
    print("  sensitivity (pairwise P / R, one knob changed):")
    for label, changed in _knobs(params):
        knob = score(cluster_all(stories, changed), labels, keep)
        print(f"    {label:24s} {knob.precision:.3f} / {knob.recall:.3f}")
    print("  average link instead of single link (pairwise P / R / F1):")
    for threshold in (0.15, 0.2, 0.25, 0.3):
        averaged = cluster_average_link(stories, replace(params, threshold=threshold))
        avg = score(averaged, labels, keep)
        print(f"    {threshold:4.2f}  {avg.precision:.3f} / {avg.recall:.3f} / {avg.f1:.3f}")

    print("\nheld out: the threshold five languages pick (least with P >= 0.95), on the sixth")
    for language, threshold, held in held_out(stories, labels, params):
        print(f"  {language}  {threshold:.2f}  {held.precision:.3f} / {held.recall:.3f}")

    print("\nper language (items, labels, pairwise P / R / F1)")
    for language in sorted({st.language for st in stories}):
        ids = [st.id for st in stories if st.language == language]
        sub = score({i: clusters[i] for i in ids}, labels)
        n_labels = len({labels[i] for i in ids})
        print(
            f"  {language}  {len(ids):3d} {n_labels:3d}  "
            f"{sub.precision:.3f} / {sub.recall:.3f} / {sub.f1:.3f}"
        )

    if args.errors:
        print("\nwrong merges")
        for a, b in wrong_merges(stories, clusters, labels):
            print(f"  [{labels[a.id]}] {a.title}\n  [{labels[b.id]}] {b.title}\n")

    corpus_report(args.corpus, params, errors=args.errors)

    if not args.no_timing:
        print(f"\nmedian µs per new story against {CANDIDATES:,} same-language candidates")
        print("  lang  find_cluster (precomputed)  ClusterIndex.match  signature()")
        for language, (linear, indexed, signing) in time_matching(stories).items():
            print(f"  {language}    {linear:10.0f}              {indexed:10.0f}    {signing:8.0f}")


def _knobs(params: ClusterParams) -> list[tuple[str, ClusterParams]]:
    """The default and one-knob variations of it, to show how much each knob matters."""
    return [
        ("default", params),
        ("merge=False", replace(params, merge=False)),
        ("time_decay=0.4", replace(params, time_decay=0.4)),
        ("time_decay=0.8", replace(params, time_decay=0.8)),
        ("grace=3h", replace(params, grace=timedelta(hours=3))),
        ("grace=12h", replace(params, grace=timedelta(hours=12))),
        ("window=24h", replace(params, window=timedelta(hours=24))),
        ("window=48h", replace(params, window=timedelta(hours=48))),
    ]


def corpus_report(corpus: Path, params: ClusterParams, *, errors: bool = False) -> None:
    """Print the figures on the judged pairs of the shared corpus, or why they are skipped."""
    loaded = load_pairs(corpus)
    if loaded is None:
        print(f"\ncorpus pairs: skipped, no corpus at {corpus}")
        return
    stories, pairs = loaded
    clusters = cluster_all(stories, params)
    s = score_pairs(clusters, pairs)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(languages(pairs, stories).items()))
    print(
        f"\ncorpus pairs: {s.positives} same-story and {s.negatives} different-story pairs "
        f"({counts}) among {len(stories)} stories"
    )
    print(
        f"  pairwise precision {s.precision:.3f} recall {s.recall:.3f}; "
        f"B-cubed precision {s.bcubed_precision:.3f} recall {s.bcubed_recall:.3f}"
    )
    same = [p for p in pairs if not p.cross_language]
    one = score_pairs(clusters, same)
    print(f"  same language only: precision {one.precision:.3f} recall {one.recall:.3f}")
    for threshold in SWEEP:
        swept = score_pairs(cluster_all(stories, replace(params, threshold=threshold)), pairs)
        mark = " <- default" if threshold == params.threshold else ""
        print(f"    {threshold:4.2f}  {swept.precision:.3f} / {swept.recall:.3f}{mark}")
    print("  sensitivity (pairwise P / R, one knob changed):")
    for label, changed in _knobs(params):
        swept = score_pairs(cluster_all(stories, changed), pairs)
        print(f"    {label:24s} {swept.precision:.3f} / {swept.recall:.3f}")
    if errors:
        by_id = {st.id: st for st in stories}
        for title, listed in (("missed", s.missed), ("wrongly merged", s.wrong)):
            print(f"  {title}:")
            for p in listed:
                print(f"    {by_id[p.a].title}\n    {by_id[p.b].title}\n      ({p.note})")


if __name__ == "__main__":
    main()
