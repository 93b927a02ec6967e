"""Update ids taken on and done: the first delivery takes an update, a copy waits while its taker
works, takes it over once the taker went silent, and is dropped once it is done; the daily prune
forgets old ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.jobs import PRUNE_JOB
from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.db import make_engine
from storage.processed_updates import RETENTION, Claim, ProcessedUpdateStore, Verdict
from tests.handlers.harness import ManualClock, RunningBot

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


A, B = "host-a:101:aa", "host-b:202:bb"
TTL = timedelta(seconds=15)


def test_the_first_delivery_takes_an_update_and_a_copy_is_busy_then_done(engine: Engine) -> None:
    other = make_engine(engine.url.render_as_string(hide_password=False))
    mine, theirs = ProcessedUpdateStore(engine), ProcessedUpdateStore(other)
    assert mine.take(700_000_001, A, NOW, TTL) == Claim(Verdict.TAKEN)
    assert theirs.take(700_000_001, B, NOW, TTL) == Claim(Verdict.BUSY, A), "A is on it"
    assert mine.take(700_000_001, A, NOW, TTL).verdict is Verdict.BUSY, "even for A: one take"
    mine.finish(700_000_001, NOW + timedelta(seconds=1))
    assert theirs.take(700_000_001, B, NOW + timedelta(seconds=2), TTL).verdict is Verdict.DONE
    # done is final: however old the claim, a copy is a duplicate
    assert theirs.take(700_000_001, B, NOW + timedelta(hours=3), TTL).verdict is Verdict.DONE
    assert theirs.take(700_000_002, B, NOW, TTL).verdict is Verdict.TAKEN
    assert (mine.count(), mine.count(done=True), mine.count(done=False)) == (2, 1, 1)
    other.dispose()


def test_a_claim_its_taker_stopped_renewing_is_taken_over_after_the_ttl(engine: Engine) -> None:
    store = ProcessedUpdateStore(engine)
    assert store.take(1, A, NOW, TTL).verdict is Verdict.TAKEN
    store.renew(1, A, NOW + timedelta(seconds=10))  # A still works on it
    store.renew(1, B, NOW + timedelta(seconds=60))  # not B's claim: changes nothing
    assert store.take(1, B, NOW + timedelta(seconds=20), TTL) == Claim(Verdict.BUSY, A)
    # A went silent: 15 s after its last renewal the copy takes the update, once
    assert store.take(1, B, NOW + timedelta(seconds=26), TTL).verdict is Verdict.TAKEN
    assert store.take(1, A, NOW + timedelta(seconds=27), TTL) == Claim(Verdict.BUSY, B)
    store.finish(1, NOW + timedelta(seconds=28))
    assert store.take(1, A, NOW + timedelta(minutes=5), TTL).verdict is Verdict.DONE


def test_take_from_a_dead_taker_is_compare_and_set(engine: Engine) -> None:
    store = ProcessedUpdateStore(engine)
    store.take(1, A, NOW, TTL)
    assert not store.take_from(1, "someone-else", B, NOW), "only from the taker named"
    assert store.take_from(1, A, B, NOW + timedelta(seconds=1))
    assert not store.take_from(1, A, "host-c:3:cc", NOW), "B came first"
    assert store.take(1, A, NOW + timedelta(seconds=2), TTL) == Claim(Verdict.BUSY, B)
    store.finish(1, NOW + timedelta(seconds=3))
    assert not store.take_from(1, B, A, NOW + timedelta(seconds=4)), "done: nothing to take"


def test_prune_forgets_ids_received_before_the_cut(engine: Engine) -> None:
    store = ProcessedUpdateStore(engine)
    store.take(1, A, NOW - timedelta(days=3), TTL)
    store.take(2, A, NOW - timedelta(hours=1), TTL)
    assert store.prune(NOW - RETENTION) == 1
    assert store.count() == 1
    assert store.take(1, B, NOW, TTL).verdict is Verdict.TAKEN, "a pruned id is new again"


def test_the_running_bots_daily_job_prunes_processed_update_ids(db_url: str) -> None:
    clock = ManualClock()
    with FakeBotAPI() as fake, RunningBot(fake, db_url, clock=clock, run_jobs=True) as bot:
        store = ProcessedUpdateStore(bot.services.engine)
        store.take(1, A, clock.now - RETENTION - timedelta(hours=1), TTL)
        store.take(2, A, clock.now - RETENTION + timedelta(hours=1), TTL)
        store.finish(2, clock.now - RETENTION + timedelta(hours=1))
        assert bot.parts is not None
        application = bot.parts.application
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(PRUNE_JOB)

        bot.call(lambda: job.run(application))

        assert store.count() == 1 and store.take(2, B, clock.now, TTL).verdict is Verdict.DONE
