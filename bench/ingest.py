"""How fast one ingest pass is, end to end: ``python -m bench.ingest [--feeds N] [--profile]``.

What runs: N feeds (default 300) of generated RSS 2.0 (30-50 entries each, titles and
summaries of news length, HTML in descriptions, English, German, French, Hindi, Arabic and
Chinese, stories told by several sources so clustering has work) are served over loopback by
``newsbot_testing.feedserver.FeedServer`` instances in a child process, one listening port per
simulated publisher host (``--hosts``), each feed with an ETag so a repeated GET answers 304.
``--real-share`` replaces that share of the feeds with replicas of the real publisher feeds in
``../shared/corpus/feeds/real`` (read at run time; skipped if the folder is missing). A catalog
TOML points at them, and ``digest.ingest.Ingestor.run_once(only_due=False)`` runs with a default
``digest.fetch.Fetcher()`` exactly as ``newsbot fetch`` (``bot/cli.py::_fetch_once``) does,
against a fresh, migrated SQLite database in a temp dir (or a fresh schema of
``--database-url``, a PostgreSQL URL).

What is measured, and why:

* **First pass** (empty database, every feed 200): wall seconds, feeds/s, entries/s. This is
  what a fresh deployment or a ``newsbot fetch`` costs.
* **Bare feedparser**: ``feedparser.parse(io.BytesIO(body))`` over the very same (decoded)
  bodies, one after another, in this process. Parsing is the one cost no ingest can avoid, so
  ``first pass / bare`` says how much the rest (HTTP, normalising, database, clustering, thread
  hops) adds on top. Target <= 1.5.
* **Second pass** (same database, every feed answers 304): what the scheduled pass costs in the
  steady state, when publishers have nothing new. Target >= 20x faster than the first pass.
* **Peak memory**: how much the process's resident-set high-water mark (``ru_maxrss``) grew
  over the first run's two passes: Python objects, C libraries and SQLite's page cache alike.
  ``--tracemalloc`` adds tracemalloc's peak of Python allocations in one more first pass
  (untimed: tracemalloc slows the pass down several times).

Each timed figure is the median of ``--repeat`` runs; a run is a first pass on a fresh
database, the 304 pass, then the bare parse, and the ratios are medians of each run's ratio.
Beside each wall time the process CPU time (all threads) is printed, with the same ratios in
CPU: the targets are about wall time, but on a machine shared with other jobs CPU time is the
steadier figure, and CPU close to wall says the pass is CPU-bound (it is, on loopback).

``--profile`` adds where the time goes: ``digest.parse.parse_feed`` alone over the same bodies;
one first and one 304 pass with each worker-thread step of the ingest wrapped to count its
calls, CPU and wall seconds (what is left of the process CPU is the event loop: the HTTP
client, asyncio, thread hand-offs); and one first pass under cProfile, every thread with its
own profiler on a per-thread CPU clock, merged, top 10 of our code by cumulative time.

* **One dead feed** (``--no-dead-feed`` skips it): the time until every healthy feed's stories
  are stored (the slowest healthy feed's ``timings`` entry, counted from the pass's start), for
  a first pass with one more feed that never answers (on a host of its own, a default
  ``Fetcher()``: it times out after 15 s) and for the same pass without it, one run each, and
  their ratio. Target <= 1.2: a dead publisher must not delay anyone else's stories. The pass
  with the dead feed itself lasts until its timeout; that figure is printed too.

The server runs in a child process so that its CPU time (Python's http.server, one thread per
connection) is not charged to the ingest, as a real publisher's would not be. Only 127.0.0.1
sees traffic, and the benchmark stops by itself: three times (first pass + 304 pass + bare
parse), about 100 s at the defaults on a quiet 2-core machine, 2-2.5 minutes on a busy one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import gzip
import io
import itertools
import logging
import multiprocessing as mp
import os
import pstats
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import feedparser
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

import digest.ingest as ingest_module
from bench.pseudowords import FUNCTION_WORDS, SYLLABLES
from digest.catalog import load_catalog
from digest.feed_timing import FeedTiming
from digest.fetch import Fetcher
from digest.ingest import Ingestor, IngestReport
from digest.parse import parse_feed
from storage.articles import ArticleStore
from storage.db import make_engine, migrate
from storage.feeds import FeedStore

REAL_FEEDS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "feeds" / "real"
RATIO_TARGET = 1.5
DEAD_FEED_TARGET = 1.2
DEAD_PATH = "/dead/never.xml"
SPEEDUP_TARGET = 20.0
_T = TypeVar("_T")

# -- generated news ----------------------------------------------------------------------------

COUNTRY_OF = {"en": "US", "de": "DE", "fr": "CA", "hi": "IN", "ar": "QA", "zh": "CN"}
TIMEZONE_OF = {
    "US": "America/New_York",
    "DE": "Europe/Berlin",
    "CA": "America/Toronto",
    "IN": "Asia/Kolkata",
    "QA": "Asia/Qatar",
    "CN": "Asia/Shanghai",
}
LANGUAGE_WEIGHTS = {"en": 40, "de": 15, "fr": 15, "hi": 10, "ar": 10, "zh": 10}
FEED_CATEGORIES = (
    "national",
    "international",
    "business",
    "entertainment",
    "sports",
    "special",
    "general",
)


# Text is made of pseudo-words in each language's script, drawn from a Zipf-distributed
# vocabulary, plus a few real function words: what matters to ingest is the length, the script
# and how many tokens unrelated stories share, which sets clustering's work. The exponent is
# calibrated on the real corpus (../shared/corpus/feeds/real, English and German): there a
# story shares a token with 16-17 % of the others and two tokens with 3 %, and the postings a
# story's tokens touch in an inverted index add up to 21 % of the stories. Here, at 0.6:
# 20 %, 2.5 % and 23 % (English), 23 %, 10 % and 38 % (Chinese, as bigrams).
# (The syllables and function words are in bench.pseudowords.)
VOCABULARY_SIZE = 4000
ZIPF_EXPONENT = 0.6


class Language:
    """A pseudo-vocabulary for one language, ranked by frequency."""

    def __init__(self, code: str, rng: random.Random) -> None:
        self.code = code
        syllables = SYLLABLES[code]
        words: dict[str, None] = {}
        while len(words) < VOCABULARY_SIZE:
            n = rng.randint(2, 3) if code != "ar" else rng.randint(3, 6)
            word = "".join(rng.choices(syllables, k=n))
            if code == "ar" and rng.random() < 0.3:
                word = "ال" + word
            words[word] = None
        self.words = list(words)
        self.cum = list(
            itertools.accumulate(1 / (r + 1) ** ZIPF_EXPONENT for r in range(len(self.words)))
        )

    def common(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)

    def rare(self, rng: random.Random, k: int) -> list[str]:
        return rng.sample(self.words[len(self.words) // 4 :], k)

    def sentence(self, words: list[str], rng: random.Random) -> str:
        mixed: list[str] = []
        for word in words:
            mixed.append(word)
            if rng.random() < 0.35:
                mixed.append(rng.choice(FUNCTION_WORDS[self.code]))
        if self.code == "zh":
            return "".join(mixed) + "。"
        text = " ".join(mixed)
        return text[0].upper() + text[1:] + "."


@dataclass(frozen=True)
class Event:
    """One news story, told by several sources in their own words."""

    id: int
    language: str
    key_words: tuple[str, ...]  # what every telling of it shares, more or less
    number: int
    at: datetime


def _title(event: Event, lang: Language, rng: random.Random) -> str:
    words = rng.sample(event.key_words, rng.randint(3, 4)) + lang.common(rng, rng.randint(2, 4))
    rng.shuffle(words)
    if rng.random() < 0.4:
        words.append(str(event.number))
    return lang.sentence(words, rng).rstrip(".。")


def _summary_html(event: Event, lang: Language, rng: random.Random, guid: str) -> str:
    words = rng.sample(event.key_words, rng.randint(2, 4)) + [str(event.number)]
    words += lang.common(rng, rng.randint(8, 16))
    rng.shuffle(words)
    cut = len(words) // 2
    text = lang.sentence(words[:cut], rng) + " " + lang.sentence(words[cut:], rng)
    image = f'<img src="https://img.example/{guid}.jpg" alt="" width="640"/>'
    more = f'<a href="https://news.example/{guid}">{escape(event.key_words[0])}</a>'
    if rng.random() < 0.5:
        return f"<p>{image}</p><p>{escape(text)}</p><p><b>{more}</b></p>"
    return f"<p>{escape(text)} {more}</p>"


@dataclass
class FeedSpec:
    path: str
    category: str
    body: bytes  # decoded, as the fetcher hands it to the parser
    gzip: bool


@dataclass
class SourceSpec:
    id: str
    language: str
    host: int
    permalink: bool = False  # guid is the link
    cdata: bool = False  # descriptions in CDATA rather than escaped
    feeds: list[FeedSpec] = field(default_factory=list)


def _item(
    source: SourceSpec, event: Event, lang: Language, now: datetime, rng: random.Random
) -> str:
    """One RSS ``<item>``: HTML description (escaped or CDATA), guid, date, category, image."""
    guid = f"{source.id}-{event.id}"
    link = f"https://{source.id}.example/news/{event.id}/{guid}.html"
    published = min(now, event.at + timedelta(minutes=rng.randint(0, 180)))
    description = _summary_html(event, lang, rng, guid)
    described = f"<![CDATA[{description}]]>" if source.cdata else escape(description)
    return (
        "<item>"
        f"<title>{escape(_title(event, lang, rng))}</title>"
        f"<link>{escape(link)}</link>"
        + (
            f"<guid>{escape(link)}</guid>"
            if source.permalink
            else f'<guid isPermaLink="false">{escape(guid)}</guid>'
        )
        + f"<description>{described}</description>"
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<category>{escape(event.key_words[-1])}</category>"
        "<dc:creator>Staff reporter</dc:creator>"
        + (
            f'<media:content url="https://img.example/{guid}-l.jpg" medium="image"/>'
            if rng.random() < 0.5
            else ""
        )
        + "</item>"
    )


def _rss(source: SourceSpec, items: Sequence[str], now: datetime) -> bytes:
    """An RSS 2.0 document in the style of real news feeds."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>{source.id}</title><link>https://{source.id}.example/</link>"
        f"<description>Latest news from {source.id}</description>"
        f"<language>{source.language}</language><lastBuildDate>{format_datetime(now)}"
        "</lastBuildDate><ttl>15</ttl>" + "".join(items) + "</channel></rss>"
    ).encode()


