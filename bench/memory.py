"""Resident memory of a real ``newsbot run`` at scale: ``python -m bench.memory``.

Target (issue #12): with 100,000 set-up readers and 50,000 articles, the Related index warm,
``newsbot run`` stays under 200 MB RSS, through a digest tick and its fan-out.

Data, in a fresh migrated SQLite database in a temp dir (bulk inserts, seconds):

* **Articles**: ``--articles`` (50,000) from ``bench.related``'s generator (pseudo-words in six
  scripts, subjects, names, 1-4 tellings of each event within 3 h sharing a cluster), published
  over the 14 days before now, told by the bundled catalog's 60 offered sources in their own
  languages, each in one of the six categories.
* **Readers**: ``--readers`` (100,000): a primary country (the catalog's seven, weighted), one
  or two more for a third of them, per country a language the country offers and 1-3 of its
  sources, 1-3 categories (one in ten "all"), one or two delivery minutes. ``--due`` (5,000) of
  them have a delivery minute a minute ago but are not due yet; the others are due later
  today or tomorrow, away from the bench's minutes.

What runs: the strict fake Bot API (``newsbot_testing.fakes``) in this process, every reader
a known chat; ``newsbot run`` as a child process (``newsbot_testing.launcher``), feeds off,
``SEND_MAX_RATE`` 1000 so the fan-out is not paced for minutes. Phases, each awaited on a
condition (a log line, a count of calls), never a fixed sleep:

1. **start**: the bot polls (its first ``getUpdates``), and its first tick has run (nobody due).
2. **warm**: the ``related-refresh`` job (5 s after start-up) has built the index over the
   whole window (its log line ``related index: N new articles``).
3. **tick and fan-out**: the ``--due`` readers are made due (``next_due_at`` set to their
   slot); the next minute tick composes and enqueues their digests and the sender sends them
   all to the fake.

The child's ``VmRSS`` (``/proc/<pid>/status``) is sampled every 0.1 s throughout; printed: RSS
at start, after the index is warm, the peak of each phase, and ``VmHWM`` (the kernel's
high-water mark) at the end, in MiB. ``--explain`` then re-runs the two big steps in this
process under ``tracemalloc`` against the same database (a cold Related build; a tick for the
same due readers) and prints each one's held and peak Python memory and its top allocation
sites: what takes the memory.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from bench.related import LANGUAGE_WEIGHTS, Language, _event, _telling
from bench.related import NOW as RELATED_NOW
from digest.catalog import CATEGORIES, Catalog, load_catalog
from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.launcher import newsbot
from newsbot_testing.seeding import Reader, insert_readers
from storage.articles import ArticleInput, ArticleStore
from storage.db import make_engine, migrate
from storage.tables import User, UserCountry, UserLanguage, UserSource

TARGET_MIB = 200
FIRST_READER = 2_000_000
COUNTRY_WEIGHTS = {"IN": 30, "US": 20, "DE": 10, "CA": 10, "QA": 8, "CN": 8, "WORLD": 14}
MIB = 1024 * 1024


# ------------------------------------------------------------------------------ the database
def populate_articles(
    store: ArticleStore, catalog: Catalog, count: int, now: datetime, seed: int
) -> int:
    """``count`` articles from ``bench.related``'s generator, moved to end at ``now`` and told
    by the catalog's offered sources of each language; returns how many were stored."""
    rng = random.Random(seed)
    langs = {code: Language(code, rng) for code in LANGUAGE_WEIGHTS}
    by_language: dict[str, list[str]] = {code: [] for code in LANGUAGE_WEIGHTS}
    for source in catalog.sources:
        if source.offered and source.language in by_language:
            by_language[source.language].append(source.id)
    codes = [code for code in LANGUAGE_WEIGHTS if by_language[code]]
    weights = [LANGUAGE_WEIGHTS[code] for code in codes]
    shift = now - RELATED_NOW
    pending: dict[str, list[tuple[ArticleInput, int]]] = {}
    made = 0
    for event_no in itertools.count():
        if made >= count:
            break
        code = rng.choices(codes, weights=weights)[0]
        event = _event(langs[code], rng)
        tellers = rng.sample(by_language[code], min(len(by_language[code]), rng.randint(1, 4)))
        category = rng.choice(CATEGORIES)
        for source in tellers[: count - made]:
            item = _telling(event, langs[code], rng, f"m-{source}-{event_no}")
            item = replace(item, published_at=item.published_at + shift, categories=(category,))
            pending.setdefault(source, []).append((item, event_no))
            made += 1
    first_of_event: dict[int, int] = {}
    clusters: dict[int, int] = {}
    for source, items in pending.items():
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            stored = store.upsert(source, [item for item, _ in chunk], now)
            for row, (_, event_no) in zip(stored.new, chunk, strict=True):
                clusters[row.id] = first_of_event.setdefault(event_no, row.id)
    store.set_clusters(clusters)
    return len(clusters)


