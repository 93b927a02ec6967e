"""``newsbot worker``: the clock-driven work of the bot in processes that handle no updates.

On PostgreSQL the work of ``newsbot run`` splits into roles, each runnable in as many processes
as it needs (one process may run several roles; ``all`` is every role):

* **fetch**: ingest passes over the due feeds. Each worker claims due feeds in batches
  (``Ingestor.run_claimed``: ``SELECT ... FOR UPDATE SKIP LOCKED``), so N workers share a pass
  and no feed is fetched twice in it; a dead worker's claims expire after the lease TTL. Between
  passes it sleeps until the soonest feed is due (at most ``FETCH_IDLE_MAX_SECONDS``).
* **compose**: ``DigestScheduler.tick`` every ``--tick-seconds`` (aligned to the clock, so a
  60-second tick runs just after each minute begins), without the pusher lease: the tick claims
  its due readers through the database, so several compose workers share them. Also the daily
  pruning of delivered-story records.
* **send**: the outbox drain under the pusher lease, exactly one process per database (per bot
  token) at a time; the others wait and take over when it dies (at once if it was on this host,
  otherwise when its lease expires). The lease holder also moves admin broadcasts along.

SQLite keeps the single-process mode (``newsbot run``): ``newsbot worker`` refuses it.

Shutdown (SIGTERM or SIGINT): nothing new is claimed; feeds in flight get a few seconds and the
rest of the claims are given back; a compose tick in progress finishes its batch; the sender
stops starting sends, gives back unstarted rows, records what was sent, then gives up the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from telegram import Bot

from bot.app import Services, build_ingestor
from bot.jobs import BROADCAST_PROGRESS_SECONDS, DeliveredPruning
from bot.threads import widen_default_pool
from digest.clock import Clock, utcnow
from digest.fetch import Fetcher
from digest.ingest import DEFAULT_RETENTION, Claims
from handlers.broadcast import Broadcasts
from push.outbox_sender import OutboxSender
from push.push_request import PushRequest
from push.pusher import LEASE_TTL, Pusher, worker_identity
from push.tick import BATCH as COMPOSE_BATCH
from push.tick import DigestScheduler
from storage.alerts import AlertStore
from storage.broadcasts import BroadcastStore
from storage.mutes import MuteStore
from storage.processed_updates import ProcessedUpdateStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ROLES = ("fetch", "compose", "send")
SEND_POLL_SECONDS = 2.0  # how often the sender looks for due rows, and a standby for the lease
FETCH_IDLE_MAX_SECONDS = 30.0
PRUNE_EVERY_SECONDS = 24 * 3600.0
SQLITE_REFUSAL = (
    "SQLite runs in a single process: use `newsbot run` (it fetches, composes and sends); "
    "`newsbot worker` needs PostgreSQL (DATABASE_URL=postgresql+psycopg://user:pass@host/db)"
)


def parse_roles(values: Sequence[str]) -> tuple[str, ...]:
    """``--role`` values (repeated, or comma lists; ``all`` is every role) in a fixed order;
    ValueError names an unknown role."""
    wanted: set[str] = set()
    for value in values:
        for part in value.split(","):
            role = part.strip().lower()
            if role == "all":
                wanted.update(ROLES)
            elif role in ROLES:
                wanted.add(role)
            elif role:
                raise ValueError(
                    f"unknown worker role {part.strip()!r}: use fetch, compose, send or all"
                )
    if not wanted:
        raise ValueError("no worker role given: use --role fetch, compose, send or all")
    return tuple(r for r in ROLES if r in wanted)


def refusal(database_url: str) -> str | None:
    """Why this database cannot have worker processes (SQLite), or None."""
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        return None  # build_services reports a bad URL in its own words
    return SQLITE_REFUSAL if backend == "sqlite" else None


async def run_worker(
    services: Services,
    roles: Sequence[str],
    *,
    tick_seconds: float = 60.0,
    compose_batch: int = COMPOSE_BATCH,
    clock: Clock = utcnow,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``roles`` until SIGTERM or SIGINT (or ``stop``), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    widen_default_pool(loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    worker = worker_identity()
    db = services.engine.url.render_as_string(hide_password=True)
    log.info("worker %s: roles %s on %s", worker, ", ".join(roles), db)
    jobs: list[Awaitable[None]] = []
    if "fetch" in roles:
        jobs.append(_fetch_role(services, worker, stop))
    if "compose" in roles:
        jobs.append(_compose_role(services, tick_seconds, compose_batch, clock, stop))
    if "send" in roles:
        jobs.append(_send_role(services, worker, clock, stop))
    await asyncio.gather(*jobs)
    log.info("worker %s stopped", worker)


# --------------------------------------------------------------------------------- fetch
async def _fetch_role(services: Services, worker: str, stop: asyncio.Event) -> None:
    """Claimed ingest passes; between them, sleep until a feed is due (or a claim expires)."""
    claims = Claims(worker=worker, ttl=LEASE_TTL)
    async with Fetcher() as fetcher:
        ingestor = build_ingestor(services, fetcher)
        while not stop.is_set():
            try:
                report = await ingestor.run_claimed(claims, stop)
            except Exception:
                log.exception("fetch pass failed")
            else:
                if not report.feeds:
                    log.debug("fetch pass: no feed due")
            await _sleep(stop, await _fetch_idle_seconds(services))


async def _fetch_idle_seconds(services: Services) -> float:
    try:
        due = await asyncio.to_thread(services.feeds.next_due_at)
    except Exception as e:
        log.warning("looking for the next due feed failed: %s", type(e).__name__)
        return FETCH_IDLE_MAX_SECONDS
    if due is None:
        return FETCH_IDLE_MAX_SECONDS
    seconds = (due - utcnow()).total_seconds()
    return min(max(seconds, 1.0), FETCH_IDLE_MAX_SECONDS)


# ------------------------------------------------------------------------------- compose
async def _compose_role(
    services: Services, tick_seconds: float, batch: int, clock: Clock, stop: asyncio.Event
) -> None:
    """A scheduler tick every ``tick_seconds`` on the wall clock, without the pusher lease.
    Readers are claimed ``batch`` at a time, one transaction each: smaller batches spread a
    tick over more compose workers, larger ones cost less per reader."""
    scheduler = DigestScheduler(
        services.users, services.articles, services.deliveries, services.catalog,
        batch_size=batch, mutes=MuteStore(services.engine),
    )  # fmt: skip
    # Receivers started with --receive-only run no jobs: the compose role forgets old update ids.
    processed = ProcessedUpdateStore(services.engine)
    pruning = DeliveredPruning(
        services.deliveries, DEFAULT_RETENTION, clock, processed, AlertStore(services.engine)
    )
    next_prune = time.monotonic() + 60
    while not stop.is_set():
        started = time.monotonic()
        try:
            report = await asyncio.to_thread(scheduler.tick, clock())
        except Exception:
            log.exception("compose tick failed")
        else:
            log.log(
                logging.INFO if report.readers else logging.DEBUG,
                "compose tick: %d readers, %d digests queued, %d empty in %.1fs",
                report.readers, report.enqueued, report.empty, time.monotonic() - started,
            )  # fmt: skip
        if time.monotonic() >= next_prune:
            next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            pruned = await _logged("pruning delivered-article records", asyncio.to_thread,
                                   pruning.run)  # fmt: skip
            if pruned:
                log.info("forgot %d delivered-article records", pruned)
        await _sleep(stop, tick_seconds - time.time() % tick_seconds)


# ---------------------------------------------------------------------------------- send
async def _send_role(services: Services, worker: str, clock: Clock, stop: asyncio.Event) -> None:
    """The outbox drain under the lease; a standby polls for the lease meanwhile."""
    settings = services.settings
    if settings.telegram_bot_token is None:  # the CLI checks first; a guard for other callers
        raise ValueError("the send role needs TELEGRAM_BOT_TOKEN")
    token = settings.telegram_bot_token.get_secret_value()
    push_bot = Bot(token, base_url=settings.telegram_api_base_url, request=PushRequest())
    sender = OutboxSender(
        push_bot, services.deliveries, services.users, worker_id=worker,
        max_rate=settings.send_max_rate, clock=clock,
    )  # fmt: skip
    pusher = Pusher(None, sender, services.leases, services.deliveries, worker, clock)
    broadcasts = Broadcasts(
        BroadcastStore(services.engine), services.deliveries, services.catalog,
        settings.admin_ids, users=services.users, max_rate=settings.broadcast_max_rate,
        wake_sender=pusher.drain, clock=clock,
    )  # fmt: skip
    next_progress = 0.0
    async with push_bot:
        try:
            while not stop.is_set():
                drain = asyncio.ensure_future(pusher.drain())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait([drain, stopping], return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if stop.is_set():
                    pusher.stop()  # the drain stops starting sends; those in flight finish
                await _logged("outbox drain", _awaited, drain)
                if pusher.holding and time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + BROADCAST_PROGRESS_SECONDS
                    await _logged("broadcast progress update", broadcasts.refresh, push_bot)
                await _sleep(stop, SEND_POLL_SECONDS)
        finally:
            pusher.stop()
            await pusher.release()


# --------------------------------------------------------------------------------- helpers
async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(seconds, 0.05))


async def _logged(what: str, function: Callable[..., Awaitable[_T]], *args: object) -> _T | None:
    """Await ``function(*args)``; a failure is logged (None) and the role goes on."""
    try:
        return await function(*args)
    except Exception:
        log.exception("%s failed", what)
        return None


async def _awaited(future: Awaitable[_T]) -> _T:
    return await future
