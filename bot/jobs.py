"""Thin JobQueue tickers: the work and its decisions live in ``digest``; these only start it."""

from __future__ import annotations

import logging

from telegram.ext import Application, ContextTypes

from digest.ingest import Ingestor

log = logging.getLogger(__name__)

INGEST_JOB = "ingest"


async def ingest_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """One ingest pass over the due feeds; a failure is logged and the next tick tries again."""
    job = context.job
    ingestor = job.data if job is not None else None
    if not isinstance(ingestor, Ingestor):
        return
    if ingestor.running:
        log.info("previous ingest pass still running; skipping this tick")
        return
    try:
        await ingestor.run_once()
    except Exception:
        log.exception("ingest pass failed")


def schedule_ingest(application: Application, ingestor: Ingestor, every_seconds: int) -> None:
    """First pass right after start-up, then every ``every_seconds``; never two at once."""
    queue = application.job_queue
    if queue is None:
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    queue.run_repeating(
        ingest_tick,
        interval=every_seconds,
        first=1,
        name=INGEST_JOB,
        data=ingestor,
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": every_seconds},
    )
