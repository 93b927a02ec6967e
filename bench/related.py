"""How fast and how apt "Related" is over a full store: ``python -m bench.related``.

Data: ``--articles`` (50,000) generated articles in a fresh, migrated SQLite database in a temp
dir, published over the 14 days before a fixed ``NOW`` by ``--sources`` (60) sources in six
languages (shares as ``bench.ingest``: English 40 %, German and French 15 %, Hindi, Arabic and
Chinese 10 %). Text is built as ``bench.ingest`` builds it (pseudo-words in each language's
script from a Zipf vocabulary calibrated there on real feeds, plus real function words), with
one more level: every story (event) belongs to one of :data:`SUBJECTS` subjects per language
and draws four of its seven key words from the subject's eight, three from a pool of
:data:`NAMES` rarer words (people, places: what makes a story its own). An event is told by 1-4
sources within three hours, and those tellings share a cluster id, as ingest would have done.

Measured:

* **Threshold** (first, no database): ``tests/data/cluster/labelled.json`` (226 hand-written
  stories in six languages, labelled by story) with a subject given by hand to each label
  (:data:`LABELLED_SUBJECTS`: rate decisions, quakes, hockey...; a label not listed is its own
  subject). Every story is indexed at one time (no recency discount) and queried; each pair
  found is the same story, the same subject, or other. Per language and threshold: the
  subject pairs found (of those sharing two tokens), and the other pairs (false ones).

* **Refresh**: ``RelatedFinder.refresh`` on an empty index (the cold build: reads the whole
  window from the database in pages, tokenises, indexes), wall and CPU seconds; after 300 more
  articles were stored (one ingest pass); with nothing new (what a call before each
  ``related()`` costs); and four days later, which scans for edits, prunes what left the
  window and compacts the postings (each language's locked meanwhile).
* **Memory** of the index: ``tracemalloc``'s current and peak over a second, untimed cold
  build (tracemalloc slows everything down, so it never runs during timing).
* **Latency** of ``related()`` (8 stories, the reader's languages are the story's and one
  other) for ``--queries`` random stored articles: p50, p95, p99 in ms (target p95 < 50 ms);
  ``RelatedIndex.similar`` alone, likewise.
* **Aptness**: the share of "similar" lines on the story's subject (generated ground truth),
  how many lists have any, and the mean count of each part; and a check that no list holds
  the story itself, a repeated id or a repeated cluster.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.pseudowords import FUNCTION_WORDS, SYLLABLES
from digest.related import LANGUAGE_FACTOR, MIN_SCORE, RelatedFinder, RelatedIndex
from storage.articles import ArticleInput, ArticleRow, ArticleStore
from storage.db import make_engine, migrate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
TARGET_P95_MS = 50.0
LANGUAGE_WEIGHTS = {"en": 40, "de": 15, "fr": 15, "hi": 10, "ar": 10, "zh": 10}
OTHER_LANGUAGE = {"en": "fr", "fr": "en", "de": "en", "hi": "en", "ar": "en", "zh": "en"}
SUBJECTS = 150
SUBJECT_WORDS = 8
NAMES = 20_000
VOCABULARY_SIZE = 4000
ZIPF_EXPONENT = 0.6


class Language:
    """A pseudo-vocabulary for one language ranked by frequency, and its subjects' words."""

    def __init__(self, code: str, rng: random.Random) -> None:
        self.code = code
        words: dict[str, None] = {}
        while len(words) < VOCABULARY_SIZE + NAMES:
            n = rng.randint(2, 3) if code != "ar" else rng.randint(3, 6)
            n += len(words) >= VOCABULARY_SIZE  # names are a little longer
            word = "".join(rng.choices(SYLLABLES[code], k=n))
            words["ال" + word if code == "ar" and rng.random() < 0.3 else word] = None
        self.words = list(words)[:VOCABULARY_SIZE]
        self.names = list(words)[VOCABULARY_SIZE:]
        self.cum = list(
            itertools.accumulate(1 / (r + 1) ** ZIPF_EXPONENT for r in range(len(self.words)))
        )
        self.subjects = [rng.sample(self.names, SUBJECT_WORDS) for _ in range(SUBJECTS)]

    def common(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)

    def sentence(self, words: list[str], rng: random.Random) -> str:
        mixed: list[str] = []
        for word in words:
            mixed.append(word)
            if rng.random() < 0.35:
                mixed.append(rng.choice(FUNCTION_WORDS[self.code]))
        return "".join(mixed) if self.code == "zh" else " ".join(mixed)


@dataclass(frozen=True, slots=True)
class Event:
    language: str
    subject: int
    key_words: tuple[str, ...]
    at: datetime