def _events(
    lang: Language, count: int, now: datetime, rng: random.Random, start: int
) -> list[Event]:
    return [
        Event(
            id=start + i,
            language=lang.code,
            key_words=tuple(lang.rare(rng, 6)),
            number=rng.randint(2, 2000),
            at=now - timedelta(minutes=rng.randint(30, 48 * 60)),
        )
        for i in range(count)
    ]


def generate(feeds: int, hosts: int, now: datetime, seed: int) -> list[SourceSpec]:
    """``feeds`` generated feeds in sources of three (a publisher's category feeds).

    Each language has a pool of stories about 13 times its number of feeds, so a story is told
    by about three sources; a few entries of a source appear in two of its feeds, as the same
    story does in a publisher's "top" and "business" feeds.
    """
    rng = random.Random(seed)
    codes, weights = list(LANGUAGE_WEIGHTS), list(LANGUAGE_WEIGHTS.values())
    sources = [
        SourceSpec(
            f"gen{i:03d}",
            rng.choices(codes, weights)[0],
            i % hosts,
            permalink=rng.random() < 0.5,
            cdata=rng.random() < 0.5,
        )
        for i in range((feeds + 2) // 3)
    ]
    languages = {code: Language(code, rng) for code in codes}
    pools = {
        code: _events(
            lang,
            max(60, 40 * sum(s.language == code for s in sources)),
            now,
            rng,
            start=1_000_000 * n,
        )
        for n, (code, lang) in enumerate(languages.items())
    }
    made = 0
    for source in sources:
        lang, pool = languages[source.language], pools[source.language]
        rendered: dict[int, str] = {}
        shared = rng.sample(pool, 8)
        for j, category in enumerate(rng.sample(FEED_CATEGORIES, 3)):
            if made == feeds:
                break
            chosen = rng.sample(pool, rng.randint(26, 46)) + shared[j * 2 : j * 2 + 4]
            for event in chosen:
                if event.id not in rendered:
                    rendered[event.id] = _item(source, event, lang, now, rng)
            items = [rendered[event.id] for event in chosen]
            body = _rss(source, items, now)
            source.feeds.append(FeedSpec(f"/{source.id}/{category}.xml", category, body, j == 0))
            made += 1
    return sources


def replicate_real(count: int, hosts: int, first_host: int) -> list[SourceSpec]:
    """``count`` feeds replicated round-robin from the real corpus, one source each."""
    manifest = REAL_FEEDS / "MANIFEST.csv"
    if count <= 0 or not manifest.is_file():
        return []
    codes = {"English": "en", "German": "de", "French": "fr"}
    with manifest.open(encoding="utf-8") as fp:
        rows = [r for r in csv.DictReader(fp) if (REAL_FEEDS / r["file"]).is_file()]
    sources = []
    for i in range(count):
        row = rows[i % len(rows)]
        raw = (REAL_FEEDS / row["file"]).read_bytes()
        body = gzip.decompress(raw) if row["file"].endswith(".gz") else raw
        source = SourceSpec(
            f"real{i:03d}", codes.get(row["language"], "en"), (first_host + i) % hosts
        )
        source.feeds.append(FeedSpec(f"/{source.id}/feed.xml", "general", body, i % 2 == 0))
        sources.append(source)
    return sources


def write_catalog(path: Path, sources: Sequence[SourceSpec], ports: Sequence[int]) -> Path:
    """A catalog TOML with one country per language and every source's feeds."""
    parts = []
    for lang, code in COUNTRY_OF.items():
        parts.append(
            f'[[countries]]\ncode = "{code}"\nname = "{code}"\nlanguages = ["{lang}"]\n'
            f'timezones = ["{TIMEZONE_OF[code]}"]\n'
        )
    for s in sources:
        parts.append(
            f'[[sources]]\nid = "{s.id}"\nname = "{s.id.title()}"\n'
            f'countries = ["{COUNTRY_OF[s.language]}"]\nlanguage = "{s.language}"\n'
            f'homepage = "https://{s.id}.example"\n'
        )
        for feed in s.feeds:
            url = f"http://127.0.0.1:{ports[s.host]}{feed.path}"
            parts.append(f'[[sources.feeds]]\ncategory = "{feed.category}"\nurl = "{url}"\n')
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# -- the loopback publishers, in a child process -------------------------------------------

Route = tuple[int, str, bytes, bool]  # host index, path, decoded body, gzip


def _serve(routes: list[Route], hosts: int, conn: Connection) -> None:
    """Child process: one FeedServer per host, and one more whose ``DEAD_PATH`` never answers;
    send the ports, serve until told to stop."""
    from newsbot_testing.feedserver import FeedServer

    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(FeedServer()) for _ in range(hosts + 1)]
        servers[hosts].add_stall(DEAD_PATH)
        for host, path, body, gz in routes:
            headers = {
                "Content-Type": "application/rss+xml; charset=utf-8",
                "ETag": f'"{zlib.crc32(body):08x}"',
            }
            servers[host].add_file(path, body, headers=headers, gzip=gz)
        conn.send([s.port for s in servers])
        conn.recv()  # any message, or EOF when the parent dies, stops us


