"""Thin JobQueue tickers: the work and its decisions live elsewhere; these only start it."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from telegram.ext import Application, ContextTypes

from bot import heap
from digest.clock import Clock
from digest.ingest import Ingestor
from digest.related import RelatedFinder
from handlers.broadcast import Broadcasts
from push.pusher import Pusher
from storage.alerts import AlertStore
from storage.deliveries import DeliveryStore
from storage.processed_updates import RETENTION as UPDATE_ID_RETENTION
from storage.processed_updates import ProcessedUpdateStore

log = logging.getLogger(__name__)

INGEST_JOB = "ingest"
DIGEST_JOB = "digest-tick"
SEND_JOB = "outbox"
DIGEST_TICK_SECONDS = 60
# Test-only override (NEWSBOT_TEST_SEND_POLL_SECONDS), like NEWSBOT_TEST_LEASE_SECONDS: the poll
# picks up retries and a dead pusher's rows, and e2e tests of crashes wait on it. Not a setting.
SEND_POLL_SECONDS = float(os.environ.get("NEWSBOT_TEST_SEND_POLL_SECONDS") or 5)
RELATED_JOB = "related-refresh"
BROADCAST_JOB = "broadcast-progress"
BROADCAST_PROGRESS_SECONDS = 3
RELATED_REFRESH_SECONDS = 300
PRUNE_JOB = "prune-delivered"
PRUNE_EVERY_SECONDS = 24 * 3600
PRUNE_FIRST_SECONDS = 60


def _queue(application: Application):  # type: ignore[no-untyped-def]
    queue = application.job_queue
    if queue is None:
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    return queue


async def ingest_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """One ingest pass over the due feeds; a failure is logged and the next tick tries again."""
    ingestor = context.job.data if context.job is not None else None
    if not isinstance(ingestor, Ingestor):
        return
    if ingestor.running:
        log.info("previous ingest pass still running; skipping this tick")
        return
    try:
        await ingestor.run_once()
    except Exception:
        log.exception("ingest pass failed")


async def digest_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue the digests that are due, then let the sender go (without waiting for it)."""
    pusher = context.job.data if context.job is not None else None
    if not isinstance(pusher, Pusher):
        return
    try:
        report = await pusher.tick()
    except Exception:
        log.exception("digest tick failed")
        return
    if report is not None and report.enqueued:
        context.application.create_task(pusher.drain(), name="outbox-drain")


async def send_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep the lease and send whatever is due (retries, /digest, broadcasts)."""
    pusher = context.job.data if context.job is not None else None
    if not isinstance(pusher, Pusher):
        return
    try:
        await pusher.drain()
    except Exception:
        log.exception("outbox drain failed")


async def related_refresh(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep the Related index warm, so no reader's press pays for building it."""
    finder = context.job.data if context.job is not None else None
    if not isinstance(finder, RelatedFinder):
        return
    try:
        added = await asyncio.to_thread(finder.refresh)
    except Exception:
        log.exception("related index refresh failed")
        return
    if added >= heap.TRIM_AFTER_ARTICLES:  # the cold build: give back what it freed
        await asyncio.to_thread(heap.trim)
    if added:
        log.info("related index: %d new articles", added)


def schedule_related(application: Application, finder: RelatedFinder) -> None:
    """Build the index right after start-up, then top it up every few minutes."""
    _queue(application).run_repeating(
        related_refresh, interval=RELATED_REFRESH_SECONDS, first=5, name=RELATED_JOB,
        data=finder, job_kwargs={"max_instances": 1, "coalesce": True},
    )  # fmt: skip


async def broadcast_progress(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Edit each running broadcast's progress line; finish, report and start the next."""
    broadcasts = context.job.data if context.job is not None else None
    if not isinstance(broadcasts, Broadcasts):
        return
    try:
        await broadcasts.refresh(context.bot)
    except Exception:
        log.exception("broadcast progress update failed")


def schedule_broadcast_progress(application: Application, broadcasts: Broadcasts) -> None:
    """Progress lines move every few seconds (Telegram allows one edit per second per chat)."""
    _queue(application).run_repeating(
        broadcast_progress, interval=BROADCAST_PROGRESS_SECONDS, first=2, name=BROADCAST_JOB,
        data=broadcasts, job_kwargs={"max_instances": 1, "coalesce": True},
    )  # fmt: skip


@dataclass(frozen=True)
class DeliveredPruning:
    """Which stories each reader already got matters only while those stories can still be
    picked: past the article retention they are gone, so their delivery records go too."""

    deliveries: DeliveryStore
    retention: timedelta
    clock: Clock
    processed_updates: ProcessedUpdateStore | None = None  # update ids, kept two days
    alerts: AlertStore | None = None  # stories alerted, kept as long as the stories

    def run(self) -> int:
        if self.processed_updates is not None:
            forgotten = self.processed_updates.prune(self.clock() - UPDATE_ID_RETENTION)
            if forgotten:
                log.info("forgot %d processed update ids", forgotten)
        if self.alerts is not None:
            forgotten = self.alerts.prune(self.clock() - self.retention)
            if forgotten:
                log.info("forgot %d alerted-story records", forgotten)
        return self.deliveries.prune_delivered_articles(self.clock() - self.retention)


async def prune_delivered(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget delivered-story records older than the article retention (one DELETE)."""
    pruning = context.job.data if context.job is not None else None
    if not isinstance(pruning, DeliveredPruning):
        return
    try:
        pruned = await asyncio.to_thread(pruning.run)
    except Exception:
        log.exception("pruning delivered-article records failed")
        return
    if pruned:
        log.info("forgot %d delivered-article records", pruned)


def schedule_pruning(application: Application, pruning: DeliveredPruning) -> None:
    """Once a day, starting a minute after start-up (not in the busy first seconds)."""
    _queue(application).run_repeating(
        prune_delivered, interval=PRUNE_EVERY_SECONDS, first=PRUNE_FIRST_SECONDS,
        name=PRUNE_JOB, data=pruning, job_kwargs={"max_instances": 1, "coalesce": True},
    )  # fmt: skip


def schedule_ingest(application: Application, ingestor: Ingestor, every_seconds: int) -> None:
    """First pass right after start-up, then every ``every_seconds``; never two at once."""
    _queue(application).run_repeating(
        ingest_tick,
        interval=every_seconds,
        first=1,
        name=INGEST_JOB,
        data=ingestor,
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": every_seconds},
    )


def schedule_pushes(application: Application, pusher: Pusher) -> None:
    """The digest tick every minute and the outbox poll every few seconds."""
    queue = _queue(application)
    kwargs = {"max_instances": 1, "coalesce": True}
    queue.run_repeating(
        digest_tick, interval=DIGEST_TICK_SECONDS, first=2, name=DIGEST_JOB, data=pusher,
        job_kwargs=kwargs,
    )  # fmt: skip
    queue.run_repeating(
        send_tick, interval=SEND_POLL_SECONDS, first=min(3, SEND_POLL_SECONDS), name=SEND_JOB,
        data=pusher,
        job_kwargs=kwargs,
    )  # fmt: skip
