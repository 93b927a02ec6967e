"""The ingest pass hands its new articles, clustered, to ``after_pass`` (keyword alerts) once,
and a failing ``after_pass`` never fails the pass."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from digest.catalog import load_catalog
from digest.fetch import Fetcher
from digest.ingest import Ingestor, IngestReport
from newsbot_testing.feedserver import FeedServer
from storage.articles import ArticleRow, ArticleStore
from storage.feeds import FeedStore
from tests.integration.news_fixtures import Item, rss, write_catalog

NOW = datetime.now(UTC).replace(microsecond=0)


def one_pass(tmp_path: Path, engine: Engine, after_pass: object) -> IngestReport:
    async def run() -> IngestReport:
        with FeedServer() as server:
            server.add_file("/a", rss([
                Item("a1", "Storm closes the harbour bridge", "Winds of 120 km/h.",
                     timedelta(hours=1)),
                Item("a2", "Council votes on the budget", "A long night.", timedelta(hours=2)),
            ], NOW))  # fmt: skip
            catalog = load_catalog(write_catalog(tmp_path / "c.toml", server, {"alpha": [
                ("national", "/a")]}))  # fmt: skip
            async with Fetcher() as fetcher:
                ingestor = Ingestor(
                    catalog, FeedStore(engine), ArticleStore(engine), fetcher,
                    clock=lambda: NOW, after_pass=after_pass,  # type: ignore[arg-type]
                )  # fmt: skip
                first = await ingestor.run_once(only_due=False)
                await ingestor.run_once(only_due=False)  # nothing new: no call
                return first

    return asyncio.run(run())


def test_new_articles_are_handed_over_once_with_their_clusters(
    tmp_path: Path, engine: Engine
) -> None:
    calls: list[tuple[list[ArticleRow], datetime]] = []
    report = one_pass(tmp_path, engine, lambda new, now: calls.append((new, now)))
    assert report.new_articles == 2
    assert len(calls) == 1
    new, at = calls[0]
    assert at == NOW
    assert sorted(a.title for a in new) == [
        "Council votes on the budget", "Storm closes the harbour bridge"
    ]  # fmt: skip
    assert all(a.cluster_id == a.id for a in new), "each its own story, as stored"


def test_a_failing_after_pass_is_logged_not_the_pass_failure(
    tmp_path: Path, engine: Engine
) -> None:
    def broken(new: list[ArticleRow], now: datetime) -> None:
        raise RuntimeError("alerts are down")

    report = one_pass(tmp_path, engine, broken)
    assert report.ok == 1 and report.failed == 0 and report.new_articles == 2
    assert len(ArticleStore(engine).recent(["en"], NOW - timedelta(days=1))) == 2
