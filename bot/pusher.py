"""Pushing in the bot process: the digest tick and the outbox sender, under one database lease.

Two `newsbot run` processes on one database must not both push. The lease makes one of them the
pusher; the other says so in its log and stays idle, checking again every few seconds, so it
takes over when the first one stops. Outbox claims are atomic as well, so even a lease handed
over mid-send cannot make a row go out twice (only a message in flight at a crash can repeat).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from handlers.digest_push import DigestScheduler, TickReport
from handlers.outbox_sender import OutboxSender, SendReport
from storage.deliveries import DeliveryStore
from storage.leases import LeaseStore

log = logging.getLogger(__name__)

LEASE = "pusher"
LEASE_TTL = timedelta(seconds=30)


def worker_identity() -> str:
    """host:pid:random: unique per process, and tells a same-host successor who held it."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Pusher:
    """Owns the lease; runs ticks and drains only while holding it."""

    def __init__(
        self,
        scheduler: DigestScheduler,
        sender: OutboxSender,
        leases: LeaseStore,
        deliveries: DeliveryStore,
        worker_id: str,
        clock: Callable[[], datetime],
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

    async def hold(self) -> bool:
        """Take or renew the lease; log when this process starts or stops being the pusher."""
        now = self.clock()
        held = await asyncio.to_thread(self.leases.acquire, LEASE, self.worker_id, now, LEASE_TTL)
        if not held:
            holder = await asyncio.to_thread(self.leases.holder, LEASE, now)
            if holder and _holder_is_dead(holder):
                held = await asyncio.to_thread(
                    self.leases.take_over, LEASE, holder, self.worker_id, now, LEASE_TTL
                )
        if held != self._holding:
            if held:
                orphans = await asyncio.to_thread(
                    self.sender_store.requeue_orphans, self.worker_id, now
                )
                log.info(
                    "this process is the pusher (digests and outbox); %d rows resumed", orphans
                )
            else:
                holder = await asyncio.to_thread(self.leases.holder, LEASE, now)
                log.warning(
                    "another newsbot process (%s) is pushing digests; this one stays idle "
                    "and takes over if it stops",
                    holder,
                )
            self._holding = held
        return held

    async def tick(self) -> TickReport | None:
        """One scheduler tick (if this process is the pusher)."""
        if not await self.hold():
            return None
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
                report = await self.sender.drain()
                if not self._again:
                    return report

    async def release(self) -> None:
        await asyncio.to_thread(self.leases.release, LEASE, self.worker_id)


def _holder_is_dead(holder: str | None) -> bool:
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
