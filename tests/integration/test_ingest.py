"""One ingest pass end to end: local feeds over HTTP → parse → database → clusters."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from sqlalchemy.engine import Engine

import digest.ingest as ingest_module
from digest.catalog import load_catalog
from digest.feed_timing import FeedTiming
from digest.fetch import Fetcher, FetchLimits
from digest.ingest import Ingestor, IngestReport
from digest.parse import MAX_ENTRIES
from newsbot_testing.feedserver import FeedServer, Reply
from storage.articles import ArticleInput, ArticleRow, ArticleStore
from storage.feeds import FeedStore
from storage.stats import StatsStore
from tests.integration.news_fixtures import (
    BUDGET_EN,
    HOCKEY_EN,
    OLD_EN,
    QUAKE_EN_A,
    QUAKE_EN_B,
    QUAKE_FR,
    Item,
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


def test_a_story_joins_another_language_cluster_when_names_and_numbers_agree(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    """Written for #16: the French report shares "Carney", "Poilievre", "Mark" and 25 with the
    English one; before, clusters never crossed languages."""
    debate_en = Item(
        "debate-en",
        "Carney and Poilievre clash over tariffs in Ottawa debate",
        "Prime Minister Mark Carney said the 25 per cent levy on Canadian steel would be "
        "answered; Pierre Poilievre called the plan too late.",
        timedelta(hours=3),
    )
    debate_fr = Item(
        "debat-fr",
        "Débat à Ottawa : Carney et Poilievre s'affrontent sur les tarifs",
        "Le premier ministre Mark Carney promet une riposte aux droits de 25 % sur l'acier; "
        "Pierre Poilievre juge le plan tardif.",
        timedelta(hours=2),
    )
    server.add_file("/alpha.xml", rss([debate_en, BUDGET_EN], NOW))
    server.add_file("/gamma.xml", rss([debate_fr, QUAKE_FR], NOW, language="fr"))
    feeds = {"alpha": [("national", "/alpha.xml")], "gamma": [("national", "/gamma.xml")]}
    (report,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert report.new_articles == 4
    rows = ArticleStore(engine).recent(["en", "fr"], NOW - timedelta(days=1))
    by_title = {r.title: r for r in rows}
    english = by_title[debate_en.title]
    assert english.cluster_id is not None
    assert by_title[debate_fr.title].cluster_id == english.cluster_id
    assert by_title[QUAKE_FR.title].cluster_id != english.cluster_id


def test_a_story_matching_two_stored_clusters_merges_them_in_the_database(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    """Written for #16: the bridge and ferry reports share no word; the third report, a pass
    later, tells both. Before, it joined one cluster and Related missed the other source."""
    bridge = Item(
        "bridge",
        "Harbor Bridge closes for repairs after crack found",
        "Engineers in Portsmouth found a crack in a main girder on Monday.",
        timedelta(hours=3),
    )
    ferry = Item(
        "ferry",
        "Mayor Okafor orders ferries to replace closed crossing",
        "Ferries will run every 20 minutes from Tuesday, Mayor Okafor said.",
        timedelta(hours=2),
    )
    both = Item(
        "both",
        "Harbor Bridge shut over girder crack, Okafor orders ferries",
        "Mayor Okafor said ferries will run every 20 minutes while engineers repair the crack "
        "in a girder of the Harbor Bridge.",
        timedelta(hours=1),
    )
    served = [rss([], NOW), rss([both], NOW)]  # the first pass sees an empty feed

    def beta(_request: object) -> Reply:
        return Reply(200, {}, served.pop(0) if len(served) > 1 else served[0])

    server.add_file("/alpha.xml", rss([bridge, ferry], NOW))  # two stories of one source
    server.add_route("/beta.xml", beta)
    feeds = {"alpha": [("national", "/alpha.xml")], "beta": [("national", "/beta.xml")]}
    first, second = passes(tmp_path, server, engine, feeds, Clock(NOW), False, False)
    assert (first.new_articles, second.new_articles) == (2, 1)
    articles = ArticleStore(engine)
    rows = {r.title: r for r in articles.recent(["en"], NOW - timedelta(days=1))}
    ids = {rows[item.title].cluster_id for item in (bridge, ferry, both)}
    assert ids == {rows[bridge.title].id}  # one cluster, under the report that began it
    cluster = rows[bridge.title].id
    assert articles.cluster_sources([cluster])[cluster] == ("alpha", "beta")


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


# --- hostile and real-world feeds (#14, #17) ------------------------------------------------


def rss_items(*items: str) -> bytes:
    """A raw RSS 2.0 document around ``items`` (each a complete ``<item>``)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
        "<link>https://news.example/</link><language>en</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(title: str, link: str, *, description: str = "", extra: str = "") -> str:
    stamp = format_datetime(NOW - timedelta(hours=1))
    return (
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(description)}</description><pubDate>{stamp}</pubDate>"
        f"{extra}</item>"
    )


