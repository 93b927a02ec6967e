"""The outbox sender: turns claimed outbox rows into Bot API calls, within Telegram's limits.

One drain, step by step:

1. Claim a batch of due rows (the database makes sure no other worker has them) and queue them
   per chat, in claim order, so a reader's several digests arrive in the order they were written.
   Broadcast rows and the rest are claimed apart (two lanes, each refilled when it runs low), so
   a long broadcast and the digests due meanwhile both keep moving.
2. Pick the next row whose chat is free (none of its messages in flight and the last one
   answered at least ``per_chat_interval`` ago; 3 s for groups: 20/min) and whose bucket has a
   token: paid broadcast rows (``allow_paid_broadcast``) spend from their own bucket
   (``paid_rate``/s, ``BROADCAST_MAX_RATE``), everything else from the bot's free one
   (``max_rate``/s, ``SEND_MAX_RATE``). Start it as a task; at most ``concurrency`` requests are
   in flight (by default a tenth of a second of both rates, at least 4: enough for Telegram's
   latency; the database writes of finished sends overlap with the next requests).
3. Both buckets sit behind one flood gate: a 429 closes it for ``retry_after`` seconds for
   every chat and both budgets (Telegram's flood control is per bot), and the same row is sent
   again when it opens, without spending an attempt (up to ``max_flood_waits`` times, or at
   once back to the outbox if the wait is long).
4. The answer decides the row's fate: message id stored (through ``SentLog``, which holds it in
   memory while the database refuses the write, and meanwhile nothing new is claimed or sent);
   5xx, network errors and timeouts before the request was written back to the outbox with
   exponential back-off until ``max_attempts``, then failed with the reason; a timeout after it
   was written ("may have been delivered") is sent once more after ``maybe_sent_wait``, and given
   up if that times out too; 403 and "chat not found" / "user is deactivated" mark the reader
   inactive and cancel their other pushes; any other 400 (a bad payload) fails the row at once.
   Nothing escapes as an exception.
5. Claim more when the queue runs low; stop when nothing more is due now, or at once when told
   to (the pusher lost its lease), and log the counts.

This process never holds a row forever: a row it claimed but could not finish is either back in
the outbox or, if the process died, taken back by the next pusher once its claim has expired
(``held_ids`` are the claims the pusher keeps confirming).

Over 350 lines on purpose: the drain loop and the outcome of each send (sent, retry, maybe sent,
failed, blocked) share the per-chat state of one drain; pacing is in ``push/pacing.py``, the held
sent rows in ``push/sent_log.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from digest.clock import Clock, utcnow
from push.pacing import ChatQueue, FloodGate, Pacer, is_paid
from push.push_request import NotSent
from push.sent_log import SentLog
from storage.deliveries import DeliveryRow, DeliveryStore
from storage.users import UserStore

log = logging.getLogger(__name__)

_METHODS = frozenset({"sendMessage", "sendPhoto", "copyMessage"})
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid")
MAYBE_SENT = "timed out: may have been delivered"
_OUTCOMES = {"sent": "sent", "retry": "retried", "failed": "failed", "uncertain": "uncertain"}


@dataclass
class SendReport:
    """What one drain did; ``rate_limited`` counts 429 answers, ``cancelled`` rows dropped
    because their reader blocked the bot during this drain, ``uncertain`` answers that timed
    out after the request was written (the message may have been delivered: such a row is
    sent again once at most, and given up if that times out too)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0
    rate_limited: int = 0
    uncertain: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"sent={self.sent} retried={self.retried} failed={self.failed} "
            f"blocked={self.blocked} cancelled={self.cancelled} "
            f"rate_limited={self.rate_limited} uncertain={self.uncertain} "
            f"in {self.seconds:.1f}s"
        )


class _BadPayload(Exception):
    """The outbox row cannot become a Bot API call; retrying would not help."""


class _Released(Exception):
    """The lease was lost before the row was sent: back to the outbox, as it was."""


