"""One ingest pass: every due catalog feed fetched, parsed, stored and clustered.

The pipeline, feed by feed (feeds run concurrently within the fetcher's limits, so a slow or
dead publisher never holds up the others):

1. **Due?** ``feeds.next_fetch_at`` says when, with a small tolerance (``feed_timing.due_by``):
   a feed due a few milliseconds after the pass starts is fetched in this pass, not a whole
   period later. Every feed's next fetch is scheduled from the pass's start, not from the
   moment it finished. A pass started by hand (``newsbot fetch``) takes every feed; the
   scheduled pass in ``newsbot run`` only the due ones. A fetch worker (``run_claimed``, several
   processes on PostgreSQL) claims due feeds in batches instead (``FeedStore.claim_due``, SKIP
   LOCKED), claiming more as its batch drains, so N workers share a pass without fetching a
   feed twice; it renews its claims while it works, and a dead worker's claims expire.
2. **Fetch** with the stored ETag / Last-Modified. A 304 costs no parsing: record success, done.
   A failure (timeout, 5xx, too large, redirect loop...) is recorded with a short reason and the
   feed backs off exponentially (``feed_timing``); the pass goes on.
3. **Parse** the bytes (``parse.parse_feed``, off the event loop: it is CPU work). A body that is
   no feed at all counts as a failure like any other. Only the newest ``MAX_ENTRIES`` entries
   are kept (logged), and an entry whose content breaks the cleaning is skipped and counted.
4. **Normalise** each entry into an ``ArticleInput``: the language is the source's unless the
   script says otherwise; the category is the feed's, or for a general feed the entry's own
   guess; entries older than the retention are dropped, as they would be pruned at once.
5. **Store**: upsert per source (new rows, updated rows, extra categories), one transaction per
   feed; an entry the schema cannot hold, or that the database refuses, is skipped and counted
   (``ArticleStore.upsert``), never the feed.
6. **Cluster** each new article against recent articles from other sources, of its language
   or, where shared names and numbers make it clear, of another (``cluster.ClusterIndex``, one
   for all languages), keeping its own id as the cluster id when nothing matches; an article
   matching two clusters merges them (their recent members move to the older one).
   Steps 5-6 run as soon as this feed is fetched: a slow feed never delays the others' stories.
7. After all feeds: hand the pass's new articles (with their clusters) to ``after_pass`` when
   given (keyword alerts, ``push.alerts``: one matcher per pass, never per story), prune
   articles older than the retention, and report exact counts, with each feed's time
   (``timings``, slowest first). A failing ``after_pass`` is logged, never the pass's failure.

Isolation: anything unexpected that goes wrong with one feed (a bug, hostile input we did not
foresee, one feed's database error) is that feed's failure, recorded and backed off like a
timeout, never the pass's: the other feeds are stored and pruning runs.

Threads: steps 3-4 (CPU work) run in one worker-thread hop; steps 5-6 and the feed's record in
one more, under the database lock, so the bot's event loop stays responsive and SQLite sees one
writer at a time. Records of 304s that queue for that lock are written together, in one
statement. ``python -m bench.ingest`` measures the pass.

Known limit with several fetch workers: two feeds of one source fetched at the same moment by
two workers may race to insert the same entry; the loser skips it (counted), and the next pass
adds its category. Clustering sees the other workers' articles once they are stored.

Over 350 lines on purpose: the pass and its per-feed isolation (every failure recorded as that
feed's, never the pass's) read best as one pipeline; its pure steps (parse, normalize, timing,
cluster) are modules of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from digest.catalog import Catalog, Source
from digest.clock import Clock, utcnow
from digest.cluster import ClusterIndex, ClusterParams, StoryText
from digest.errors import DigestError, FetchError
from digest.feed_timing import FeedTiming, after_failure, after_success, due_by
from digest.fetch import Fetcher, FetchResult, Validators
from digest.language import article_language
from digest.parse import MAX_ENTRIES, ParsedEntry, ParsedFeed, parse_feed
from digest.redact import shown_url
from storage.articles import ArticleInput, ArticleRow, ArticleStore, UpsertResult
from storage.feeds import FeedRow, FeedStore, FetchSuccess

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=14)
GENERAL = "general"
TIMINGS_SHOWN = 20  # the slowest feeds in a report
_T = TypeVar("_T")


@dataclass
class IngestReport:
    """Exact counts of one pass; ``newsbot fetch --json`` prints it."""

    feeds: int = 0
    skipped: int = 0
    ok: int = 0
    not_modified: int = 0
    failed: int = 0
    entries: int = 0
    skipped_entries: int = 0  # not stored: broke the cleaning, or the database refused them
    capped_entries: int = 0  # beyond the newest MAX_ENTRIES of a feed
    new_articles: int = 0
    updated_articles: int = 0
    pruned: int = 0
    seconds: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)
    # The slowest feeds, slowest first: source, category, url, seconds (from the pass's start
    # until the feed's stories were stored or it failed), outcome ("ok", "not_modified", or the
    # failure's kind: "timeout", "http_status", "parse", "error"...).
    timings: list[dict[str, object]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


Progress = Callable[[int, int], None]
AfterPass = Callable[[list[ArticleRow], datetime], object]
STOP_GRACE_SECONDS = 5.0  # on stop, how long feeds in flight may finish before they are given back


@dataclass(frozen=True)
class Claims:
    """How a fetch worker shares the feeds with other workers (``Ingestor.run_claimed``)."""

    worker: str  # host:pid:random, recorded as feeds.claimed_by
    ttl: timedelta  # a claim not renewed for this long is free again (its worker died)
    batch: int = 20  # feeds claimed at a time; more are claimed when half are done


class Ingestor:
    """Runs ingest passes; built once with its stores and the shared fetcher."""

    def __init__(
        self,
        catalog: Catalog,
        feeds: FeedStore,
        articles: ArticleStore,
        fetcher: Fetcher,
        *,
        timing: FeedTiming = FeedTiming(),
        retention: timedelta = DEFAULT_RETENTION,
        cluster_params: ClusterParams = ClusterParams(),
        clock: Clock = utcnow,
        after_pass: AfterPass | None = None,
    ) -> None:
        self.catalog = catalog
        self.after_pass = after_pass
        self._new: list[ArticleRow] = []  # this pass's new articles, for ``after_pass``
        self.feeds = feeds
        self.articles = articles
        self.fetcher = fetcher
        self.timing = timing
        self.retention = retention
        self.cluster_params = cluster_params
        self.clock = clock
        self._db_lock = asyncio.Lock()
        self._pending: list[FetchSuccess] = []  # see _record_success
        self._pass_lock = asyncio.Lock()
        self._index: ClusterIndex | None = None  # one for all languages: see _index_for
        self._indexed: set[str] = set()  # the languages loaded into it

    @property
    def running(self) -> bool:
        return self._pass_lock.locked()

    async def run_once(
        self, *, only_due: bool = True, progress: Progress | None = None
    ) -> IngestReport:
        """One pass over the catalog; never two at once (a second caller waits for the first)."""
        async with self._pass_lock:
            return await self._run(only_due, progress)

    async def run_claimed(self, claims: Claims, stop: asyncio.Event | None = None) -> IngestReport:
        """One fetch worker's pass: claim due feeds in batches until none is left; ``stop`` set
        ends it early (nothing more claimed; feeds in flight get a few seconds, then whatever
        is unfinished is given back to the other workers)."""
        async with self._pass_lock:
            return await self._run_claimed(claims, stop or asyncio.Event())

    async def _run_claimed(self, claims: Claims, stop: asyncio.Event) -> IngestReport:
        started = time.monotonic()
        now = self.clock()
        report = IngestReport()
        catalog_feeds = [(s.id, f.url, f.category) for s, f in self.catalog.feeds()]
        await self._db(self.feeds.sync, catalog_feeds, now)
        due_until = due_by(now, self.timing)
        self._index = None
        self._new = []
        in_flight: dict[asyncio.Task[None], int] = {}
        wake = asyncio.Event()
        exhausted = False

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.pop(task, None)
            wake.set()

        renewer = asyncio.create_task(self._renew_claims(claims, in_flight))
        try:
            while True:
                if not exhausted and not stop.is_set() and len(in_flight) <= claims.batch // 2:
                    rows = await self._db(
                        self.feeds.claim_due, claims.worker, self.clock(), due_until,
                        claims.batch - len(in_flight), claims.ttl,
                    )  # fmt: skip
                    exhausted = not rows
                    report.feeds += len(rows)
                    for feed in rows:
                        task = asyncio.create_task(self._isolated(feed, now, report, started))
                        in_flight[task] = feed.id
                        task.add_done_callback(finished)
                if not in_flight and (exhausted or stop.is_set()):
                    break
                if stop.is_set():  # finish what is in flight, briefly; the rest is given back
                    await asyncio.wait(list(in_flight), timeout=STOP_GRACE_SECONDS)
                    for task in list(in_flight):
                        task.cancel()
                    await asyncio.gather(*list(in_flight), return_exceptions=True)
                    break
                wake.clear()
                await _first_of(wake, stop)
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            # what was not recorded (given up on stop, or not in the catalog) is free again
            given_back = await self._db(self.feeds.release_claims, claims.worker, None)
        await self._after_pass(now)
        if report.feeds:
            report.pruned = await self._db(self.articles.prune, now - self.retention)
        return self._finish(report, started, report.feeds, given_back)

    async def _renew_claims(self, claims: Claims, in_flight: dict[asyncio.Task[None], int]) -> None:
        """Keep this worker's claims alive while their feeds are fetched (a slow publisher may
        take longer than the TTL); a renewal the database refuses is retried next time."""
        while True:
            await asyncio.sleep(claims.ttl.total_seconds() / 3)
            ids = list(in_flight.values())
            try:
                await self._db(
                    self.feeds.renew_claims, claims.worker, ids, self.clock(), claims.ttl
                )
            except Exception as e:
                log.warning("renewing feed claims failed: %s", type(e).__name__)

    def _finish(
        self, report: IngestReport, started: float, feeds: int, given_back: int = 0
    ) -> IngestReport:
        report.timings.sort(key=lambda t: -float(t["seconds"]))  # type: ignore[arg-type]
        del report.timings[TIMINGS_SHOWN:]
        report.seconds = round(time.monotonic() - started, 3)
        log.info(
            "ingest: %d feeds, %d ok, %d not modified, %d failed, %d new articles in %.1fs%s",
            feeds, report.ok, report.not_modified, report.failed, report.new_articles,
            report.seconds, f"; {given_back} claims given back" if given_back else "",
        )  # fmt: skip
        return report

    async def _run(self, only_due: bool, progress: Progress | None) -> IngestReport:
        started = time.monotonic()
        now = self.clock()
        report = IngestReport()
        catalog_feeds = [(s.id, f.url, f.category) for s, f in self.catalog.feeds()]
        await self._db(self.feeds.sync, catalog_feeds, now)
        every = await self._db(self.feeds.all)
        due_until = due_by(now, self.timing)
        due = [f for f in every if f.next_fetch_at <= due_until] if only_due else every
        report.feeds, report.skipped = len(every), len(every) - len(due)
        self._index = None
        self._new = []
        done = 0

        async def one(feed: FeedRow) -> None:
            nonlocal done
            await self._isolated(feed, now, report, started)
            done += 1
            if progress is not None:
                progress(done, len(due))

        await asyncio.gather(*(one(feed) for feed in due))
        await self._after_pass(now)
        report.pruned = await self._db(self.articles.prune, now - self.retention)
        return self._finish(report, started, len(due))

    async def _after_pass(self, now: datetime) -> None:
        """Hand the pass's new articles to ``after_pass`` (in a worker thread, under the
        database lock); its failure is logged and the pass goes on."""
        new, self._new = self._new, []
        if self.after_pass is None or not new:
            return
        try:
            await self._db(self.after_pass, new, now)
        except Exception:
            log.exception("after the ingest pass: handling %d new articles failed", len(new))

    async def _isolated(
        self, feed: FeedRow, now: datetime, report: IngestReport, pass_started: float
    ) -> None:
        """One feed, whatever happens to it: its failure is recorded, never raised."""
        outcome: str | None = "ok"
        try:
            outcome = await self._ingest_feed(feed, now, report)
        except DigestError as e:
            outcome = e.kind if isinstance(e, FetchError) else "parse"
            retry_after = e.retry_after_seconds if isinstance(e, FetchError) else None
            await self._fail(feed, now, report, str(e), retry_after)
        except Exception as e:  # unforeseen: this feed's failure, not the pass's
            log.exception("feed %s/%s: unexpected error", feed.source_id, feed.category)
            outcome = "error"
            await self._fail(feed, now, report, f"internal error: {_one_line(e)}", None)
        if outcome is None:
            return
        report.timings.append(
            {
                "source": feed.source_id,
                "category": feed.category,
                "url": shown_url(feed.url),
                "seconds": round(time.monotonic() - pass_started, 3),
                "outcome": outcome,
            }
        )

    async def _ingest_feed(self, feed: FeedRow, now: datetime, report: IngestReport) -> str | None:
        """Fetch, parse, store and cluster one feed; its outcome (None: not in the catalog)."""
        source = self.catalog.source(feed.source_id)
        if source is None:
            return None
        result = await self.fetcher.fetch(feed.url, Validators(feed.etag, feed.last_modified))
        if result.not_modified or result.body is None:
            await self._record_success(feed, now, result, None)
            report.not_modified += 1
            return "not_modified"
        parsed, inputs = await asyncio.to_thread(
            self._parse, result.body, result, source, feed.category, now
        )
        async with self._db_lock:
            stored = await asyncio.to_thread(
                self._store, feed, source.id, inputs, result, len(parsed.entries), now
            )
        report.ok += 1
        report.entries += len(parsed.entries)
        report.new_articles += len(stored.new)
        report.updated_articles += stored.updated
        report.capped_entries += parsed.capped_entries
        report.skipped_entries += parsed.skipped_entries + stored.skipped
        self._log_entry_problems(feed, parsed, stored)
        return "ok"

    def _log_entry_problems(self, feed: FeedRow, parsed: ParsedFeed, stored: UpsertResult) -> None:
        if parsed.capped_entries:
            log.warning(
                "feed %s/%s: kept the newest %d entries, dropped %d older ones",
                feed.source_id, feed.category, MAX_ENTRIES, parsed.capped_entries,
            )  # fmt: skip
        skipped = parsed.skipped_entries + stored.skipped
        if skipped:
            reasons = parsed.entry_errors + stored.errors
            log.warning(
                "feed %s/%s: skipped %d entries: %s", feed.source_id, feed.category, skipped,
                "; ".join(reasons) or "no link and no title",
            )  # fmt: skip

    async def _fail(
        self, feed: FeedRow, now: datetime, report: IngestReport, error: str,
        retry_after: float | None,
    ) -> None:  # fmt: skip
        report.failed += 1
        report.failures.append(
            {"source": feed.source_id, "url": shown_url(feed.url), "error": error}
        )
        try:
            await self._record_failure(feed, now, error, retry_after)
        except Exception:  # the database itself: the feed stays due, the pass goes on
            log.exception("feed %s/%s: could not record its failure", feed.source_id,
                          feed.category)  # fmt: skip

    def _parse(
        self, body: bytes, result: FetchResult, source: Source, feed_category: str, now: datetime
    ) -> tuple[ParsedFeed, list[ArticleInput]]:
        """Parse and normalise the entries: CPU work, in one worker-thread hop."""
        parsed = parse_feed(body, url=result.final_url, headers=result.headers, now=now)
        inputs = [
            self._to_input(entry, source, feed_category)
            for entry in parsed.entries
            if entry.published >= now - self.retention
        ]
        return parsed, inputs

    def _store(
        self, feed: FeedRow, source_id: str, inputs: list[ArticleInput], result: FetchResult,
        items: int, now: datetime,
    ) -> UpsertResult:  # fmt: skip
        """Store, cluster and record the fetch: one worker-thread hop, under the database lock."""
        stored = self.articles.upsert(source_id, inputs, now)
        self._cluster(stored.new, now)
        self.feeds.record_successes([self._success(feed, now, result, items)])
        return stored

    def _to_input(self, entry: ParsedEntry, source: Source, feed_category: str) -> ArticleInput:
        categories = [feed_category] if feed_category != GENERAL else []
        if feed_category == GENERAL:
            categories.append(entry.category_guess or GENERAL)
        return ArticleInput(
            entry_key=entry.key,
            url=entry.url,
            title=entry.title,
            summary=entry.summary,
            image_url=entry.image_url,
            published_at=entry.published,
            language=article_language(f"{entry.title} {entry.summary}", source.language),
            categories=tuple(categories),
        )

    def _cluster(self, new: Iterable[ArticleRow], now: datetime) -> None:
        """Give each new article a cluster: a matching story's, or its own id. An article
        that matches two clusters merges them (``ClusterIndex.place``): the recent members
        of the later one move, in the same UPDATE."""
        assignments: dict[int, int] = {}
        rows = sorted(new, key=lambda r: (r.published_at, r.id))
        for row in rows:
            index = self._index_for(row.language, now)
            cluster_id, moved = index.place(_story(row))  # its own id if nothing matches
            assignments[row.id] = cluster_id
            assignments.update(moved)
        if assignments:
            self.articles.set_clusters(assignments)
        if self.after_pass is not None:
            self._new += [replace(r, cluster_id=assignments.get(r.id, r.cluster_id)) for r in rows]

    def _index_for(self, language: str, now: datetime) -> ClusterIndex:
        """The pass's cluster index, holding the recent articles of every catalog language
        and of ``language``: one index for all, so a story can join another language's
        cluster when names and numbers make it clear (``cluster.across_languages``)."""
        index = self._index
        if index is None:
            index = self._index = ClusterIndex(self.cluster_params)
            self._indexed = set()
            for lang in sorted({source.language for source, _ in self.catalog.feeds()}):
                self._load(index, lang, now)
        if language not in self._indexed:
            self._load(index, language, now)
        return index

    def _load(self, index: ClusterIndex, language: str, now: datetime) -> None:
        """Add the clustered articles of ``language`` from the last two windows."""
        since = now - self.cluster_params.window * 2
        for row in reversed(self.articles.recent([language], since)):
            if row.cluster_id is not None:
                index.add(_story(row), row.cluster_id)
        self._indexed.add(language)

    async def _record_success(
        self, feed: FeedRow, now: datetime, result: FetchResult, items: int | None
    ) -> None:
        """Record a 200 or 304; returns once it is committed.

        Successes queue while they wait for the database lock, and whoever gets the lock
        writes every queued one in one statement: a pass of 304s costs a few transactions and
        thread hops instead of one per feed.
        """
        mine = self._success(feed, now, result, items)
        self._pending.append(mine)
        async with self._db_lock:
            if not any(s is mine for s in self._pending):
                return  # an earlier holder of the lock wrote it
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self.feeds.record_successes, batch)
            except BaseException:
                self._pending += [s for s in batch if s is not mine]  # their owners retry
                raise

    def _success(
        self, feed: FeedRow, now: datetime, result: FetchResult, items: int | None
    ) -> FetchSuccess:
        return FetchSuccess(
            feed.id,
            now=now,
            next_fetch_at=after_success(now, self.timing, result.max_age_seconds),
            etag=result.validators.etag,
            last_modified=result.validators.last_modified,
            items_seen=items,
        )

    async def _record_failure(
        self, feed: FeedRow, now: datetime, error: str, retry_after: float | None
    ) -> None:
        failures = feed.consecutive_failures + 1
        log.warning(
            "feed %s (%s) failed %d× in a row: %s", shown_url(feed.url), feed.source_id, failures,
            error,
        )  # fmt: skip
        await self._db(
            self.feeds.record_failure,
            feed.id,
            now=now,
            error=error,
            next_fetch_at=after_failure(now, self.timing, failures, retry_after),
        )

    async def _db(self, function: Callable[..., _T], *args: object, **kwargs: object) -> _T:
        async with self._db_lock:
            return await asyncio.to_thread(function, *args, **kwargs)


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _one_line(error: BaseException) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text[:200]


def _story(row: ArticleRow) -> StoryText:
    return StoryText(
        id=row.id,
        source_id=row.source_id,
        language=row.language,
        title=row.title,
        summary=row.summary,
        published=row.published_at,
    )
