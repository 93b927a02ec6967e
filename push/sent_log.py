"""Recording sent messages in the outbox: grouped, and never forgotten while the database fails.

A message that reached the reader must end as a ``sent`` row, or a later worker sends it again.
So the sender hands every (delivery id, message id) here and counts the send as done only once
it is written:

1. Group commit: while one batch is written, the next gathers. A fast fan-out writes several
   rows per transaction, a slow one each row at once.
2. If the write fails (disk full, database restarting), the pairs stay in memory and ``failing``
   is set, which tells the sender to stop claiming and starting sends; the write is tried again
   with back-off (``retry_base`` doubling up to ``retry_cap``) until the database accepts it.
3. ``flush`` waits until nothing is held. The sender flushes before it gives rows back to the
   outbox and the pusher before it gives up its lease: no other worker may take these rows while
   this process still knows, and nobody else does, that they went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class SentLog:
    """Writes sent rows in batches and holds them in memory while the write fails."""

    def __init__(
        self,
        write: Callable[[list[tuple[int, int]]], None],
        *,
        retry_base: float = 0.05,
        retry_cap: float = 2.0,
    ) -> None:
        self._write = write
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.failing = False

    def held(self) -> list[tuple[int, int]]:
        """(delivery id, message id) sent but not yet recorded."""
        return [(d, m) for d, m, _ in self._waiting]

    async def add(self, delivery_id: int, message_id: int) -> None:
        """Record a sent row; returns once it is written (cancelling the wait keeps the pair)."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery_id, message_id, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run())
        await done

    async def flush(self, within: float | None = None) -> bool:
        """Wait until every pair is written (or ``within`` seconds pass); True if none is held."""
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), within)
        return not self._waiting

    async def _run(self) -> None:
        delay = self._retry_base
        while self._waiting:
            batch = list(self._waiting)
            try:
                await asyncio.to_thread(self._write, [(d, m) for d, m, _ in batch])
            except Exception as e:
                if not self.failing:
                    log.error(
                        "outbox write of %d sent rows failed (%s): holding them, sending "
                        "nothing new until the database takes them",
                        len(batch), type(e).__name__,
                    )  # fmt: skip
                self.failing = True
                await asyncio.sleep(delay)
                delay = min(self._retry_cap, delay * 2)
                continue
            if self.failing:
                log.warning("outbox writable again: %d held sent rows recorded", len(batch))
            self.failing, delay = False, self._retry_base
            del self._waiting[: len(batch)]  # pairs added during the write stay, in order
            for *_, done in batch:
                if not done.done():
                    done.set_result(None)
