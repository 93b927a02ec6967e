"""The running bot forgets which stories it delivered once they are past the article retention."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs import PRUNE_JOB
from digest.ingest import DEFAULT_RETENTION
from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.deliveries import OutboxItem
from tests.handlers.harness import ManualClock, RunningBot


def test_the_running_bots_daily_job_prunes_old_delivered_article_records(db_url: str) -> None:
    clock = ManualClock()
    with FakeBotAPI() as fake, RunningBot(fake, db_url, clock=clock, run_jobs=True) as bot:
        services = bot.services
        services.users.ensure(1, 1, "Ada", "en")
        old = clock.now - DEFAULT_RETENTION - timedelta(hours=1)
        payload = {"method": "sendMessage", "text": "news", "parse_mode": "HTML"}
        services.deliveries.enqueue(
            [OutboxItem(1, 1, "digest", "old/national", payload)], old, [(1, "national", 10)]
        )
        services.deliveries.enqueue(
            [OutboxItem(1, 1, "digest", "new/national", payload)], clock.now,
            [(1, "national", 11)],
        )  # fmt: skip
        assert bot.parts is not None
        application = bot.parts.application
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(PRUNE_JOB)
        assert job.job.trigger.interval == timedelta(days=1)

        bot.call(lambda: job.run(application))

        assert services.deliveries.delivered_article_ids_many([1], "national") == {1: {11}}
