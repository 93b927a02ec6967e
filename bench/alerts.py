"""Keyword alerts for one fetch pass: ``python -m bench.alerts [--readers N] [--database-url URL]``.

What runs: a fresh database (a temp SQLite file; and PostgreSQL too when ``--database-url`` or
``TEST_DATABASE_URL`` is given, emptied first) gets ``--readers`` set-up readers (default
100,000; a fifth of them in quiet hours, a few paused, one in fifty with a muted source) and
``--phrases`` followed phrases each (default 20). Phrases are drawn with a long-tailed
popularity from a pool of 50,000: a fifth are words and word pairs found in real stories (so
they match), the rest words of no story (most follows never fire), as readers follow many
niche topics and a few popular ones. The pass has ``--stories`` new stories (default 2,000):
titles and summaries of the real feeds in ``../shared/corpus/feeds/real`` (repeated as needed),
else generated pseudo-words.

What is measured: ``push.alerts.AlertDispatcher`` on those stories, i.e. what a fetch pass runs
after storing them: reading the distinct phrases, building the matcher once (build time),
reading each story once against every phrase (matching CPU), reading the followers of the
phrases found and their readers' rows, deciding who gets what (planning CPU), and writing the
``sent_alerts`` and outbox rows (alert rows written). A second pass over the same stories
writes nothing (printed, it is the dedupe). ``--token-index`` times the matcher without
pyahocorasick too.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from bench.pseudowords import SYLLABLES
from digest.alerts import find_matches
from digest.catalog import Catalog, load_catalog
from digest.parse import parse_feed
from digest.phrases import PhraseMatcher, phrase_key, tokens
from newsbot_testing.seeding import Reader, insert_readers
from push.alerts import AlertDispatcher, AlertReport
from storage.alerts import AlertStore
from storage.articles import ArticleRow
from storage.db import make_engine, migrate
from storage.follows import FollowStore
from storage.tables import FollowedPhrase, MutedSource

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "feeds" / "real"
POOL = 50_000
MATCHING_SHARE = 0.05
CHUNK = 50_000


def corpus_stories(count: int, catalog: Catalog, rng: random.Random) -> list[ArticleRow]:
    """``count`` new English stories: the real feeds' entries, repeated, else pseudo-words."""
    texts: list[tuple[str, str]] = []
    if CORPUS.is_dir():
        for path in sorted(CORPUS.glob("*.xml")):
            try:
                parsed = parse_feed(path.read_bytes(), url=f"https://{path.stem}.example/", now=NOW)
            except Exception:  # a hostile or odd corpus feed is simply not used
                continue
            texts += [(e.title, e.summary) for e in parsed.entries if e.title]
    if not texts:
        syllables = SYLLABLES["en"]
        texts = [
            (" ".join(_word(rng, syllables) for _ in range(8)),
             " ".join(_word(rng, syllables) for _ in range(25)))
            for _ in range(count)
        ]  # fmt: skip
    sources = [s.id for s in catalog.sources if s.offered and s.language == "en"]
    return [
        ArticleRow(
            id=1_000_000 + i, source_id=sources[i % len(sources)],
            url=f"https://news.example/{i}", title=texts[i % len(texts)][0],
            summary=texts[i % len(texts)][1][:1000], image_url=None, language="en",
            published_at=NOW - timedelta(minutes=i % 90), first_seen_at=NOW, cluster_id=None,
            categories=("national",),
        )
        for i in range(count)
    ]  # fmt: skip


def _word(rng: random.Random, syllables: Sequence[str]) -> str:
    return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))


