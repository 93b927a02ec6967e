"""Pushing in the bot process: the digest tick and the outbox sender, under one database lease.

Two `newsbot run` processes on one database must not both push. The lease makes one of them the
pusher; the other says so in its log and stays idle, checking again every few seconds, so it
takes over when the first one stops. How the lease keeps pushes single:

1. While a tick or a drain runs, a background task renews the lease every third of its TTL, and
   first confirms the claims of the rows the sender holds (queued, in flight, sent but not yet
   recorded), so a fan-out longer than the TTL keeps both.
2. If renewing finds another holder (or the database has refused renewals until the lease
   expired), the lease is lost: the sender stops claiming and starting sends at once, gives back
   what it had not started, and lets sends already in flight finish.
3. A process that becomes the pusher puts back only rows whose claim has expired; a holder on
   this host whose process is gone is taken over at once, and its rows with it, also when its
   lease had already expired (rows it claimed after its last renewal are not yet a lease old).
   A holder on another host that went silent gets its newest claims back after two minutes.
4. On shutdown the lease is given up only once every sent row is recorded.

Outbox claims are atomic as well, so only a message in flight at a crash can repeat.

`newsbot run` builds the pusher with the scheduler: the lease covers the digest tick and the
drain. A send worker (``newsbot worker --role send``) builds it without one (``scheduler=None``):
the lease then covers the drain only, and compose workers tick without it, sharing the due
readers through the database instead. Either way one process per database (one bot token)
sends at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from digest.clock import Clock
from push.outbox_sender import OutboxSender, SendReport
from push.tick import DigestScheduler, TickReport
from storage.deliveries import DeliveryStore
from storage.leases import LeaseStore

log = logging.getLogger(__name__)

LEASE = "pusher"
FLOOD_GATE = "flood-gate"  # until when Telegram told any of our processes to send nothing
# Test-only override (NEWSBOT_TEST_LEASE_SECONDS): e2e tests need fan-outs longer than the TTL
# without waiting minutes. Not a setting: operators have no reason to change it.
LEASE_TTL = timedelta(seconds=float(os.environ.get("NEWSBOT_TEST_LEASE_SECONDS") or 30))
FLUSH_ON_SHUTDOWN_SECONDS = 10.0


def worker_identity() -> str:
    """host:pid:random: unique per process, and tells a same-host successor who held it."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Pusher:
    """Owns the lease; runs ticks and drains only while holding it, and renews it meanwhile."""

    def __init__(
        self,
        scheduler: DigestScheduler | None,
        sender: OutboxSender,
        leases: LeaseStore,
        deliveries: DeliveryStore,
        worker_id: str,
        clock: Clock,
    ) -> None:
        self.scheduler = scheduler
        self.sender = sender
        self.sender_store = deliveries
        self.leases = leases
        self.worker_id = worker_id
        self.clock = clock
        self._draining = asyncio.Lock()
        self._again = False
        self._holding: bool | None = None
        self._lost = asyncio.Event()  # set when the lease is lost mid-work: the sender stops
        self._renewed = 0.0  # time.monotonic() of the last successful take or renewal
        self._renewer: asyncio.Task[None] | None = None
        self._working = 0
        self._stopping = False
        self._what = "digests and outbox" if scheduler is not None else "outbox"
        sender.on_flood = self._remember_flood

    @property
    def holding(self) -> bool:
        """Whether this process held the lease at its last check."""
        return bool(self._holding)

    async def hold(self) -> bool:
        """Take or renew the lease; log when this process starts or stops being the pusher."""
        if self._stopping:
            return False
        now = self.clock()
        previous = None
        if not self._holding:  # a standby: who held it last, should the lease have expired
            previous = await asyncio.to_thread(self.leases.last_holder, LEASE)
        held = await asyncio.to_thread(self.leases.acquire, LEASE, self.worker_id, now, LEASE_TTL)
        dead = None
        if held and previous not in (None, self.worker_id) and holder_is_dead(previous):
            dead = previous  # it expired before we looked: its rows come back all the same
        if not held:
            holder = await asyncio.to_thread(self.leases.holder, LEASE, now)
            if holder and holder_is_dead(holder):
                held = await asyncio.to_thread(
                    self.leases.take_over, LEASE, holder, self.worker_id, now, LEASE_TTL
                )
                dead = holder if held else None
        if held:
            self._renewed = time.monotonic()
            self._lost.clear()
        if held != self._holding:
            if held:
                orphans = await asyncio.to_thread(
                    self.sender_store.requeue_orphans, self.worker_id, now, now - LEASE_TTL, dead
                )
                log.info("this process is the pusher (%s); %d rows resumed", self._what, orphans)
                gate = await asyncio.to_thread(self.leases.until, FLOOD_GATE, now)
                if gate is not None:
                    self.sender.pause_for((gate - now).total_seconds())
            else:
                holder = await asyncio.to_thread(self.leases.holder, LEASE, now)
                log.warning(
                    "another newsbot process (%s) is pushing digests; this one stays idle "
                    "and takes over if it stops (%s)",
                    holder, self._what,
                )  # fmt: skip
            self._holding = held
        return held

    def _remember_flood(self, until: datetime) -> None:
        self.leases.hold_until(FLOOD_GATE, self.worker_id, until)

    async def tick(self) -> TickReport | None:
        """One scheduler tick (if this process is the pusher and ticks at all)."""
        if self.scheduler is None or not await self.hold():
            return None
        async with self._renewing():
            return await asyncio.to_thread(self.scheduler.tick, self.clock())

    async def drain(self) -> SendReport | None:
        """Send what is due; concurrent calls fold into the running drain."""
        if self._draining.locked():
            self._again = True
            return None
        async with self._draining:
            report = None
            while True:
                self._again = False
                if not await self.hold():
                    return report
                async with self._renewing():
                    report = await self.sender.drain(stop=self._lost)
                if not self._again or self._lost.is_set():
                    return report

    def stop(self) -> None:
        """Shutting down (SIGTERM): a running drain stops claiming and starting sends at once,
        gives back what it had not started, and lets sends in flight finish; no new tick or
        drain starts. Then ``release``."""
        self._stopping = True
        self._lost.set()

    async def release(self) -> None:
        """Give the lease up on shutdown, unless sent rows could not be recorded: then keep it
        until it expires, so no other process resends them meanwhile."""
        if not await self.sender.flush(FLUSH_ON_SHUTDOWN_SECONDS):
            log.error("shutting down with sent rows unrecorded; the lease is kept until it expires")
            return
        await asyncio.to_thread(self.leases.release, LEASE, self.worker_id)

    # ----------------------------------------------------------------- renewal
    @contextlib.asynccontextmanager
    async def _renewing(self) -> AsyncIterator[None]:
        """Keep the lease (and the sender's claims) alive while a tick or a drain runs."""
        self._working += 1
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="pusher-lease")
        try:
            yield
        finally:
            self._working -= 1
            if self._working == 0 and self._renewer is not None:
                self._renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._renewer
                self._renewer = None

    async def _renew(self) -> None:
        ttl = LEASE_TTL.total_seconds()
        failing = False
        while True:
            await asyncio.sleep(ttl / 3)
            now = self.clock()
            try:  # claims first: none may look older than the lease that covers it
                await asyncio.to_thread(
                    self.sender_store.touch_claims, self.worker_id, self.sender.held_ids(), now
                )
                held = await asyncio.to_thread(
                    self.leases.acquire, LEASE, self.worker_id, now, LEASE_TTL
                )
            except Exception as e:
                if not failing:
                    log.warning("pusher lease renewal failed: %s", type(e).__name__)
                failing = True
                if time.monotonic() - self._renewed >= ttl:
                    self._lose("the lease expired while the database refused renewals")
                    return
                continue
            failing = False
            if not held:
                self._lose("another process holds the lease")
                return
            self._renewed = time.monotonic()

    def _lose(self, why: str) -> None:
        log.warning("this process is no longer the pusher (%s): sending stops", why)
        self._lost.set()
        self._holding = False


def holder_is_dead(holder: str | None) -> bool:
    """A holder on this host whose process is gone (a crash): no need to wait out its lease."""
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:32] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