@dataclass(frozen=True)
class Choice:
    """One country of a reader: its news language and sources (the first is primary)."""

    country: str
    language: str
    sources: tuple[str, ...]


def _choice(catalog: Catalog, country: str, rng: random.Random) -> Choice:
    language = rng.choice(catalog.languages_with_sources(country))
    sources = [s.id for s in catalog.sources_for(country, [language])]
    return Choice(
        country, language, tuple(rng.sample(sources, min(len(sources), rng.randint(1, 3))))
    )


def populate_readers(
    url: str, catalog: Catalog, count: int, due: int, slot: datetime, seed: int
) -> list[int]:
    """``count`` set-up readers with the spread of the module docstring; the first ``due``
    deliver at ``slot`` (a minute ago) but wait a day, until :func:`make_due`. Returns every
    reader's id."""
    rng = random.Random(seed)
    countries, weights = list(COUNTRY_WEIGHTS), list(COUNTRY_WEIGHTS.values())
    slot_minute = slot.hour * 60 + slot.minute
    engine = make_engine(url)
    ids = list(range(FIRST_READER, FIRST_READER + count))
    with engine.begin() as conn:
        for start in range(0, count, 5000):
            readers: list[Reader] = []
            extra: list[tuple[int, int, Choice]] = []
            for uid in ids[start : start + 5000]:
                primary, *others = dict.fromkeys(
                    rng.choices(countries, weights=weights, k=rng.choice((1, 1, 2, 3)))
                )
                first = _choice(catalog, primary, rng)
                extra += [(uid, i, _choice(catalog, c, rng)) for i, c in enumerate(others, 1)]
                picked = rng.sample(CATEGORIES, rng.randint(1, 3))
                categories = ("all",) if rng.random() < 0.1 else tuple(picked)
                if uid - FIRST_READER < due:
                    minutes: tuple[int, ...] = (slot_minute,)
                    next_due = slot + timedelta(days=1)
                else:  # any time of day but the bench's next hour
                    minutes = tuple({(slot_minute + rng.randint(90, 1380)) % 1440
                                     for _ in range(rng.randint(1, 2))})  # fmt: skip
                    gap = min((m - slot_minute) % 1440 for m in minutes)
                    next_due = slot + timedelta(minutes=gap)
                readers.append(
                    Reader(uid, primary, first.language, first.sources, categories, minutes,
                           next_due_at=next_due)
                )  # fmt: skip
            insert_readers(conn, readers, slot)
            _insert_other_countries(conn, extra)
    engine.dispose()
    return ids


def _insert_other_countries(conn: Connection, extra: Sequence[tuple[int, int, Choice]]) -> None:
    """The non-primary countries of readers (``seeding.insert_readers`` writes the primary)."""
    if not extra:
        return
    conn.execute(insert(UserCountry), [
        {"user_id": uid, "country": c.country, "is_primary": False, "position": pos}
        for uid, pos, c in extra
    ])  # fmt: skip
    conn.execute(insert(UserLanguage), [
        {"user_id": uid, "country": c.country, "language": c.language, "is_primary": True}
        for uid, _, c in extra
    ])  # fmt: skip
    conn.execute(insert(UserSource), [
        {"user_id": uid, "country": c.country, "source_id": s, "is_primary": i == 0}
        for uid, _, c in extra for i, s in enumerate(c.sources)
    ])  # fmt: skip