@contextlib.contextmanager
def publishers(sources: Sequence[SourceSpec], hosts: int) -> Iterator[list[int]]:
    routes = [(s.host, f.path, f.body, f.gzip) for s in sources for f in s.feeds]
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(routes, hosts, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(60):
            raise RuntimeError("feed server did not start")
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join()


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(base_url: str | None, workdir: Path, n: int) -> Iterator[Engine]:
    """A migrated, empty database: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    if base_url is None:
        engine = make_engine(f"sqlite:///{workdir / f'bench{n}.db'}")
        migrate(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"bench_ingest_{os.getpid()}_{n}"
    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# -- measurements ----------------------------------------------------------------------------


@dataclass
class PassPair:
    """Wall and process-CPU seconds of a first pass and of the all-304 pass after it."""

    first: Timing
    second: Timing
    reports: tuple[IngestReport, IngestReport]


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # this process, all threads: robust to other jobs on a shared machine

    @staticmethod
    def median(timings: Sequence[Timing]) -> Timing:
        return Timing(_median([t.wall for t in timings]), _median([t.cpu for t in timings]))


@contextlib.contextmanager
def timed() -> Iterator[list[Timing]]:
    """``with timed() as t:`` ... then ``t[0]`` is the block's Timing."""
    result: list[Timing] = []
    cpu, wall = time.process_time(), time.perf_counter()
    yield result
    result.append(Timing(time.perf_counter() - wall, time.process_time() - cpu))


def _ingestor(catalog_path: Path, engine: Engine, fetcher: Fetcher) -> Ingestor:
    """As ``bot.app.build_ingestor`` builds it (default refresh 900 s)."""
    timing = FeedTiming(refresh=timedelta(seconds=900))
    catalog = load_catalog(catalog_path)
    return Ingestor(catalog, FeedStore(engine), ArticleStore(engine), fetcher, timing=timing)


async def _two_passes(catalog_path: Path, engine: Engine, second: bool) -> PassPair:
    async with Fetcher() as fetcher:
        ingestor = _ingestor(catalog_path, engine, fetcher)
        with timed() as first_time:
            first = await ingestor.run_once(only_due=False)
        again, second_time = first, [Timing(0.0, 0.0)]
        if second:
            with timed() as second_time:
                again = await ingestor.run_once(only_due=False)
    return PassPair(first_time[0], second_time[0], (first, again))


def bare_parse(bodies: Sequence[bytes]) -> Timing:
    with timed() as timing:
        for body in bodies:
            feedparser.parse(io.BytesIO(body))
    return timing[0]


def our_parse(bodies: Sequence[bytes], now: datetime) -> float:
    started = time.perf_counter()
    for body in bodies:
        parse_feed(body, url="http://127.0.0.1/feed.xml", now=now)
    return time.perf_counter() - started


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextlib.contextmanager
def profiled_threads() -> Iterator[list[cProfile.Profile]]:
    """cProfile the calling thread and every thread started inside the block."""
    profiles: list[cProfile.Profile] = []

    def start(*_args: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()  # replaces this bootstrap hook for the new thread

    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    threading.setprofile(start)
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        threading.setprofile(None)


@dataclass
class Stage:
    calls: int = 0
    cpu: float = 0.0  # CPU seconds of the thread that ran it
    wall: float = 0.0


# (object attribute, label, nested in); parse_feed is patched where ingest looks it up.
STAGES = (
    ("ingestor._parse", "Ingestor._parse (parse, make ArticleInputs)", ""),
    ("parse_feed", "parse_feed (feedparser + normalise)", "_parse"),
    ("articles.upsert", "ArticleStore.upsert", ""),
    ("articles.get_many", "ArticleStore.get_many", "upsert"),
    ("ingestor._cluster", "Ingestor._cluster", ""),
    ("articles.recent", "ArticleStore.recent", "_cluster"),
    ("articles.set_clusters", "ArticleStore.set_clusters", "_cluster"),
    ("feeds.record_success", "FeedStore.record_success", ""),
    ("feeds.record_successes", "FeedStore.record_successes", ""),
    ("feeds.sync", "FeedStore.sync", ""),
    ("feeds.all", "FeedStore.all", ""),
    ("articles.prune", "ArticleStore.prune", ""),
)


@contextlib.contextmanager
def stage_timer(ingestor: Ingestor, stages: dict[str, Stage]) -> Iterator[None]:
    """Count calls, CPU and wall seconds of each worker-thread step of ``ingestor``."""

    def timed(stage: Stage, function: Callable[..., _T]) -> Callable[..., _T]:
        def wrapper(*args: Any, **kwargs: Any) -> _T:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                stage.calls += 1
                stage.cpu += time.thread_time() - cpu
                stage.wall += time.perf_counter() - wall

        return wrapper

    owners = {"ingestor": ingestor, "articles": ingestor.articles, "feeds": ingestor.feeds}
    patched: list[tuple[object, str, Any]] = []
    for attribute, label, _ in STAGES:
        stage = stages.setdefault(label, Stage())
        owner_name, _, name = attribute.rpartition(".")
        owner: object = owners[owner_name] if owner_name else ingest_module
        if not hasattr(owner, name):  # an older Ingestor, without this step
            continue
        patched.append((owner, name, getattr(owner, name)))
        setattr(owner, name, timed(stage, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in patched:
            if owner is ingest_module:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


async def _stages(
    catalog_path: Path, engine: Engine
) -> list[tuple[float, float, dict[str, Stage]]]:
    """A first and a second pass with :func:`stage_timer`: (wall, process CPU, stages) each."""
    results = []
    async with Fetcher() as fetcher:
        ingestor = _ingestor(catalog_path, engine, fetcher)
        for _ in range(2):
            stages: dict[str, Stage] = {}
            with stage_timer(ingestor, stages):
                cpu, started = time.process_time(), time.perf_counter()
                await ingestor.run_once(only_due=False)
                results.append((time.perf_counter() - started, time.process_time() - cpu, stages))
    return results


def print_stages(title: str, wall: float, cpu: float, stages: dict[str, Stage]) -> None:
    print(f"\n{title}: {wall:.3f} s wall, {cpu:.3f} s CPU (all threads)")
    print("     calls   CPU s  wall s  step (worker threads; database steps one at a time)")
    top = 0.0
    called = {label.split()[0].rpartition(".")[2] for label, st in stages.items() if st.calls}
    for _, label, parent in STAGES:
        stage = stages[label]
        if not stage.calls:
            continue
        nested = parent in called  # else its parent step does not exist in this Ingestor
        top += 0.0 if nested else stage.cpu
        name = f"  of which {label}" if nested else label
        print(f"  {stage.calls:8d} {stage.cpu:7.3f} {stage.wall:7.3f}  {name}")
    print(
        f"  {'':8s} {cpu - top:7.3f} {'':7s}  the rest: event loop (HTTP client, asyncio, "
        "thread hand-offs)"
    )


# -- the run ------------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _spread(values: Sequence[float]) -> str:
    return f"(min {min(values):.3f}, max {max(values):.3f})" if len(values) > 1 else ""


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report_figures(
    pairs: Sequence[PassPair], bare_runs: Sequence[Timing], n_feeds: int, rss_growth: float
) -> None:
    first_reports, second_reports = [p.reports[0] for p in pairs], [p.reports[1] for p in pairs]
    for report in first_reports + second_reports:
        if report.failed:
            print(f"  ! {report.failed} feeds failed, e.g. {report.failures[:2]}")
    report = first_reports[0]
    firsts, seconds = [p.first for p in pairs], [p.second for p in pairs]
    first, second, bare = Timing.median(firsts), Timing.median(seconds), Timing.median(bare_runs)
    # Ratios within each repeat, then their median.
    ratio = _median([f.wall / b.wall for f, b in zip(firsts, bare_runs, strict=True)])
    cpu_ratio = _median([f.cpu / b.cpu for f, b in zip(firsts, bare_runs, strict=True)])
    speedup = _median([f.wall / s.wall for f, s in zip(firsts, seconds, strict=True)])
    cpu_speedup = _median([f.cpu / s.cpu for f, s in zip(firsts, seconds, strict=True)])
    print(
        f"feeds {n_feeds}, entries {report.entries}, new articles {report.new_articles} "
        f"(updated {report.updated_articles}: entries in two feeds of a source), "
        f"failed feeds {report.failed}"
    )
    print(
        f"first pass       {first.wall:7.3f} s {_spread([t.wall for t in firsts])}  "
        f"{n_feeds / first.wall:.1f} feeds/s, {report.entries / first.wall:.0f} entries/s; "
        f"CPU {first.cpu:.3f} s"
    )
    print(
        f"bare feedparser  {bare.wall:7.3f} s {_spread([t.wall for t in bare_runs])}  "
        f"ingest/bare = {ratio:.2f} (target <= {RATIO_TARGET}: {_met(ratio <= RATIO_TARGET)}); "
        f"CPU {bare.cpu:.3f} s, ratio {cpu_ratio:.2f}"
    )
    print(
        f"second pass      {second.wall:7.3f} s {_spread([t.wall for t in seconds])}  "
        f"{second_reports[0].not_modified}/{n_feeds} not modified, {speedup:.1f}x faster "
        f"(target >= {SPEEDUP_TARGET:.0f}x: {_met(speedup >= SPEEDUP_TARGET)}); "
        f"CPU {second.cpu:.3f} s, {cpu_speedup:.1f}x"
    )
    print(
        f"peak memory      ru_maxrss +{rss_growth:.0f} MiB over one first + 304 pass "
        f"(the process's resident high-water mark: Python, C libraries, SQLite's cache; "
        f"now {max_rss_mib():.0f} MiB)"
    )


def dead_feed_source(hosts: int) -> SourceSpec:
    """A source whose one feed never answers, on the extra host (index ``hosts``)."""
    source = SourceSpec("dead000", "en", hosts)
    source.feeds.append(FeedSpec(DEAD_PATH, "national", b"", False))
    return source


def healthy_stored_after(report: IngestReport) -> float:
    """Seconds from the pass's start until the last healthy feed's stories were stored."""
    healthy = [t for t in report.timings if not str(t["url"]).endswith(DEAD_PATH)]
    return max(float(t["seconds"]) for t in healthy)  # type: ignore[arg-type]


def dead_feed_figures(
    sources: Sequence[SourceSpec], ports: Sequence[int], args: argparse.Namespace, workdir: Path
) -> None:
    """One pass without and one with a feed that never answers; see the module docstring."""
    results: dict[bool, tuple[float, Timing, IngestReport]] = {}
    for n, dead in enumerate((False, True)):
        catalog = workdir / f"catalog-dead-{dead}.toml"
        write_catalog(catalog, [*sources, dead_feed_source(args.hosts)] if dead else sources, ports)
        with fresh_database(args.database_url, workdir, args.repeat + 10 + n) as engine:
            pair = asyncio.run(_two_passes(catalog, engine, second=False))
        report = pair.reports[0]
        results[dead] = (healthy_stored_after(report), pair.first, report)
    (clean, clean_pass, _), (with_dead, dead_pass, dead_report) = results[False], results[True]
    outcome = next(
        (t["outcome"] for t in dead_report.timings if str(t["url"]).endswith(DEAD_PATH)),
        "not reported",
    )
    ratio = with_dead / clean
    print(
        f"\none dead feed    healthy feeds' stories all stored after {with_dead:.3f} s with a "
        f"feed that never answers (it: {outcome}; pass {dead_pass.wall:.1f} s), "
        f"{clean:.3f} s without (pass {clean_pass.wall:.1f} s): ratio {ratio:.2f} "
        f"(target <= {DEAD_FEED_TARGET}: {_met(ratio <= DEAD_FEED_TARGET)})"
    )


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    n_real = round(args.feeds * args.real_share)
    sources = generate(args.feeds - n_real, args.hosts, now, args.seed)
    sources += replicate_real(n_real, args.hosts, len(sources))
    bodies = [f.body for s in sources for f in s.feeds]
    n_feeds = len(bodies)
    real = sum(len(s.feeds) for s in sources if s.id.startswith("real"))
    print(
        f"{n_feeds} feeds ({real} replicated from the real corpus) in {len(sources)} sources, "
        f"{sum(map(len, bodies)) / 1e6:.1f} MB decoded, {args.hosts} loopback hosts, "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}, medians of {args.repeat}"
    )
    with publishers(sources, args.hosts) as ports, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        catalog_path = write_catalog(workdir / "catalog.toml", sources, ports)
        pairs: list[PassPair] = []
        bare: list[Timing] = []
        rss_before, rss_growth = max_rss_mib(), 0.0
        for i in range(args.repeat):  # interleaved, so that a busy spell hits both figures
            with fresh_database(args.database_url, workdir, i) as engine:
                pairs.append(asyncio.run(_two_passes(catalog_path, engine, second=True)))
            rss_growth = rss_growth or max_rss_mib() - rss_before
            bare.append(bare_parse(bodies))
        report_figures(pairs, bare, n_feeds, rss_growth)
        if not args.no_dead_feed:
            dead_feed_figures(sources, ports, args, workdir)

        if args.tracemalloc:
            with fresh_database(args.database_url, workdir, args.repeat) as engine:
                tracemalloc.start()
                asyncio.run(_two_passes(catalog_path, engine, second=False))
                traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
            print(
                f"                 tracemalloc peak {traced_peak:.0f} MiB "
                "(Python allocations only, one untimed first pass)"
            )

        if args.profile:
            ours = _median([our_parse(bodies, now) for _ in range(args.repeat)])
            print(
                f"\nparse_feed alone {ours:7.3f} s  (feedparser with our options + normalising, "
                "sequential, same bodies)"
            )
            with fresh_database(args.database_url, workdir, args.repeat + 1) as engine:
                (w1, c1, s1), (w2, c2, s2) = asyncio.run(_stages(catalog_path, engine))
            print_stages("where the time goes, first pass", w1, c1, s1)
            print_stages("where the time goes, second pass (304s)", w2, c2, s2)
            with (
                fresh_database(args.database_url, workdir, args.repeat + 2) as engine,
                profiled_threads() as profiles,
            ):
                asyncio.run(_two_passes(catalog_path, engine, second=False))
            stats = pstats.Stats(profiles[0])
            for profile in profiles[1:]:
                stats.add(profile)
            print(
                "\ncProfile of one first pass, all threads merged, our code, top 10 by "
                "cumulative time (the profiler itself slows feedparser down most):"
            )
            stats.sort_stats("cumulative").print_stats(r"/(digest|storage)/", 10)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--feeds", type=int, default=300, help="how many feeds (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--hosts", type=int, default=8, help="loopback publishers (default 8)")
    parser.add_argument(
        "--real-share",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of feeds replicated from the real corpus (default 0)",
    )
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL; a fresh schema per run "
        "is created in it and dropped afterwards (default: SQLite in a temp dir)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="add parse_feed alone, a stage breakdown and a cProfile",
    )
    parser.add_argument(
        "--no-dead-feed",
        action="store_true",
        help="skip the pass with a feed that never answers (about 2 first passes + 15 s)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="add tracemalloc's peak in one more (untimed) first pass",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.feeds < 1 or args.repeat < 1 or args.hosts < 1 or not 0 <= args.real_share <= 1:
        print("--feeds, --repeat and --hosts must be >= 1, --real-share in 0..1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="feedparser")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
