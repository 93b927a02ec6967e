"""Update ids taken on: first delivery wins, across connections; the daily prune forgets old ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.jobs import PRUNE_JOB
from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.db import make_engine
from storage.processed_updates import RETENTION, ProcessedUpdateStore
from tests.handlers.harness import ManualClock, RunningBot

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_only_the_first_delivery_of_an_update_is_taken(engine: Engine) -> None:
    other = make_engine(engine.url.render_as_string(hide_password=False))
    mine, theirs = ProcessedUpdateStore(engine), ProcessedUpdateStore(other)
    assert mine.first_delivery(700_000_001, NOW)
    assert not theirs.first_delivery(700_000_001, NOW), "another process sees it as taken"
    assert not mine.first_delivery(700_000_001, NOW + timedelta(hours=3))
    assert theirs.first_delivery(700_000_002, NOW)
    assert mine.count() == 2
    other.dispose()


def test_prune_forgets_ids_received_before_the_cut(engine: Engine) -> None:
    store = ProcessedUpdateStore(engine)
    store.first_delivery(1, NOW - timedelta(days=3))
    store.first_delivery(2, NOW - timedelta(hours=1))
    assert store.prune(NOW - RETENTION) == 1
    assert store.count() == 1
    assert store.first_delivery(1, NOW), "a pruned id is new again"


def test_the_running_bots_daily_job_prunes_processed_update_ids(db_url: str) -> None:
    clock = ManualClock()
    with FakeBotAPI() as fake, RunningBot(fake, db_url, clock=clock, run_jobs=True) as bot:
        store = ProcessedUpdateStore(bot.services.engine)
        store.first_delivery(1, clock.now - RETENTION - timedelta(hours=1))
        store.first_delivery(2, clock.now - RETENTION + timedelta(hours=1))
        assert bot.parts is not None
        application = bot.parts.application
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(PRUNE_JOB)

        bot.call(lambda: job.run(application))

        assert store.count() == 1 and not store.first_delivery(2, clock.now)