def _event(lang: Language, rng: random.Random) -> Event:
    subject = rng.randrange(SUBJECTS)
    own = rng.sample(lang.names, 3)
    shared = rng.sample(lang.subjects[subject], 4)
    at = NOW - timedelta(minutes=rng.randint(200, int(WINDOW.total_seconds() // 60) - 60))
    return Event(lang.code, subject, tuple(shared + own), at)


def _telling(event: Event, lang: Language, rng: random.Random, key: str) -> ArticleInput:
    title = rng.sample(event.key_words, rng.randint(3, 4)) + lang.common(rng, rng.randint(2, 4))
    summary = rng.sample(event.key_words, rng.randint(2, 4)) + lang.common(rng, rng.randint(8, 16))
    rng.shuffle(title)
    rng.shuffle(summary)
    return ArticleInput(
        entry_key=key,
        url=f"https://news.example/{key}",
        title=lang.sentence(title, rng),
        summary=lang.sentence(summary, rng),
        image_url=None,
        published_at=min(NOW, event.at + timedelta(minutes=rng.randint(0, 180))),
        language=event.language,
        categories=("national",),
    )


def populate(
    store: ArticleStore, articles: int, sources: int, seed: int, stored_at: datetime, batch: str
) -> dict[int, int]:
    """Store ``articles`` generated articles with their clusters, as ingest would have at
    ``stored_at``; returns article id -> subject. ``batch`` keeps entry keys apart."""
    rng = random.Random(seed)
    langs = {code: Language(code, rng) for code in LANGUAGE_WEIGHTS}
    by_language: dict[str, list[str]] = {code: [] for code in LANGUAGE_WEIGHTS}
    for i in range(sources):
        code = list(LANGUAGE_WEIGHTS)[i % len(LANGUAGE_WEIGHTS)]
        if i >= len(LANGUAGE_WEIGHTS):
            code = rng.choices(list(LANGUAGE_WEIGHTS), weights=list(LANGUAGE_WEIGHTS.values()))[0]
        by_language[code].append(f"{code}-src{i}")
    pending: dict[str, list[tuple[ArticleInput, int, int]]] = {}
    made = 0
    for event_no in itertools.count():
        if made >= articles:
            break
        code = rng.choices(list(LANGUAGE_WEIGHTS), weights=list(LANGUAGE_WEIGHTS.values()))[0]
        event = _event(langs[code], rng)
        tellers = rng.sample(by_language[code], min(len(by_language[code]), rng.randint(1, 4)))
        for source in tellers[: articles - made]:
            item = _telling(event, langs[code], rng, f"{batch}-{source}-{event_no}")
            pending.setdefault(source, []).append((item, event_no, event.subject))
            made += 1
    subjects: dict[int, int] = {}
    first_of_event: dict[int, int] = {}
    clusters: dict[int, int] = {}
    for source, items in pending.items():
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            stored = store.upsert(source, [item for item, _, _ in chunk], stored_at)
            for row, (_, event_no, subject) in zip(stored.new, chunk, strict=True):
                subjects[row.id] = subject
                clusters[row.id] = first_of_event.setdefault(event_no, row.id)
    store.set_clusters(clusters)
    return subjects


LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "cluster" / "labelled.json"
LABELLED_SUBJECTS = {
    "rates": "boc-cut boc-hold-jan fed-hold rbi-cut rbi-hold-feb ecb-cut qcb-hold pboc-rrr",
    "quake": "quake-japan quake-turkey",
    "hockey": "nhl-leafs-win nhl-habs-win nhl-oilers habs-win leafs-win",
    "cricket": "odi2 odi3",
    "weather": "ice-storm ice-storm-restored storm delhi-hail shanghai-weather",
    "collapse": "bhiwandi lucknow",
    "crime": "toronto-shooting scarborough-stabbing",
    "football": "sadd-hilal duhail-rayyan bayern-cl bvb-cl",
    "markets": "sensex-up sensex-down dax-record dax-down oil",
    "strike": "rail-strike-call rail-strike-day sncf-strike",
    "war": "lebanon-strike-1 lebanon-strike-2 sudan odesa ukraine-grid",
    "metro": "metro-open metro-delay",
    "table tennis": "tt-semi tt-final",
}
SWEEP = (0.08, 0.1, 0.12, 0.15, 0.2)


def threshold_sweep() -> None:
    """Print, per language and threshold, what ``similar`` finds in the labelled set."""
    subject_of = {x: name for name, labels in LABELLED_SUBJECTS.items() for x in labels.split()}
    items = json.loads(LABELLED.read_text(encoding="utf-8"))["items"]
    label = {item["id"]: item["label"] for item in items}
    rows = [
        ArticleRow(item["id"], item["source"], "", item["title"], item["summary"], None,
                   item["language"], NOW, NOW, None, ())
        for item in items
    ]  # fmt: skip
    index = RelatedIndex(min_score=0.0)
    index.add(rows)
    kinds: dict[str, list[tuple[float, str]]] = {}
    totals: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for other, score in index.similar(row, {row.language}, len(rows)):
            a, b = label[row.id], label[other]
            same = subject_of.get(a.split("-", 1)[1], a) == subject_of.get(b.split("-", 1)[1], b)
            kind = "story" if a == b else "subject" if same else "other"
            kinds.setdefault(row.language, []).append((score, kind))
            totals[row.language, kind] += 1
    print("labelled set, directed pairs sharing 2+ tokens found at each threshold:")
    for language, scored in sorted(kinds.items()):
        factor = LANGUAGE_FACTOR.get(language, 1.0)
        cells = []
        for threshold in sorted({*SWEEP, round(MIN_SCORE * factor, 4)}):
            found = Counter(kind for score, kind in scored if score >= threshold)
            mark = "*" if threshold == round(MIN_SCORE * factor, 4) else ""
            cells.append(
                f"{mark}{threshold:g}: {found['subject']}/{totals[language, 'subject']} "
                f"subject, {found['other']} other"
            )
        print(f"  {language} (same story {totals[language, 'story']}): " + "; ".join(cells))
    print("  (* = as configured: MIN_SCORE times the language's factor)")


def _ms(values: Sequence[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:.1f} ms, p95 {cuts[94]:.1f} ms, p99 {cuts[98]:.1f} ms"


def run(args: argparse.Namespace) -> int:
    threshold_sweep()
    with tempfile.TemporaryDirectory(prefix="bench-related-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'related.db'}")
        migrate(engine)
        store = ArticleStore(engine)
        started = time.perf_counter()
        stored_at = NOW - timedelta(hours=2)
        subjects = populate(store, args.articles, args.sources, args.seed, stored_at, "a")
        print(f"stored {len(subjects):,} articles in {time.perf_counter() - started:.1f} s")

        finder = RelatedFinder(store, RelatedIndex(), clock=lambda: NOW)
        started, cpu = time.perf_counter(), time.process_time()
        added = finder.refresh(NOW)
        print(
            f"cold build: {added:,} articles in {time.perf_counter() - started:.2f} s "
            f"({time.process_time() - cpu:.2f} s CPU)"
        )

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        spare = RelatedIndex()
        RelatedFinder(store, spare).refresh(NOW)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mib = 1024 * 1024
        print(
            f"index memory: {(current - base) / mib:.1f} MiB held, "
            f"{(peak - base) / mib:.1f} MiB peak while building (tracemalloc)"
        )
        del spare

        rng = random.Random(args.seed + 1)
        ids = sorted(subjects)
        queries = rng.sample(ids, min(args.queries, len(ids)))
        rows = store.get_many(queries)
        similar_ms: list[float] = []
        related_ms: list[float] = []
        related_cpu: list[float] = []
        parts: Counter[str] = Counter()
        on_subject = similar_total = with_similar = broken = 0
        for article_id in queries:
            row = rows[article_id]
            languages = {row.language, OTHER_LANGUAGE[row.language]}
            t0 = time.perf_counter()
            finder.index.similar(row, languages, 40)
            t1, c1 = time.perf_counter(), time.thread_time()
            stories = finder.related(article_id, languages, NOW) or []
            t2, c2 = time.perf_counter(), time.thread_time()
            similar_ms.append((t1 - t0) * 1000)
            related_ms.append((t2 - t1) * 1000)
            related_cpu.append((c2 - c1) * 1000)
            listed = [s.article for s in stories]
            keys = [a.cluster_id for a in listed if a.cluster_id != row.cluster_id]
            if article_id in {a.id for a in listed} or len(set(keys)) != len(keys):
                broken += 1
            parts.update(s.reason for s in stories)
            similar = [s.article.id for s in stories if s.reason == "similar"]
            with_similar += bool(similar)
            similar_total += len(similar)
            on_subject += sum(subjects[i] == subjects[article_id] for i in similar)
        print(f"related() over {len(queries):,} articles: {_ms(related_ms)}", end="")
        print(f" (target p95 < {TARGET_P95_MS:.0f} ms)")
        print(f"  the same calls in CPU time of this thread: {_ms(related_cpu)}")
        print(f"RelatedIndex.similar() alone: {_ms(similar_ms)}")
        n = len(queries)
        print(
            "mean lines per list: "
            + ", ".join(f"{reason} {parts[reason] / n:.2f}" for reason in sorted(parts))
        )
        share = on_subject / similar_total if similar_total else 0.0
        print(
            f"similar lines on the story's subject: {share:.1%} of {similar_total:,}; "
            f"lists with any similar line: {with_similar / n:.1%}; broken lists: {broken}"
        )

        later = NOW + timedelta(minutes=15)
        more = populate(store, 300, args.sources, args.seed + 2, later, "b")
        started, cpu = time.perf_counter(), time.process_time()
        added = finder.refresh(later)
        print(
            f"warm refresh after {len(more)} new articles: {added} added in "
            f"{(time.perf_counter() - started) * 1000:.0f} ms "
            f"({(time.process_time() - cpu) * 1000:.0f} ms CPU)"
        )
        idle = []
        for _ in range(200):
            started = time.perf_counter()
            finder.refresh(later)
            idle.append((time.perf_counter() - started) * 1000)
        print(f"refresh with nothing new (as before each related()): {_ms(idle)}")
        started, cpu = time.perf_counter(), time.process_time()
        finder.refresh(later + timedelta(days=4))
        print(
            f"refresh four days on (prunes ~29 %, compacts every language): "
            f"{len(finder.index):,} left, {time.perf_counter() - started:.2f} s "
            f"({time.process_time() - cpu:.2f} s CPU)"
        )
        engine.dispose()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.related", description=__doc__)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--sources", type=int, default=60)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
