"""One ingest pass end to end: local feeds over HTTP → parse → database → clusters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from digest.catalog import load_catalog
from digest.feed_timing import FeedTiming
from digest.fetch import Fetcher, FetchLimits
from digest.ingest import Ingestor, IngestReport
from storage.articles import ArticleStore
from storage.feeds import FeedStore
from tests.feedserver import FeedServer, Reply
from tests.integration.news_fixtures import (
    BUDGET_EN,
    HOCKEY_EN,
    OLD_EN,
    QUAKE_EN_A,
    QUAKE_EN_B,
    QUAKE_FR,
    rss,
    write_catalog,
)

NOW = datetime.now(UTC).replace(microsecond=0)
LIMITS = FetchLimits(read_timeout=0.5, total_timeout=2, connect_timeout=1, max_bytes=200_000)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


def make_ingestor(
    tmp_path: Path, server: FeedServer, engine: Engine, feeds: dict[str, list[tuple[str, str]]],
    clock: Clock, fetcher: Fetcher,
) -> Ingestor:  # fmt: skip
    catalog = load_catalog(write_catalog(tmp_path / "catalog.toml", server, feeds))
    timing = FeedTiming(refresh=timedelta(minutes=15))
    return Ingestor(
        catalog, FeedStore(engine), ArticleStore(engine), fetcher, timing=timing, clock=clock
    )


def run(ingestor: Ingestor, only_due: bool = False) -> IngestReport:
    return asyncio.run(ingestor.run_once(only_due=only_due))


async def _with_fetcher(
    tmp_path: Path, server: FeedServer, engine: Engine, feeds: dict[str, list[tuple[str, str]]],
    clock: Clock, passes: list[bool],
) -> list[IngestReport]:  # fmt: skip
    async with Fetcher(LIMITS) as fetcher:
        ingestor = make_ingestor(tmp_path, server, engine, feeds, clock, fetcher)
        reports = []
        for only_due in passes:
            reports.append(await ingestor.run_once(only_due=only_due))
        return reports


def passes(
    tmp_path: Path, server: FeedServer, engine: Engine, feeds: dict[str, list[tuple[str, str]]],
    clock: Clock, *only_due: bool,
) -> list[IngestReport]:  # fmt: skip
    return asyncio.run(_with_fetcher(tmp_path, server, engine, feeds, clock, list(only_due)))


def test_every_failure_mode_is_counted_exactly(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    server.add_file(
        "/alpha.xml", rss([QUAKE_EN_A, BUDGET_EN, OLD_EN], NOW), headers={"ETag": '"v1"'}
    )
    server.add_file("/beta.xml", rss([QUAKE_EN_B, HOCKEY_EN], NOW), gzip=True)
    server.add_file("/gamma.xml", rss([QUAKE_FR], NOW, language="fr"))
    server.add_route("/500.xml", lambda _r: Reply(500, {}, b"oops"))
    server.add_route("/404.xml", lambda _r: Reply(404, {}, b"gone"))
    server.add_stall("/slow.xml")
    server.add_file("/page.html", "not_a_feed.html", headers={"Content-Type": "text/html"})
    server.add_file("/bomb.xml", "billion_laughs.xml")
    server.add_file("/cut.xml", "truncated.xml")
    server.add_route("/huge.xml", lambda _r: Reply(200, {}, b"<rss>" + b"x" * 300_000))
    server.add_redirect("/loop.xml", "/loop.xml")
    feeds = {
        "alpha": [("national", "/alpha.xml"), ("business", "/500.xml"), ("sports", "/404.xml")],
        "beta": [("general", "/beta.xml"), ("national", "/slow.xml"), ("special", "/page.html"),
                 ("business", "/bomb.xml"), ("sports", "/huge.xml"), ("special", "/loop.xml")],
        "gamma": [("national", "/gamma.xml"), ("international", "/cut.xml")],
    }  # fmt: skip
    first, second = passes(tmp_path, server, engine, feeds, Clock(NOW), False, False)

    assert first.feeds == 11
    assert first.ok == 4, first.failures  # alpha, beta, gamma, truncated-but-readable
    assert first.failed == 7
    assert {f["url"].rsplit("/", 1)[1] for f in first.failures} == {
        "500.xml", "404.xml", "slow.xml", "page.html", "bomb.xml", "huge.xml", "loop.xml",
    }  # fmt: skip
    articles = ArticleStore(engine)
    stored_before_truncated = 5  # quake ×3, budget, hockey (the 30-day-old story is dropped)
    assert first.new_articles == articles.count()
    assert first.new_articles >= stored_before_truncated
    # Second pass: alpha answers 304 (ETag), nothing is new, failures are counted again.
    assert second.not_modified == 1
    assert second.new_articles == 0
    assert second.failed == 7
    assert articles.count() == first.new_articles


def test_stories_cluster_across_sources_but_not_languages(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    server.add_file("/alpha.xml", rss([QUAKE_EN_A, BUDGET_EN], NOW))
    server.add_file("/beta.xml", rss([QUAKE_EN_B, HOCKEY_EN], NOW))
    server.add_file("/gamma.xml", rss([QUAKE_FR], NOW, language="fr"))
    feeds = {
        "alpha": [("national", "/alpha.xml")],
        "beta": [("national", "/beta.xml")],
        "gamma": [("national", "/gamma.xml")],
    }
    (report,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert report.new_articles == 5
    articles = ArticleStore(engine)
    rows = articles.recent(["en", "fr"], NOW - timedelta(days=1))
    by_title = {r.title: r for r in rows}
    quake_a = by_title[QUAKE_EN_A.title]
    quake_b = by_title[QUAKE_EN_B.title]
    assert quake_a.cluster_id == quake_b.cluster_id
    assert by_title[QUAKE_FR.title].cluster_id not in (quake_a.cluster_id, None)
    assert by_title[BUDGET_EN.title].cluster_id != quake_a.cluster_id
    assert articles.cluster_sources([quake_a.cluster_id])[quake_a.cluster_id] == ("alpha", "beta")  # type: ignore[index,list-item]


def test_same_entry_in_two_category_feeds_is_one_article(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    body = rss([BUDGET_EN], NOW)
    server.add_file("/national.xml", body)
    server.add_file("/business.xml", body)
    feeds = {"alpha": [("national", "/national.xml"), ("business", "/business.xml")]}
    (report,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert report.new_articles == 1
    (row,) = ArticleStore(engine).recent(["en"], NOW - timedelta(days=1))
    assert row.categories == ("business", "national")


def test_updated_entry_is_updated_in_place(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    versions = [rss([BUDGET_EN], NOW)]
    server.add_route("/alpha.xml", lambda _r: Reply(200, {}, versions[-1]))
    feeds = {"alpha": [("national", "/alpha.xml")]}

    async def scenario() -> tuple[IngestReport, IngestReport]:
        async with Fetcher(LIMITS) as fetcher:
            ingestor = make_ingestor(tmp_path, server, engine, feeds, Clock(NOW), fetcher)
            first = await ingestor.run_once(only_due=False)
            fixed = BUDGET_EN.__class__(**{**BUDGET_EN.__dict__, "title": "Budget: corrected"})
            versions.append(rss([fixed], NOW))
            return first, await ingestor.run_once(only_due=False)

    first, second = asyncio.run(scenario())
    assert (first.new_articles, second.new_articles, second.updated_articles) == (1, 0, 1)
    (row,) = ArticleStore(engine).recent(["en"], NOW - timedelta(days=1))
    assert row.title == "Budget: corrected"


def test_failing_feed_backs_off_and_recovers(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    healthy = [False]
    server.add_route(
        "/flaky.xml",
        lambda _r: Reply(200, {}, rss([HOCKEY_EN], NOW)) if healthy[0] else Reply(503, {}, b""),
    )
    feeds = {"alpha": [("sports", "/flaky.xml")]}
    clock = Clock(NOW)
    store = FeedStore(engine)

    async def scenario() -> list[timedelta]:
        delays = []
        async with Fetcher(LIMITS) as fetcher:
            ingestor = make_ingestor(tmp_path, server, engine, feeds, clock, fetcher)
            for _ in range(4):
                await ingestor.run_once(only_due=False)
                (feed,) = store.all()
                delays.append(feed.next_fetch_at - clock.now)
                clock.now += timedelta(minutes=1)
            healthy[0] = True
            report = await ingestor.run_once(only_due=False)
            assert report.ok == 1
            return delays

    delays = asyncio.run(scenario())
    minutes = [round(d.total_seconds() / 60) for d in delays]
    assert minutes == [15, 30, 60, 120]
    (feed,) = store.all()
    assert feed.consecutive_failures == 0 and feed.last_error is None and feed.items_seen == 1


def test_scheduled_pass_skips_feeds_not_due(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    server.add_file("/alpha.xml", rss([BUDGET_EN], NOW))
    feeds = {"alpha": [("national", "/alpha.xml")]}
    first, second = passes(tmp_path, server, engine, feeds, Clock(NOW), True, True)
    assert (first.ok, first.skipped) == (1, 0)
    assert (second.ok, second.skipped) == (0, 1)
    assert len(server.requests_for("/alpha.xml")) == 1


def test_old_articles_are_pruned(tmp_path: Path, server: FeedServer, engine: Engine) -> None:
    server.add_file("/alpha.xml", rss([BUDGET_EN], NOW))
    feeds = {"alpha": [("national", "/alpha.xml")]}
    clock = Clock(NOW)

    async def scenario() -> IngestReport:
        async with Fetcher(LIMITS) as fetcher:
            ingestor = make_ingestor(tmp_path, server, engine, feeds, clock, fetcher)
            await ingestor.run_once(only_due=False)
            clock.now += timedelta(days=15)
            return await ingestor.run_once(only_due=False)

    assert asyncio.run(scenario()).pruned == 1
    assert ArticleStore(engine).count() == 0