def make_due(url: str, ids: Sequence[int], slot: datetime) -> None:
    """The readers of ``ids`` become due for their ``slot`` (the next tick sends it)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(update(User).where(User.id.in_(chunk)).values(next_due_at=slot))  # type: ignore[attr-defined]
    engine.dispose()


# ------------------------------------------------------------------------------- the sampler
class Sampler:
    """Reads the child's VmRSS every ``every`` seconds in a thread; phases mark the samples."""

    def __init__(self, pid: int, log: Path, every: float = 0.1) -> None:
        self.pid = pid
        self.log = log
        self.every = every
        self.samples: list[tuple[float, str, int]] = []  # (time, phase, VmRSS kB)
        self.phase = "start-up"
        # Log lines that end a phase, watched here so that the RSS at each is sampled at once:
        # the process is the pusher (start-up done), the Related index is built.
        self.marks = [("this process is the pusher", "warming"),
                      (r"related index: \d+ new articles", "warm")]  # fmt: skip
        self.at: dict[str, int] = {}  # phase -> VmRSS when it began
        self.started: dict[str, float] = {}  # phase -> time.monotonic() when it began
        self.last = self.hwm = 0  # the last VmRSS and VmHWM read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def status(self, key: str) -> int:
        """One ``/proc/<pid>/status`` field in kB (0 once the process is gone)."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        return int(match[1]) if match else 0

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            rss, hwm = self.status("VmRSS"), self.status("VmHWM")
            if rss:
                self.samples.append((time.monotonic(), self.phase, rss))
                self.last, self.hwm = rss, hwm
            if self.marks and _log_match(self.log, self.marks[0][0]):
                self.set_phase(self.marks.pop(0)[1], rss)

    def set_phase(self, phase: str, rss: int | None = None) -> None:
        self.at[phase] = rss or self.status("VmRSS")
        self.started[phase] = time.monotonic()
        self.phase = phase

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, phase: str) -> int:
        return max((rss for _, p, rss in self.samples if p == phase), default=0)


def _wait(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    log: Path,
    progress: Callable[[], int] | None = None,
) -> Any:
    """Poll ``condition`` until true (returned) or ``timeout``; every 30 s print ``progress``
    (a peak RSS in kB so far) if given, so a long tick shows its growth."""
    start = time.monotonic()
    shown = start
    while time.monotonic() < start + timeout:
        value = condition()
        if value:
            return value
        if progress is not None and time.monotonic() - shown >= 30:
            shown = time.monotonic()
            print(f"  ... {shown - start:.0f} s waiting for {what}: "
                  f"peak so far {progress() / 1024:.0f} MiB", flush=True)  # fmt: skip
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; log tail:\n{tail}")


def _log_match(log: Path, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, log.read_text(errors="replace")) if log.exists() else None


# ------------------------------------------------------------------------------- the run
def run_bot(
    url: str, ids: Sequence[int], due_ids: Sequence[int], slot: datetime, tmp: Path, wait: float
) -> bool:
    """Run the phases; print the memory table even if one times out. True if all finished."""
    log = tmp / "newsbot.log"
    with FakeBotAPI() as fake:
        fake.add_users(ids)
        started = time.monotonic()
        with newsbot(fake, url, log, SEND_MAX_RATE="1000") as process:
            sampler = Sampler(process.pid, log)
            sampler.start()
            try:
                _phases(fake, sampler, url, due_ids, slot, log, started, wait)
                finished = True
            except TimeoutError as e:
                print(e)
                finished = False
            finally:
                sampler.stop()
    _table(sampler)
    return finished


def _phases(
    fake: FakeBotAPI,
    sampler: Sampler,
    url: str,
    due_ids: Sequence[int],
    slot: datetime,
    log: Path,
    started: float,
    wait: float,
) -> None:
    _wait(lambda: "warming" in sampler.at, 120, "the pusher lease", log)
    print(f"start-up: the pusher after {time.monotonic() - started:.1f} s, "
          f"RSS {sampler.at['warming'] / 1024:.0f} MiB")  # fmt: skip
    _wait(lambda: "warm" in sampler.at, wait, "the Related index", log)
    warm = _log_match(log, r"related index: (\d+) new articles")
    assert warm is not None
    seconds, rss = time.monotonic() - started, sampler.at["warm"] / 1024
    print(
        f"Related index warm ({int(warm[1]):,} articles) after {seconds:.1f} s: RSS {rss:.0f} MiB"
    )
    sampler.set_phase("tick")
    make_due(url, due_ids, slot)
    tick = _wait(
        lambda: _log_match(log, r"digest tick: (\d+) readers due, (\d+) digests"), wait,
        "the digest tick", log, lambda: sampler.peak("tick"),
    )  # fmt: skip
    queued = int(tick[2])
    print(f"tick: {int(tick[1]):,} readers due, {queued:,} digests queued after "
          f"{time.monotonic() - sampler.started['tick']:.0f} s")  # fmt: skip
    sampler.set_phase("fan-out")
    _wait(lambda: len(fake.calls_to("sendMessage")) >= queued, wait,
          f"{queued:,} sendMessage calls", log)  # fmt: skip
    print(f"fan-out: {queued:,} messages sent {time.monotonic() - sampler.started['tick']:.0f} s "
          f"after the readers became due")  # fmt: skip


def _table(sampler: Sampler) -> None:
    print()
    print(f"newsbot run, resident memory in MiB (target: under {TARGET_MIB})")
    rows = [
        ("at start-up (pusher lease taken, no data read)", sampler.at.get("warming", 0)),
        ("peak while the Related index was built", sampler.peak("warming")),
        ("after the Related index is warm", sampler.at.get("warm", 0)),
        ("peak during the tick", sampler.peak("tick")),
        ("peak during the fan-out (after the tick)", sampler.peak("fan-out")),
        ("at the end", sampler.last),
        ("VmHWM (the kernel's high-water mark)", sampler.hwm),
    ]
    for label, kb in rows:
        print(f"  {label:<48} {kb / 1024:7.0f}")
    verdict = "under" if sampler.hwm / 1024 < TARGET_MIB else "OVER"
    print(f"  VmHWM {verdict} the {TARGET_MIB} MiB target")


def explain(url: str, due_ids: Sequence[int], slot: datetime, top: int) -> None:
    """The two big steps again, in this process, under tracemalloc."""
    from digest.related import RelatedFinder, RelatedIndex
    from push.tick import DigestScheduler
    from storage.deliveries import DeliveryStore
    from storage.users import UserStore

    engine = make_engine(url)
    store = ArticleStore(engine)
    print()
    print("in this process, under tracemalloc (Python allocations only):")
    tracemalloc.start(8)
    base = tracemalloc.get_traced_memory()[0]
    index = RelatedIndex()
    RelatedFinder(store, index).refresh()
    held, peak = tracemalloc.get_traced_memory()
    print(f"  Related cold build: {(held - base) / MIB:.1f} MiB held, "
          f"{(peak - base) / MIB:.1f} MiB peak")  # fmt: skip
    _top(tracemalloc.take_snapshot(), top)
    tracemalloc.stop()
    del index
    make_due(url, due_ids, slot)
    scheduler = DigestScheduler(UserStore(engine), store, DeliveryStore(engine), load_catalog())
    tracemalloc.start(8)
    base = tracemalloc.get_traced_memory()[0]
    cpu = time.process_time()
    report = scheduler.tick(datetime.now(UTC))
    cpu = time.process_time() - cpu
    held, peak = tracemalloc.get_traced_memory()
    print(f"  tick for {report.readers:,} due readers ({report.rankings} rankings; the outbox "
          f"rows already exist): {(peak - base) / MIB:.1f} MiB peak, "
          f"{(held - base) / MIB:.1f} MiB held after, {cpu:.1f} s CPU (traced)")  # fmt: skip
    _top(tracemalloc.take_snapshot(), top)
    tracemalloc.stop()
    engine.dispose()


def _top(snapshot: tracemalloc.Snapshot, top: int) -> None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    for stat in snapshot.filter_traces(filters).statistics("lineno")[:top]:
        frame = stat.traceback[0]
        name = (
            os.path.relpath(frame.filename, here)
            if frame.filename.startswith(here)
            else ("/".join(Path(frame.filename).parts[-2:]))
        )
        print(f"    {stat.size / MIB:6.1f} MiB {stat.count:>8,} blocks  {name}:{frame.lineno}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--due", type=int, default=5_000, help="readers due in the tick")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="tracemalloc tops, in process")
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--wait", type=float, default=1800, help="seconds allowed per phase")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    slot = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    catalog = load_catalog()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp / 'memory.db'}"
        started, cpu = time.perf_counter(), time.process_time()
        engine = make_engine(url)
        migrate(engine)
        stored = populate_articles(ArticleStore(engine), catalog, args.articles, now, args.seed)
        engine.dispose()
        ids = populate_readers(url, catalog, args.readers, args.due, slot, args.seed)
        print(f"database: {stored:,} articles, {len(ids):,} readers ({args.due:,} to be due) in "
              f"{time.perf_counter() - started:.0f} s ({time.process_time() - cpu:.0f} s CPU), "
              f"{(tmp / 'memory.db').stat().st_size / MIB:.0f} MiB on disk")  # fmt: skip
        due_ids = ids[: args.due]
        finished = run_bot(url, ids, due_ids, slot, tmp, args.wait)
        if args.explain:
            explain(url, due_ids, slot, args.top)
    return 0 if finished else 1


if __name__ == "__main__":
    raise SystemExit(main())
