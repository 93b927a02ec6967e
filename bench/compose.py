"""Cost of one digest tick for many due readers: ``python -m bench.compose [--sizes 10000,...]``.

What runs: for each size (default 10,000, 30,000 and 100,000 readers) a fresh database (a temp
SQLite file, or ``--db-url``, a PostgreSQL database that is emptied first) gets 50,000 articles
from the catalog's 60 offered sources over the last three days (a fifth of them in multi-source
clusters) and the readers, written in bulk. The readers spread like real ones: one to three of
the catalog's seven countries (India and the United States most often), for each a primary
language and sometimes another, one to three sources (popular ones more often, the first one
primary), one to four categories drawn from all seven (national, international, business,
entertainment, sports, special and "all"), a timezone of their country, a UI language, a digest
size, and two or three delivery times, one of which makes them due at ``NOW``. That gives
thousands of distinct selections, not a few hundred.

What is measured: ``DigestScheduler.tick(NOW)``, i.e. due-reader selection, composition,
rendering and the outbox rows written, in CPU seconds of this process (``time.process_time``:
on SQLite that includes the database's own work, on PostgreSQL the server's CPU is not
counted) and wall seconds; the per-reader cost at each size and its growth against the
smallest (it must stay flat); the peak resident set of the tick (``VmHWM``, reset through
``/proc/self/clear_refs`` just before it). With ``--history`` (the default) every reader first
got a digest four hours earlier, so the measured tick also has to skip what each reader has
already received. ``--profile`` prints cProfile's top functions of the largest tick.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import pstats
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, cast, insert, select, text

from bench.segments import print_segments, segments
from digest.catalog import ALL_CATEGORIES, CATEGORIES, Catalog, load_catalog
from newsbot_testing.seeding import OtherCountry, Reader, insert_readers
from push.tick import DigestScheduler, TickReport
from storage.articles import ArticleStore
from storage.db import make_engine, migrate
from storage.deliveries import DeliveryStore
from storage.tables import Article, ArticleCategory, Delivery, DigestPayload, User, UserSource
from storage.users import UserStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=4)
COUNTRY_WEIGHTS = {"IN": 30, "US": 25, "WORLD": 15, "DE": 8, "CA": 8, "CN": 7, "QA": 7}
ZONES = {
    "IN": ["Asia/Kolkata"],
    "US": ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"],
    "QA": ["Asia/Qatar"],
    "DE": ["Europe/Berlin"],
    "CN": ["Asia/Shanghai"],
    "CA": ["America/Toronto", "America/Vancouver", "America/Halifax"],
    "WORLD": ["UTC", "Europe/London", "Asia/Tokyo", "Australia/Sydney", "Africa/Lagos"],
}
ALL = (*CATEGORIES, ALL_CATEGORIES)
CATEGORY_WEIGHTS = (30, 20, 15, 10, 15, 5, 15)
UI = {"IN": "hi", "DE": "de", "QA": "ar", "CN": "zh", "CA": "fr"}
TOPICS = ("rates", "storm", "match", "vote", "film", "summit", "market", "court")
SUMMARY = "A summary of reasonable length for a news story, as feeds carry them. " * 3


def zipf(rng: random.Random, items: Sequence[Any], k: int) -> list[Any]:
    """``k`` distinct items, the earlier ones (the popular) much more likely."""
    pool = list(items)
    out: list[Any] = []
    while pool and len(out) < k:
        pick = rng.choices(pool, weights=[1 / (i + 1) ** 2 for i in range(len(pool))])[0]
        pool.remove(pick)
        out.append(pick)
    return out


def local_minute(zone: str, moment: datetime) -> int:
    local = moment.astimezone(ZoneInfo(zone))
    return local.hour * 60 + local.minute


def make_reader(uid: int, rng: random.Random, catalog: Catalog, due: datetime) -> Reader:
    """One reader with a realistic spread of preferences, due at ``due``, with delivery times
    at ``NOW`` and four hours earlier in their timezone."""
    codes = list(COUNTRY_WEIGHTS)
    n_countries = rng.choices((1, 2, 3), weights=(85, 13, 2))[0]
    countries = []
    while len(countries) < n_countries:
        code = rng.choices(codes, weights=list(COUNTRY_WEIGHTS.values()))[0]
        if code not in countries:
            countries.append(code)
    choices = []
    for code in countries:
        offered = list(catalog.languages_with_sources(code))
        languages = zipf(rng, offered, 1 + (rng.random() < 0.05))
        sources = [s.id for s in catalog.sources_for(code, languages) if s.offered]
        choices.append(
            OtherCountry(
                code, languages, zipf(rng, sources, rng.choices((1, 2, 3), weights=(65, 27, 8))[0])
            )
        )
    zone = rng.choice(ZONES[countries[0]])
    n_categories = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    categories = zipf(rng, ALL, n_categories) if rng.random() < 0.3 else []
    while len(categories) < n_categories:
        pick = rng.choices(ALL, weights=CATEGORY_WEIGHTS)[0]
        if pick not in categories:
            categories.append(pick)
    # Due now and four hours ago; maybe one more time outside that span (the evening).
    minutes = {local_minute(zone, NOW), local_minute(zone, EARLIER)}
    if rng.random() < 0.5:
        minutes.add(local_minute(zone, NOW + timedelta(hours=rng.randint(2, 12))))
    first = choices[0]
    return Reader(
        uid, first.country, first.languages[0], first.sources, categories, sorted(minutes),
        timezone=zone, next_due_at=due, other_languages=first.languages[1:], others=choices[1:],
        ui_language=UI.get(countries[0], "en") if rng.random() < 0.4 else "en",
        stories_per_digest=rng.choice((3, 5, 5, 5, 10)),
        empty_digest="say" if rng.random() < 0.2 else "skip",
    )  # fmt: skip


def insert_articles(engine_url: str, catalog: Catalog, count: int, rng: random.Random) -> None:
    """``count`` articles over the last three days, a fifth of them in clusters of 2-4 sources
    of one language, written with one INSERT per table."""
    offered = [s for s in catalog.sources if s.offered]
    by_language: dict[str, list[str]] = {}
    for s in offered:
        by_language.setdefault(s.language, []).append(s.id)
    articles: list[dict[str, Any]] = []
    categories: list[dict[str, Any]] = []
    next_id = 1
    while next_id <= count:
        source = rng.choice(offered)
        published = NOW - timedelta(minutes=rng.randint(1, 3 * 24 * 60 - 10))
        category = rng.choices(CATEGORIES, weights=(30, 20, 20, 10, 15, 5))[0]
        members = [source.id]
        if rng.random() < 0.08:  # a story several sources cover
            peers = [p for p in by_language[source.language] if p != source.id]
            members += rng.sample(peers, k=min(len(peers), rng.randint(1, 3)))
        cluster = next_id
        for j, sid in enumerate(members):
            if next_id > count:
                break
            articles.append({
                "id": next_id, "source_id": sid, "entry_key": f"{sid}-{next_id}",
                "url": f"https://{sid}.example/{next_id}",
                "title": f"Story {next_id} about {rng.choice(TOPICS)} and what follows it",
                "summary": SUMMARY, "image_url": None, "language": source.language,
                "published_at": published + timedelta(minutes=7 * j), "first_seen_at": NOW,
                "updated_at": NOW, "cluster_id": cluster,
            })  # fmt: skip
            categories.append({"article_id": next_id, "category": category})
            next_id += 1
    engine = make_engine(engine_url)
    with engine.begin() as conn:
        conn.execute(insert(Article), articles)
        conn.execute(insert(ArticleCategory), categories)
    engine.dispose()


def populate(engine_url: str, readers: int, articles: int, history: bool) -> None:
    engine = make_engine(engine_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate(engine)
    catalog = load_catalog()
    rng = random.Random(7)
    insert_articles(engine_url, catalog, articles, rng)
    due = EARLIER if history else NOW
    with engine.begin() as conn:
        for start in range(0, readers, 5000):
            ids = range(1_000_000 + start, 1_000_000 + min(readers, start + 5000))
            insert_readers(conn, [make_reader(uid, rng, catalog, due) for uid in ids], NOW)
    engine.dispose()


def vm(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """The resident set before and its peak during the block, in kB."""
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    out = {"before": vm("VmRSS")}
    yield out
    out["peak"] = vm("VmHWM")


def distinct_selections(engine_url: str) -> int:
    """How many distinct (country, source) sets the readers chose."""
    engine = make_engine(engine_url)
    chosen: dict[int, set[tuple[str, str]]] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(UserSource.user_id, UserSource.country, UserSource.source_id))
        for user_id, country, source_id in rows:
            chosen.setdefault(user_id, set()).add((country, source_id))
    engine.dispose()
    return len({frozenset(v) for v in chosen.values()})


def fingerprint(url: str) -> str:
    """What the measured tick wrote, digested: every outbox row it queued (reader, chat, slot,
    status, and its message's category, story keys and stored JSON text) and every reader's
    next due time. Two versions of the tick that write the same bytes print the same value
    (run this file with another checkout's interpreter to compare them)."""
    engine = make_engine(url)
    digest = hashlib.sha256()
    queued = (
        select(
            Delivery.user_id, Delivery.chat_id, Delivery.kind, Delivery.slot_key,
            Delivery.status, DigestPayload.category, cast(DigestPayload.story_keys, Text),
            cast(DigestPayload.payload, Text),
        )
        .join(DigestPayload, DigestPayload.id == Delivery.digest_id)
        .where(Delivery.created_at >= NOW)
        .order_by(Delivery.user_id, Delivery.slot_key)
    )  # fmt: skip
    with engine.connect() as conn:
        for row in conn.execute(queued):
            digest.update(repr(tuple(row)).encode())
        for row in conn.execute(select(User.id, User.next_due_at).order_by(User.id)):
            digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()[:16]


def run_one(
    url: str, readers: int, articles: int, history: bool, profile: bool, timed: bool = False
) -> dict[str, Any]:
    started = time.perf_counter()
    populate(url, readers, articles, history)
    populated = time.perf_counter() - started
    engine = make_engine(url)
    catalog = load_catalog()
    users, deliveries = UserStore(engine), DeliveryStore(engine)
    scheduler = DigestScheduler(users, ArticleStore(engine), deliveries, catalog)
    warm: TickReport | None = None
    if history:
        warm = scheduler.tick(EARLIER)
    profiler = cProfile.Profile() if profile else None
    with contextlib.ExitStack() as stack:
        rss = stack.enter_context(peak_rss())  # its own full collection is not the tick's
        spent = stack.enter_context(segments()) if timed else {}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        report = scheduler.tick(NOW)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    engine.dispose()
    if timed:
        print_segments(spent, cpu)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {
        "readers": readers, "populated": populated, "report": report, "warm": warm,
        "cpu": cpu, "wall": wall, "rss": rss, "selections": distinct_selections(url),
        "fingerprint": fingerprint(url),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,30000,100000", help="readers per run")
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--db-url", default="", help="a PostgreSQL database to empty and use")
    parser.add_argument("--no-history", dest="history", action="store_false")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest tick")
    parser.add_argument(
        "--segments", action="store_true", help="CPU per part of each tick (bench.segments)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, size in enumerate(sizes):
            url = args.db_url or f"sqlite:///{Path(tmp) / f'compose-{size}.db'}"
            profile = args.profile and i == len(sizes) - 1
            r = run_one(url, size, args.articles, args.history, profile, args.segments)
            results.append(r)
            rep: TickReport = r["report"]
            print(
                f"{size:>7,} readers ({r['selections']:,} distinct source selections, populated "
                f"in {r['populated']:.0f}s): {rep.readers:,} due, {rep.enqueued:,} digests "
                f"queued, {rep.empty:,} empty skipped, {rep.rankings:,} rankings; output "
                f"fingerprint {r['fingerprint']}",
                flush=True,
            )
    backend = "PostgreSQL" if args.db_url else "SQLite"
    base = results[0]["cpu"] / max(results[0]["report"].readers, 1)
    print(f"\n{backend}, {args.articles:,} articles, history={args.history}")
    print(f"{'readers':>8} {'CPU s':>7} {'wall s':>7} {'µs/reader':>10} {'growth':>7} "
          f"{'RSS before':>11} {'peak':>8}")  # fmt: skip
    for r in results:
        per = r["cpu"] / max(r["report"].readers, 1)
        print(
            f"{r['readers']:>8,} {r['cpu']:>7.2f} {r['wall']:>7.2f} {per * 1e6:>10.1f} "
            f"{per / base:>6.2f}x {r['rss']['before'] / 1024:>8.0f} MB "
            f"{r['rss']['peak'] / 1024:>5.0f} MB"
        )


if __name__ == "__main__":
    main()
