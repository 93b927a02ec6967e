"""Composition cost of one digest tick for many readers (`python -m bench.compose`).

The issue asks that 100,000 readers sharing a few hundred distinct preference sets cost a few
hundred compositions, not 100,000. This builds that population in a temporary SQLite database
(bulk inserts, not the slow per-user API), makes everyone due at once, and times one
``DigestScheduler.tick``: rankings computed, readers handled, outbox rows written, seconds, and
peak Python memory (tracemalloc). It also times the ranking step alone per distinct selection.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.catalog import load_catalog
from digest.selection import selection_for, top_stories
from newsbot_testing.seeding import Reader, add_stories, insert_readers
from push.tick import DigestScheduler
from storage.articles import ArticleInput, ArticleStore
from storage.db import make_engine, migrate
from storage.deliveries import DeliveryStore
from storage.users import UserStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TOPICS = ("rates", "storm", "match", "vote")
CATEGORIES = ("national", "international", "business", "sports", "all")


def populate(engine_url: str, readers: int, selections: int, articles_per_source: int) -> None:
    engine = make_engine(engine_url)
    migrate(engine)
    catalog = load_catalog()
    rng = random.Random(7)
    offered = [s for s in catalog.sources if s.offered]
    store = ArticleStore(engine)
    for source in offered:
        items = [
            ArticleInput(
                entry_key=f"{source.id}-{i}",
                url=f"https://{source.id}.example/{i}",
                title=f"{source.name} story {i} about {rng.choice(TOPICS)}",
                summary="A summary of reasonable length for a news story. " * 3,
                image_url=None,
                published_at=NOW - timedelta(minutes=rng.randint(1, 2000)),
                language=source.language,
                categories=(rng.choice(CATEGORIES[:-1]),),
            )
            for i in range(articles_per_source)
        ]
        add_stories(store, source.id, items, NOW)
    # A few hundred distinct selections: (country, language, sources, category).
    shapes = []
    for _ in range(selections):
        country = rng.choice(catalog.countries)
        language = rng.choice(catalog.languages_with_sources(country.code))
        sources = [s.id for s in catalog.sources_for(country.code, [language])]
        chosen = rng.sample(sources, k=min(len(sources), rng.randint(1, 3)))
        shapes.append((country.code, language, chosen, rng.choice(CATEGORIES)))
    due = NOW - timedelta(minutes=1)
    with engine.begin() as conn:
        for start in range(0, readers, 5000):
            ids = range(1_000_000 + start, 1_000_000 + min(readers, start + 5000))
            batch = []
            for uid in ids:
                country, language, sources, category = shapes[uid % len(shapes)]
                minutes = (11 * 60 + 59,)
                batch.append(
                    Reader(uid, country, language, sources, (category,), minutes, next_due_at=due)
                )
            insert_readers(conn, batch, NOW)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--selections", type=int, default=300)
    parser.add_argument("--articles", type=int, default=40, help="articles per source")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'compose.db'}"
        started = time.perf_counter()
        populate(url, args.readers, args.selections, args.articles)
        print(f"populated {args.readers:,} readers in {time.perf_counter() - started:.1f}s")
        engine = make_engine(url)
        catalog = load_catalog()
        scheduler = DigestScheduler(
            UserStore(engine), ArticleStore(engine), DeliveryStore(engine), catalog
        )
        tracemalloc.start()
        started = time.perf_counter()
        report = scheduler.tick(NOW)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        per_reader = seconds / max(report.readers, 1) * 1e6
        print(
            f"tick: {report.readers:,} readers, {report.rankings} rankings (distinct "
            f"selection×category), {report.enqueued:,} digests queued, {report.empty:,} empty"
        )
        print(f"tick time {seconds:.1f}s ({per_reader:.0f} µs per reader), "
              f"peak traced memory {peak / 2**20:.0f} MiB")  # fmt: skip
        ranking_times = []
        for user in itertools.islice(UserStore(engine).due(NOW + timedelta(days=2), 50), 50):
            t0 = time.perf_counter()
            top_stories(ArticleStore(engine), selection_for(user, catalog), None, NOW)
            ranking_times.append(time.perf_counter() - t0)
        if ranking_times:
            median_ms = statistics.median(ranking_times) * 1e3
            print(f"one ranking (query + rank): median {median_ms:.1f} ms")


if __name__ == "__main__":
    main()
