"""Two compose workers ticking at once on PostgreSQL share the due readers without overlap:
every reader gets exactly one outbox row per category, and the second tick finds nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from digest.catalog import Catalog
from newsbot_testing.seeding import Reader, add_stories, insert_readers
from push.tick import DigestScheduler, TickReport
from storage.articles import ArticleInput, ArticleStore
from storage.db import make_engine, migrate
from storage.deliveries import DeliveryStore
from storage.tables import Delivery
from storage.users import UserStore
from tests.conftest import PG_URL, reset_postgres

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
READERS = 300


@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_two_schedulers_ticking_at_once_compose_each_reader_once(catalog: Catalog) -> None:
    reset_postgres(PG_URL)
    engine = make_engine(PG_URL)
    migrate(engine)
    stories = [
        ArticleInput(f"cbc-{i}", f"https://www.cbc.ca/news/{i}", f"CBC story {i}", "What.", None,
                     NOW - timedelta(hours=i + 1), "en", ("national", "sports"))
        for i in range(8)
    ]  # fmt: skip
    add_stories(ArticleStore(engine), "cbc", stories, NOW)
    readers = [
        Reader(uid, "CA", "en", ("cbc",), ("national", "sports"), (12 * 60,), next_due_at=NOW)
        for uid in range(1, READERS + 1)
    ]
    with engine.begin() as conn:
        insert_readers(conn, readers, NOW)

    def scheduler() -> DigestScheduler:
        return DigestScheduler(
            UserStore(engine), ArticleStore(engine), DeliveryStore(engine), catalog, batch_size=20
        )

    workers = [scheduler(), scheduler()]
    reports: list[TickReport] = []
    start = threading.Barrier(len(workers))

    def run(worker: DigestScheduler) -> None:
        start.wait(timeout=10)
        reports.append(worker.tick(NOW))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2
    assert sum(r.readers for r in reports) == READERS  # each reader claimed by one worker
    assert all(r.readers > 0 for r in reports)  # and both worked
    with engine.connect() as conn:
        per_row = conn.execute(
            select(Delivery.user_id, Delivery.slot_key, func.count()).group_by(  # type: ignore[call-overload]
                Delivery.user_id, Delivery.slot_key
            )
        ).all()
    assert len(per_row) == READERS * 2
    assert {n for _, _, n in per_row} == {1}
    assert {slot.split("@")[0] for _, slot, _ in per_row} == {"national", "sports"}
    assert workers[0].tick(NOW).readers == 0  # nobody is due any more
    row = DeliveryStore(engine).for_user(1)[0]
    assert "CBC story 0" in row.payload["text"]  # the shared message reads as the row's own
    engine.dispose()
