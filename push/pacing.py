"""Pacing for the outbox sender: the bot-wide token bucket that doubles as Telegram's flood gate,
and the per-chat queue of claimed rows, in which chats take turns.

Both are in-memory and per process; what must outlive the process (a flood wait another process
has to honour) the pusher keeps in the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from storage.deliveries import DeliveryRow


class Pacer:
    """Token bucket for the whole bot, doubling as the flood gate opened again after a 429.

    Waiters are served in order (the lock is FIFO). The bucket holds half a second of tokens:
    with less, every stall of the event loop or the network longer than the bucket is throughput
    lost for good (a tenth of a second held 93-96% of 30/s on a busy 2-core machine); with a
    whole second, as PTB's AIORateLimiter allows, the bursts after stalls drained the server's
    own bucket until ordinary jitter drew a 429. It starts nearly empty, and a 429 empties it,
    so sending begins and resumes at the rate rather than with a burst.
    """

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate / 2)
        self._tokens = 1.0
        self._stamp = time.monotonic()
        self._closed_until = 0.0
        self._lock = asyncio.Lock()

    def close_for(self, seconds: float) -> None:
        self._closed_until = max(self._closed_until, time.monotonic() + seconds)
        self._tokens, self._stamp = 0.0, self._closed_until

    def closed_for(self) -> float:
        return max(0.0, self._closed_until - time.monotonic())

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._closed_until:
                    await asyncio.sleep(self._closed_until - now)
                    continue
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)


class ChatQueue:
    """Claimed rows waiting to be sent, per chat in claim order; chats take turns."""

    def __init__(self) -> None:
        self.chats: dict[int, deque[DeliveryRow]] = {}
        self.busy: set[int] = set()  # chats with a message in flight
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, rows: list[DeliveryRow]) -> None:
        for row in rows:
            self.chats.setdefault(row.chat_id, deque()).append(row)
        self._size += len(rows)

    def pick(self, ready: dict[int, float]) -> DeliveryRow | None:
        """The first row whose chat is free and due; that chat goes to the back of the line."""
        now = time.monotonic()
        for chat, queue in self.chats.items():
            if chat in self.busy or ready.get(chat, 0.0) > now:
                continue
            row = queue.popleft()
            del self.chats[chat]
            if queue:
                self.chats[chat] = queue
            self.busy.add(chat)
            self._size -= 1
            return row
        return None

    def next_ready(self, ready: dict[int, float]) -> float | None:
        """Seconds until a waiting chat is due (None: only a finished send can free one)."""
        times = [ready.get(c, 0.0) for c in self.chats if c not in self.busy]
        return max(0.001, min(times) - time.monotonic()) if times else None

    def drop_user(self, user_id: int) -> int:
        """Forget a reader who blocked the bot (the store has cancelled their rows)."""
        before = self._size
        for chat in list(self.chats):
            kept = deque(r for r in self.chats[chat] if r.user_id != user_id)
            self._size -= len(self.chats[chat]) - len(kept)
            if kept:
                self.chats[chat] = kept
            else:
                del self.chats[chat]
        return before - self._size

    def ids(self) -> list[int]:
        return [row.id for queue in self.chats.values() for row in queue]

    def take_all(self) -> list[DeliveryRow]:
        rows = [row for queue in self.chats.values() for row in queue]
        self.chats.clear()
        self._size = 0
        return rows