def test_marked_section_in_one_entry_costs_nothing(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    """``<![foo[`` in one summary raised AssertionError out of the pass (#14.3); and titles
    keep no bidirectional override (#14)."""
    server.add_file(
        "/alpha.xml",
        rss_items(
            item("Marked", "https://news.example/m", description="before <![foo[ after"),
            item("\u202eReversed\u202c title \u2066x\u2069", "https://news.example/r"),
        ),
    )
    server.add_file("/beta.xml", rss([HOCKEY_EN], NOW))
    feeds = {"alpha": [("national", "/alpha.xml")], "beta": [("sports", "/beta.xml")]}
    (report,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert (report.ok, report.failed, report.new_articles) == (2, 0, 3), report.failures
    titles = {r.title: r for r in ArticleStore(engine).recent(["en"], NOW - timedelta(days=1))}
    assert set(titles) == {"Marked", "Reversed title x", HOCKEY_EN.title}
    assert titles["Marked"].summary == "before"


def test_unexpected_error_in_one_feed_is_that_feeds_failure(
    tmp_path: Path, server: FeedServer, engine: Engine, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Any exception in one feed is recorded and backed off for that feed; the pass goes on."""
    real_parse = ingest_module.parse_feed

    def parse(body: bytes, **kwargs: Any) -> Any:
        if kwargs["url"].endswith("/broken.xml"):
            raise AssertionError("a bug we did not foresee")
        return real_parse(body, **kwargs)

    monkeypatch.setattr(ingest_module, "parse_feed", parse)
    server.add_file("/broken.xml", rss([BUDGET_EN], NOW))
    server.add_file("/beta.xml", rss([HOCKEY_EN], NOW))
    server.add_file("/old.xml", rss([QUAKE_EN_A], NOW - timedelta(days=20)))
    feeds = {"alpha": [("national", "/broken.xml")], "beta": [("sports", "/beta.xml")]}
    clock = Clock(NOW - timedelta(days=20))
    ArticleStore(engine).upsert(
        "beta",
        [ArticleInput("old", "https://x/o", "Old", "", None, clock.now, "en", ())],
        clock.now,
    )
    (report,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert (report.ok, report.failed, report.new_articles) == (1, 1, 1)
    assert report.failures[0]["error"] == "internal error: AssertionError: a bug we did not foresee"
    assert report.pruned == 1  # the pass ran to its end
    broken = next(f for f in FeedStore(engine).all() if f.url.endswith("/broken.xml"))
    assert broken.consecutive_failures == 1 and broken.last_error is not None
    assert broken.next_fetch_at - NOW == timedelta(minutes=15)
    assert "feed alpha/national: unexpected error" in caplog.text


def test_over_long_values_are_fitted_or_refused_per_entry(
    tmp_path: Path, server: FeedServer, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refused a link over 600 characters without a guid (the key), or over 2,048,
    and the whole pass with it (#14.4). Same limits on both backends, checked in code."""
    long_link = "https://news.example/" + "a" * 700
    too_long = "https://news.example/" + "b" * 2100
    big_image = '<enclosure url="https://img.example/' + "c" * 2100 + '.jpg" type="image/jpeg"/>'
    server.add_file(
        "/alpha.xml",
        rss_items(
            item("Long link", long_link, extra=big_image),
            item("Too long", too_long),
            item("Fine", "https://news.example/fine"),
        ),
    )
    server.add_file("/beta.xml", rss([HOCKEY_EN], NOW))
    feeds = {"alpha": [("national", "/alpha.xml")], "beta": [("sports", "/beta.xml")]}
    (report,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert (report.ok, report.failed, report.skipped_entries) == (2, 0, 1), report.failures
    rows = {r.title: r for r in ArticleStore(engine).recent(["en"], NOW - timedelta(days=1))}
    assert set(rows) == {"Long link", "Fine", HOCKEY_EN.title}
    assert rows["Long link"].url == long_link and rows["Long link"].image_url is None
    assert "feed alpha/national: skipped 1 entries: link of 2121 characters" in caplog.text
    # The hashed key is stable: a second pass updates nothing and stores nothing twice.
    (again,) = passes(tmp_path, server, engine, feeds, Clock(NOW), False)
    assert (again.new_articles, again.updated_articles, again.skipped_entries) == (0, 0, 1)


def test_one_entry_the_database_refuses_is_skipped(engine: Engine) -> None:
    """A batch refused for one entry's data falls back to one transaction per entry."""
    articles = ArticleStore(engine)

    def entry(key: str, title: str) -> ArticleInput:
        return ArticleInput(key, f"https://x/{key}", title, "", None, NOW, "en", ("national",))

    result = articles.upsert(
        "alpha", [entry("a", "One"), entry("b", "Bad \ud800 text"), entry("c", "Three")], NOW
    )
    assert (len(result.new), result.skipped) == (2, 1)
    assert "UnicodeEncodeError" in result.errors[0]
    assert {r.title for r in articles.recent(["en"], NOW - timedelta(days=1))} == {"One", "Three"}


def test_only_the_newest_entries_of_a_huge_feed_are_stored(
    tmp_path: Path, server: FeedServer, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A feed of 100,000 entries was stored in full (#14): the newest MAX_ENTRIES are kept."""
    entries = [
        f"<item><title>Story {i}</title><link>https://news.example/{i}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=i))}</pubDate></item>"
        for i in range(MAX_ENTRIES + 100)
    ]
    server.add_file("/huge.xml", rss_items(*entries))
    (report,) = passes(
        tmp_path, server, engine, {"alpha": [("national", "/huge.xml")]}, Clock(NOW), False
    )
    assert (report.new_articles, report.capped_entries) == (MAX_ENTRIES, 100)
    newest = ArticleStore(engine).recent(["en"], NOW - timedelta(days=1), limit=MAX_ENTRIES + 100)
    assert len(newest) == MAX_ENTRIES and newest[-1].title == f"Story {MAX_ENTRIES - 1}"
    assert "feed alpha/national: kept the newest 500 entries, dropped 100 older ones" in caplog.text


def test_gzip_body_without_content_encoding_is_read(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    """A real publisher sends gzip without saying so; it failed as "not a feed" (#17.1)."""
    server.add_file("/alpha.xml", gzip.compress(rss([BUDGET_EN], NOW)))
    (report,) = passes(
        tmp_path, server, engine, {"alpha": [("national", "/alpha.xml")]}, Clock(NOW), False
    )
    assert (report.ok, report.failed, report.new_articles) == (1, 0, 1), report.failures


def test_slow_feed_delays_no_one_and_backs_off(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    """One slow feed held every pass open (#17.2): the others' stories are stored and
    clustered while it is still waited for; its timeout backs it off and shows it failing."""
    release = threading.Event()
    server.add_hold("/slow.xml", release)
    server.add_file("/alpha.xml", rss([QUAKE_EN_A, BUDGET_EN], NOW))
    server.add_file("/beta.xml", rss([QUAKE_EN_B], NOW))
    feeds = {
        "alpha": [("national", "/alpha.xml")],
        "beta": [("national", "/beta.xml"), ("sports", "/slow.xml")],
    }
    articles = ArticleStore(engine)
    limits = FetchLimits(read_timeout=4, total_timeout=6, connect_timeout=1)

    async def scenario() -> tuple[list[ArticleRow], IngestReport]:
        async with Fetcher(limits) as fetcher:
            ingestor = make_ingestor(tmp_path, server, engine, feeds, Clock(NOW), fetcher)
            running = asyncio.create_task(ingestor.run_once(only_due=False))
            stored: list[ArticleRow] = []
            async with asyncio.timeout(limits.read_timeout - 0.5):
                while len(stored) < 3 or any(r.cluster_id is None for r in stored):
                    await asyncio.sleep(0.02)  # polls the condition; nothing waits a fixed time
                    stored = await asyncio.to_thread(articles.recent, ["en"], NOW - timedelta(1))
            assert not running.done()  # the slow feed is still being waited for
            report = await running
            release.set()
            return stored, report

    stored, report = asyncio.run(scenario())
    assert len({r.cluster_id for r in stored if r.title != BUDGET_EN.title}) == 1  # clustered
    assert (report.ok, report.failed) == (2, 1)
    slowest = report.timings[0]
    assert (slowest["source"], slowest["category"], slowest["outcome"]) == (
        "beta", "sports", "timeout",
    )  # fmt: skip
    assert [t["outcome"] for t in report.timings[1:]] == ["ok", "ok"]
    assert float(slowest["seconds"]) >= 4 > max(float(t["seconds"]) for t in report.timings[1:])  # type: ignore[arg-type]
    slow = next(f for f in FeedStore(engine).all() if f.url.endswith("/slow.xml"))
    assert slow.consecutive_failures == 1 and "timeout" in (slow.last_error or "")
    health = StatsStore(engine).snapshot(NOW, refresh=timedelta(minutes=15)).feeds
    assert (health.ok, health.failing) == (2, 1)
    assert [p.url for p in health.worst] == [server.url("/slow.xml")]


def test_a_feed_due_now_is_fetched_in_this_pass(
    tmp_path: Path, server: FeedServer, engine: Engine
) -> None:
    """With a 60 s refresh, feeds were fetched every 120 s: a pass starting a few
    milliseconds before a feed's due time skipped it for a whole period (#17.3)."""
    server.add_file("/alpha.xml", rss([BUDGET_EN], NOW))
    catalog = load_catalog(
        write_catalog(tmp_path / "c.toml", server, {"alpha": [("national", "/alpha.xml")]})
    )
    clock = Clock(NOW)
    refresh = timedelta(seconds=60)

    async def scenario() -> list[int]:
        fetched = []
        async with Fetcher(LIMITS) as fetcher:
            ingestor = Ingestor(
                catalog, FeedStore(engine), ArticleStore(engine), fetcher,
                timing=FeedTiming(refresh=refresh), clock=clock,
            )  # fmt: skip
            for start in (NOW, NOW + refresh - timedelta(milliseconds=5), NOW + refresh * 1.5):
                clock.now = start  # the timer's ticks, each a little early or late
                report = await ingestor.run_once()
                fetched.append(report.ok)
        return fetched

    assert asyncio.run(scenario()) == [1, 1, 0]
    (feed,) = FeedStore(engine).all()
    assert feed.next_fetch_at == NOW + refresh * 2 - timedelta(milliseconds=5)  # from pass start
