"""Fetch workers share the feeds through claims (#12): two workers' passes fetch every due feed
once between them, a dead worker's claims expire, a stopped worker gives its claims back, and on
PostgreSQL a worker skips rows another one has locked instead of waiting for them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

import digest.ingest as ingest_module
from digest.catalog import load_catalog
from digest.feed_timing import FeedTiming
from digest.fetch import Fetcher, FetchLimits
from digest.ingest import Claims, Ingestor, IngestReport
from newsbot_testing.feedserver import FeedServer, Reply, Request
from storage.articles import ArticleStore
from storage.feeds import FeedStore, FetchSuccess
from tests.integration.news_fixtures import Item, rss, write_catalog

NOW = datetime.now(UTC).replace(microsecond=0)
TTL = timedelta(seconds=30)
CATEGORIES = ("national", "international", "business", "entertainment", "sports", "special")
LIMITS = FetchLimits(read_timeout=20, total_timeout=30, connect_timeout=10)  # a busy machine


def _catalog(tmp_path: Path, server: FeedServer) -> Path:
    """Three sources with six feeds each (18 feeds), every feed one story of its own."""
    feeds = {
        source: [(category, f"/{source}/{category}.xml") for category in CATEGORIES]
        for source in ("alpha", "beta", "gamma")
    }
    for source, pairs in feeds.items():
        for category, path in pairs:
            body = rss([Item(f"{source}-{category}", f"{source} {category} story",
                             "Something happened.", timedelta(hours=1))], NOW)  # fmt: skip

            def slow(_request: Request, body: bytes = body) -> Reply:
                time.sleep(0.05)  # the server's latency, so two workers' passes overlap
                return Reply(200, {"Content-Type": "application/rss+xml"}, body)

            server.add_route(path, slow)
    return write_catalog(tmp_path / "catalog.toml", server, feeds)


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``condition`` (the event loop keeps the workers running meanwhile)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def _ingestor(catalog_path: Path, engine: Engine, fetcher: Fetcher) -> Ingestor:
    return Ingestor(
        load_catalog(catalog_path), FeedStore(engine), ArticleStore(engine), fetcher,
        timing=FeedTiming(refresh=timedelta(minutes=15)),
    )  # fmt: skip


def test_two_workers_fetch_every_due_feed_once_between_them(tmp_path: Path, engine: Engine) -> None:
    async def two_workers(catalog_path: Path) -> list[IngestReport]:
        async with Fetcher(LIMITS) as one, Fetcher(LIMITS) as two:
            return await asyncio.gather(
                _ingestor(catalog_path, engine, one).run_claimed(Claims("host:1:a", TTL, 4)),
                _ingestor(catalog_path, engine, two).run_claimed(Claims("host:2:b", TTL, 4)),
            )

    with FeedServer() as server:
        reports = asyncio.run(two_workers(_catalog(tmp_path, server)))
        hits = [r.path for r in server.requests]
    assert len(hits) == 18 and len(set(hits)) == 18, sorted(hits)
    assert [r.feeds for r in reports] == [r.ok for r in reports]
    assert sum(r.feeds for r in reports) == 18 and min(r.feeds for r in reports) > 0
    assert sum(r.new_articles for r in reports) == 18
    store = FeedStore(engine)
    assert store.claims(datetime.now(UTC)) == {}
    assert all(f.last_success_at is not None for f in store.all())


def test_claims_expire_unless_renewed_and_a_record_clears_them(engine: Engine) -> None:
    store = FeedStore(engine)
    store.sync([("alpha", f"https://alpha.example/{c}", c) for c in CATEGORIES], NOW)
    dead = store.claim_due("host:1:dead", NOW, NOW, 2, TTL)
    slow = store.claim_due("host:2:slow", NOW, NOW, 2, TTL)
    live = store.claim_due("host:3:live", NOW, NOW, 10, TTL)
    assert [len(dead), len(slow), len(live)] == [2, 2, 2]
    assert {f.id for f in dead} | {f.id for f in slow} | {f.id for f in live} == {
        f.id for f in store.all()
    }
    later = NOW + TTL * 2 / 3
    assert store.renew_claims("host:2:slow", [f.id for f in slow], later, TTL) == 2
    store.record_successes([FetchSuccess(live[0].id, NOW, NOW + timedelta(minutes=15), None,
                                         None, 3)])  # fmt: skip
    assert store.release_claims("host:3:live", [live[1].id]) == 1
    # past the dead worker's TTL: its feeds and the released one are free; the renewed are not
    expired = NOW + TTL + timedelta(seconds=1)
    again = store.claim_due("host:3:live", expired, expired, 10, TTL)
    assert {f.id for f in again} == {dead[0].id, dead[1].id, live[1].id}
    assert set(store.claims(expired)) == {f.id for f in again} | {f.id for f in slow}
    assert store.claims(expired)[slow[0].id] == "host:2:slow"


def test_a_stopped_worker_gives_its_claims_back(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "STOP_GRACE_SECONDS", 0.2)
    release = threading.Event()

    async def stopped_mid_pass(catalog_path: Path, server: FeedServer) -> IngestReport:
        stop = asyncio.Event()
        async with Fetcher(LIMITS) as fetcher:
            ingestor = _ingestor(catalog_path, engine, fetcher)
            run = asyncio.ensure_future(ingestor.run_claimed(Claims("host:1:a", TTL, 20), stop))
            await _until(lambda: len(server.requests) == 18)  # all asked for, one held
            await _until(lambda: len(FeedStore(engine).claims(datetime.now(UTC))) == 1)
            stop.set()
            return await run

    with FeedServer() as server:
        catalog_path = _catalog(tmp_path, server)
        server.add_hold("/beta/sports.xml", release)
        try:
            report = asyncio.run(stopped_mid_pass(catalog_path, server))
        finally:
            release.set()
    store = FeedStore(engine)
    assert report.ok == 17
    assert store.claims(datetime.now(UTC)) == {}, "the held feed's claim was given back"
    unfetched = [f for f in store.all() if f.last_success_at is None]
    assert [f.url.rsplit("/", 2)[-2:] for f in unfetched] == [["beta", "sports.xml"]]
    now = datetime.now(UTC)
    assert [f.id for f in store.claim_due("host:2:b", now, now, 10, TTL)] == [unfetched[0].id]


def test_postgresql_skips_locked_feeds_instead_of_waiting(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    store = FeedStore(engine)
    store.sync([("alpha", f"https://alpha.example/{c}", c) for c in CATEGORIES], NOW)
    first_two = [f.id for f in store.all()][:2]
    claimed: list[int] = []
    with engine.connect() as other:  # another worker, mid-claim: its rows locked, uncommitted
        other.execute(
            text("SELECT id FROM feeds WHERE id IN (:a, :b) FOR UPDATE"),
            {"a": first_two[0], "b": first_two[1]},
        )
        worker = threading.Thread(
            target=lambda: claimed.extend(f.id for f in store.claim_due("w", NOW, NOW, 3, TTL))
        )
        worker.start()
        worker.join(5)
        blocked = worker.is_alive()
        other.rollback()
    worker.join(5)
    assert not blocked, "claim_due waited for another worker's lock"
    assert len(claimed) == 3 and not set(claimed) & set(first_two)