# Test-only override (NEWSBOT_TEST_RETRY_BASE), like NEWSBOT_TEST_LEASE_SECONDS: e2e tests of
# crashes and 5xx storms would otherwise spend most of their time waiting out retry back-offs.
# Not a setting: operators have no reason to change it.
RETRY_BASE = float(os.environ.get("NEWSBOT_TEST_RETRY_BASE") or 2.0)
LANE_RECHECK = 2.0  # seconds: a lane that found nothing due looks again while the other works


def default_concurrency(rate: float) -> int:
    """Requests in flight for ``rate`` messages/s: a tenth of a second of them (Telegram answers
    in 50-300 ms), at least 4, at most 128."""
    return max(4, min(128, math.ceil(rate / 10)))


class OutboxSender:
    """Sends due outbox rows with a plain ``telegram.Bot`` (no AIORateLimiter: pacing and
    retries are done here, where the outbox can record them)."""

    def __init__(
        self,
        bot: Bot,
        deliveries: DeliveryStore,
        users: UserStore,
        *,
        worker_id: str,
        max_rate: float = 30.0,
        paid_rate: float | None = None,
        per_chat_interval: float = 1.0,
        group_interval: float = 3.0,
        concurrency: int | None = None,
        max_attempts: int = 5,
        retry_base: float = RETRY_BASE,
        retry_cap: float = 600.0,
        max_flood_waits: int = 5,
        max_flood_pause: float = 60.0,
        clock: Clock = utcnow,
        batch: int | None = None,
        maybe_sent_wait: float | None = None,
    ) -> None:
        self._bot, self._deliveries, self._users = bot, deliveries, users
        self._worker = worker_id
        self._gate = FloodGate()
        self._pacer = Pacer(max_rate, self._gate)
        self._paid = Pacer(paid_rate or max_rate, self._gate)
        self._per_chat, self._per_group = per_chat_interval, max(per_chat_interval, group_interval)
        if concurrency is None:
            concurrency = default_concurrency(max_rate + (paid_rate or 0.0))
        self._sending: set[int] = set()  # rows whose request is in flight (``concurrency`` max)
        self._wake = asyncio.Event()  # a request finished: the drain may start another
        # rows claimed at a time per lane: fewer, larger transactions as the rates grow
        batch = batch if batch is not None else max(100, 4 * concurrency)
        self._concurrency, self._max_attempts, self._batch = concurrency, max_attempts, batch
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._max_flood_waits, self._max_flood_pause = max_flood_waits, max_flood_pause
        self._clock = clock
        self._chat_ready: dict[int, float] = {}  # chat -> monotonic time it may get the next one
        self._report = SendReport()
        self._sent = SentLog(lambda rows: deliveries.mark_sent_many(rows, self._clock()))
        # A timed-out send is tried again only after its answer can no longer be on the way.
        read_timeout = getattr(bot.request, "read_timeout", None) or 5.0
        self._maybe_wait = 2 * read_timeout if maybe_sent_wait is None else maybe_sent_wait
        self._stop = asyncio.Event()
        self._queue = ChatQueue()
        self._in_flight_ids: set[int] = set()
        # Told when Telegram imposes a flood wait (its end, on ``clock``): the pusher keeps it in
        # the database so that a process taking over does not send inside the window.
        self.on_flood: Callable[[datetime], None] | None = None

    def pause_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a flood wait another process was told about)."""
        if seconds > 0:
            self._gate.close_for(seconds)

    def held_ids(self) -> list[int]:
        """Rows this sender has claimed and not finished: queued, in flight, or sent but not
        yet recorded. The pusher confirms these claims while it renews its lease."""
        ids = set(self._queue.ids()) | self._in_flight_ids
        return sorted(ids | {d for d, _ in self._sent.held()})

    async def flush(self, within: float | None = None) -> bool:
        """Wait until every sent row is recorded; False if some are still held after
        ``within`` seconds (the database still refuses writes)."""
        done = await self._sent.flush(within)
        if not done:
            log.error("outbox: %d sent rows are not recorded yet: %s", len(self._sent.held()),
                      self._sent.held()[:50])  # fmt: skip
        return done

    async def drain(self, stop: asyncio.Event | None = None) -> SendReport:
        """Claim and send until nothing is due now; log and return the counts.

        ``stop`` set (the pusher lost its lease) ends the drain at once: nothing more is claimed
        or started, rows not started go back to the outbox, sends in flight finish. While the
        database refuses to record sent rows, nothing new is claimed or started either.
        """
        report = self._report = SendReport()
        started = time.monotonic()
        self._stop = stop if stop is not None else asyncio.Event()
        queue = self._queue = ChatQueue()
        tasks = set[asyncio.Task[None]]()
        wake = self._wake = asyncio.Event()
        stopped = False
        # per lane (broadcast rows or not): when to claim again after a claim found nothing
        idle_until = {False: 0.0, True: 0.0}

        def done(row_id: int, task: asyncio.Task[None]) -> None:
            self._sending.discard(row_id)  # also for a task cancelled before it ever ran
            tasks.discard(task)
            wake.set()

        try:
            while True:
                if self._stop.is_set() and not stopped:
                    stopped = True  # the lease is gone: hand back what has not started
                    report.retried += await self._release(queue)
                holding = self._sent.failing  # sent rows the database has not taken yet
                now = time.monotonic()
                for lane in (False, True):
                    queued = queue.lane_size(lane)
                    if stopped or holding or idle_until[lane] > now or queued > self._batch // 2:
                        continue
                    rows = await self._claim(self._batch - queued, lane)
                    # nothing due in this lane: look again later while the other one still works
                    idle_until[lane] = 0.0 if rows else now + LANE_RECHECK
                    queue.add(rows)
                exhausted = stopped or all(t > now for t in idle_until.values())
                if self._gate.closed_for() > self._max_flood_pause:
                    stopped = True  # a long flood wait: hand everything back to the outbox
                    report.retried += await self._release(queue)
                # half the tasks sending, half writing outcomes; none new while rows are held
                room = (
                    len(self._sending) < self._concurrency
                    and len(tasks) < 2 * self._concurrency
                    and not holding
                )
                row, token_wait = (
                    queue.pick(self._chat_ready, self._pacer_of) if room else (None, None)
                )
                if row is not None:
                    self._sending.add(row.id)
                    task = asyncio.create_task(self._run(row, queue, report))
                    tasks.add(task)
                    task.add_done_callback(functools.partial(done, row.id))
                    continue
                if not queue.chats and not tasks and exhausted:
                    break
                wake.clear()
                waits = [w for w in (queue.next_ready(self._chat_ready), token_wait) if w]
                if not stopped:
                    waits += [t - now for t in idle_until.values() if t > now]
                timeout = 0.1 if holding else (max(0.001, min(waits)) if waits else None)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._sent.flush()  # sent rows recorded before any row goes back
            report.retried += await self._release(queue)
            now = time.monotonic()
            self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
            report.seconds = time.monotonic() - started
            log.info("outbox drain: %s", report)
        return report

    async def send_one(self, row: DeliveryRow, *, paced: bool = False) -> str:
        """Send one claimed row and record the outcome: "sent", "retry", "failed" or "blocked".

        Rows of one chat must not be sent concurrently (``drain`` never does): the per-chat
        pacing assumes one message in flight per chat. ``paced``: the drain has already waited
        for the chat, spent the row's token and counted the request in flight.
        """
        self._sending.add(row.id)
        try:
            message_id, error, flood = await self._attempts(row, paced)
        finally:
            self._sending.discard(row.id)
            self._wake.set()
        if flood is not None:
            later = self._clock() + timedelta(seconds=flood)
            return await self._retry_at(row, f"flood control: retry after {flood}s", later)
        if error is None:
            await self._sent.add(row.id, message_id)
            return "sent"
        return await self._failure(row, error)

    async def _attempts(
        self, row: DeliveryRow, paced: bool
    ) -> tuple[int, Exception | None, float | None]:
        """The request, again after each 429 once the gate opens; (message id, error, seconds
        of a flood wait too long to sit out here)."""
        flood_waits = 0
        pacer = self._pacer_of(row)
        while True:
            if not paced:
                wait = self._chat_ready.get(row.chat_id, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await pacer.acquire()
            paced = False
            if self._stop.is_set():  # the lease was lost while this row waited its turn
                return 0, _Released("released unsent"), None
            try:
                return await self._call(row), None, None
            except RetryAfter as e:
                error = e
            except Exception as e:
                return 0, e, None
            finally:  # paced from the answer: two messages never reach Telegram too close
                interval = self._per_group if row.chat_id < 0 else self._per_chat
                self._chat_ready[row.chat_id] = time.monotonic() + interval
            self._report.rate_limited += 1
            seconds = _retry_after_seconds(error)
            self._gate.close_for(seconds)
            if self.on_flood is not None:
                await self._record(self.on_flood, self._clock() + timedelta(seconds=seconds))
            flood_waits += 1
            if flood_waits > self._max_flood_waits or seconds > self._max_flood_pause:
                return 0, None, seconds

    def _pacer_of(self, row: DeliveryRow) -> Pacer:
        return self._paid if is_paid(row) else self._pacer

    # ------------------------------------------------------------------ sending
    async def _call(self, row: DeliveryRow) -> int:
        """Make the Bot API call the payload describes; returns the new message's id.

        The payload already is Bot API JSON, so ``do_api_request`` sends it as written (encoded
        and answered exactly as PTB does for every method, same errors) and returns the raw
        result: building PTB objects only to serialize them, and parsing the whole Message
        answered, tripled the CPU per message (2.1 vs 0.7 ms; bare httpx 0.5). The method name
        goes in lower case because Telegram matches names case-insensitively, while PTB warns
        about any name that is one of its attributes ("use Bot.sendMessage"), and a warning
        turned into an error (``-W error``) must not fail every push. The row's chat wins over
        any ``chat_id`` in the payload.
        """
        params = dict(row.payload)
        method = params.pop("method", "sendMessage")
        if method not in _METHODS:
            raise _BadPayload(f"unsupported method {method!r}")
        params["chat_id"] = row.chat_id
        result = await self._bot.do_api_request(method.lower(), api_kwargs=params)
        return int(result["message_id"])

    async def _failure(self, row: DeliveryRow, error: Exception) -> str:
        if isinstance(error, _Released):
            return await self._retry_at(row, str(error), self._clock())
        reason = self._reason(error)
        if isinstance(error, Forbidden) or (
            isinstance(error, BadRequest) and any(g in str(error).lower() for g in _GONE)
        ):
            now = self._clock()
            cancelled = await self._record(
                self._deliveries.mark_blocked, row.user_id, row.id, reason, now
            )
            await self._record(self._users.set_active, row.user_id, False)
            log.info("reader %s is gone (%s); %s other pushes cancelled", row.user_id, reason,
                     cancelled or 0)  # fmt: skip
            return "blocked"
        if isinstance(error, BadRequest | _BadPayload | ChatMigrated):
            return await self._fail(row, reason)
        if isinstance(error, TimedOut) and not isinstance(error, NotSent):
            return await self._maybe_sent(row)
        if isinstance(error, NetworkError | InvalidToken):  # 5xx, timeouts, connection trouble
            if row.attempts >= self._max_attempts:
                return await self._fail(row, f"gave up after {row.attempts} attempts: {reason}")
            delay = min(self._retry_cap, self._retry_base * 2 ** max(0, row.attempts - 1))
            return await self._retry_at(row, reason, self._clock() + timedelta(seconds=delay))
        log.error("delivery %s: unexpected %s", row.id, reason, exc_info=error)
        return await self._fail(row, f"unexpected: {reason}")

    async def _maybe_sent(self, row: DeliveryRow) -> str:
        """Timed out after the request was written: Telegram may have delivered it. Send it
        once more, after a wait its first answer cannot outlast; if that times out too, give
        up with the same reason rather than risk a third copy."""
        if (row.last_error or "").startswith(MAYBE_SENT):
            log.warning("delivery %s to reader %s %s, twice: given up", row.id, row.user_id,
                        MAYBE_SENT)  # fmt: skip
            await self._record(self._deliveries.mark_failed, row.id, f"{MAYBE_SENT} (twice)",
                               self._clock(), self._worker)  # fmt: skip
        else:
            later = self._clock() + timedelta(seconds=self._maybe_wait)
            await self._record(self._deliveries.mark_retry, row.id, MAYBE_SENT, later,
                               self._worker)  # fmt: skip
        return "uncertain"

    async def _fail(self, row: DeliveryRow, reason: str) -> str:
        log.warning("delivery %s to reader %s failed: %s", row.id, row.user_id, reason)
        await self._record(
            self._deliveries.mark_failed, row.id, reason, self._clock(), self._worker
        )
        return "failed"

    async def _retry_at(self, row: DeliveryRow, reason: str, when: datetime) -> str:
        await self._record(self._deliveries.mark_retry, row.id, reason, when, self._worker)
        return "retry"

    def _reason(self, error: BaseException) -> str:
        """A short reason for logs and ``last_error``, never containing the token."""
        return f"{type(error).__name__}: {error}".replace(self._bot.token, "<token>")[:300]

    async def _record(self, write: Callable[..., Any], *args: Any) -> Any:
        """Write an outcome; if the database fails, the row is claimed again after a while."""
        try:
            return await asyncio.to_thread(write, *args)
        except Exception as e:
            log.error("outbox write %s failed: %s", write.__name__, self._reason(e))
            return None

    # ----------------------------------------------------------------- dispatch
    async def _claim(self, limit: int, broadcasts: bool) -> list[DeliveryRow]:
        try:
            return await asyncio.to_thread(
                functools.partial(self._deliveries.claim, broadcasts=broadcasts),
                self._worker, self._clock(), limit,
            )  # fmt: skip
        except Exception as e:
            log.error("outbox claim failed: %s", self._reason(e))
            return []

    async def _run(self, row: DeliveryRow, queue: ChatQueue, report: SendReport) -> None:
        self._in_flight_ids.add(row.id)
        try:
            outcome = await self.send_one(row, paced=True)
        finally:
            queue.busy.discard(row.chat_id)
            self._in_flight_ids.discard(row.id)
        if outcome == "blocked":
            report.blocked += 1
            report.cancelled += queue.drop_user(row.user_id)
        else:
            field = _OUTCOMES[outcome]
            setattr(report, field, getattr(report, field) + 1)

    async def _release(self, queue: ChatQueue) -> int:
        """Give rows claimed but not started back to the outbox, due when the flood gate opens.

        A row whose release cannot be written stays claimed and comes back once its claim
        expires (nothing confirms it any more): late, never twice.
        """
        when = self._clock() + timedelta(seconds=self._gate.closed_for())
        rows = queue.take_all()
        for row in rows:
            await self._record(
                self._deliveries.mark_retry, row.id, "released unsent", when, self._worker
            )
        return len(rows)


def _retry_after_seconds(error: RetryAfter) -> float:
    """PTB 22 keeps a timedelta privately and warns when the int property is read."""
    value = getattr(error, "_retry_after", None)
    if not isinstance(value, timedelta):
        raw = error.retry_after
        value = raw if isinstance(raw, timedelta) else timedelta(seconds=raw)
    return max(1.0, value.total_seconds())