def phrase_pool(stories: Sequence[ArticleRow], rng: random.Random) -> list[str]:
    """POOL distinct phrases: story words and word pairs that few stories share (topics,
    names), and words of no story, shuffled together."""
    counts: dict[str, int] = {}
    for story in stories:
        words = tokens(story.title)
        grams = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}
        for gram in grams:
            if len(gram) >= 4:
                counts[gram] = counts.get(gram, 0) + 1
    specific = [g for g, n in counts.items() if n <= max(2, len(stories) // 100)]
    rng.shuffle(specific)
    real = specific[: int(POOL * MATCHING_SHARE)]
    seen = set(real)
    made: list[str] = []
    syllables = SYLLABLES["en"]
    while len(made) + len(real) < POOL:
        word = _word(rng, syllables) + _word(rng, syllables)
        if word not in seen:
            seen.add(word)
            made.append(word)
    pool = real + made
    rng.shuffle(pool)
    return pool


def seed(engine: Engine, readers: int, per_reader: int, pool: Sequence[str], catalog: Catalog,
         rng: random.Random) -> float:  # fmt: skip
    """Readers, their phrases and a few mutes, in bulk; returns the seconds it took."""
    started = time.perf_counter()
    cumulative = list(itertools.accumulate(1 / (rank + 20) for rank in range(len(pool))))
    sources = [s.id for s in catalog.sources if s.offered and s.language == "en"]
    first = 1_000
    for start in range(0, readers, CHUNK // per_reader * 10):
        ids = range(first + start, first + min(readers, start + CHUNK // per_reader * 10))
        batch = [
            Reader(id=i, country="US", language="en", sources=(sources[i % len(sources)],),
                   categories=("national",), minutes=(480,),
                   timezone=("Asia/Kolkata" if i % 5 == 0 else "America/New_York"))
            for i in ids
        ]  # fmt: skip
        follows = []
        for i in ids:
            chosen = dict.fromkeys(rng.choices(pool, cum_weights=cumulative, k=per_reader * 2))
            follows += [
                {"user_id": i, "phrase": p, "key": phrase_key(p) or p, "created_at": NOW}
                for p in list(chosen)[:per_reader]
            ]
        with engine.begin() as conn:
            insert_readers(conn, batch, NOW)
            for part in range(0, len(follows), CHUNK):
                conn.execute(insert(FollowedPhrase), follows[part : part + CHUNK])
            muted = [{"user_id": i, "source_id": sources[(i + 1) % len(sources)]}
                     for i in ids if i % 50 == 0]  # fmt: skip
            if muted:
                conn.execute(insert(MutedSource), muted)
    with engine.begin() as conn:  # NOW is 17:30 in Kolkata: quiet hours 17:00-19:00 hold it
        conn.execute(text("UPDATE users SET quiet_start = 1020, quiet_end = 1140 WHERE id % 5 = 0"))
        conn.execute(text("UPDATE users SET paused = :p WHERE id % 97 = 0"), {"p": True})
    return time.perf_counter() - started


@contextmanager
def database(url: str | None) -> Iterator[tuple[Engine, str]]:
    """A migrated, empty database: a temp SQLite file, or ``url`` with its schema dropped."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.db")
            migrate(engine)
            yield engine, "SQLite"
            engine.dispose()
        return
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate(engine)
    yield engine, "PostgreSQL"
    engine.dispose()


def run(url: str | None, args: argparse.Namespace, catalog: Catalog) -> None:
    rng = random.Random(13)
    stories = corpus_stories(args.stories, catalog, rng)
    pool = phrase_pool(stories, rng)
    with database(url) as (engine, name):
        seconds = seed(engine, args.readers, args.phrases, pool, catalog, rng)
        follows = FollowStore(engine)
        print(f"\n{name}: {args.readers:,} readers × {args.phrases} phrases "
              f"({follows.count():,} rows, {len(follows.distinct_keys()):,} distinct), "
              f"seeded in {seconds:.1f} s; a pass of {len(stories):,} new stories")  # fmt: skip
        dispatcher = AlertDispatcher(follows, AlertStore(engine), catalog)
        first = dispatcher(stories, NOW)
        show("first pass", first)
        again = dispatcher(stories, NOW + timedelta(minutes=15))
        print(f"  second pass, same stories: {again.rows} alert messages queued (dedupe)")
        if args.token_index:
            matcher = PhraseMatcher(follows.distinct_keys(), use_automaton=False)
            started = time.process_time()
            find_matches(matcher, stories)
            print(f"  token-index matcher (no pyahocorasick): matching "
                  f"{time.process_time() - started:.3f} s CPU")  # fmt: skip


def show(label: str, r: AlertReport) -> None:
    cpu = r.match_seconds + r.plan_seconds
    print(f"  {label}: matcher build {r.build_seconds:.3f} s CPU ({r.phrases:,} phrases); "
          f"matching {r.match_seconds:.3f} s CPU ({r.matched_stories:,} of {r.stories:,} stories "
          f"matched); planning {r.plan_seconds:.3f} s CPU ({r.readers:,} readers); "
          f"matching CPU total {cpu:.3f} s (target < 2 s)")  # fmt: skip
    print(f"  database: reads {r.read_seconds:.2f} s wall; {r.rows:,} alert messages queued "
          f"(outbox rows) for {r.alerted_stories:,} (reader, story) pairs (sent_alerts rows) "
          f"in {r.write_seconds:.2f} s wall")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__)
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--phrases", type=int, default=20, help="followed phrases per reader")
    parser.add_argument("--stories", type=int, default=2_000, help="new stories in the pass")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL database to empty and use too (TEST_DATABASE_URL)",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--token-index",
        action="store_true",
        help="also time the matcher's fallback without pyahocorasick",
    )
    args = parser.parse_args(argv)  # fmt: skip
    catalog = load_catalog()
    if not args.skip_sqlite:
        run(None, args, catalog)
    if args.database_url:
        run(args.database_url, args, catalog)


if __name__ == "__main__":
    main()
