"""Pacing for the outbox sender: the flood gate, the token buckets behind it (one for free
messages, one for paid broadcasts), and the per-chat queue of claimed rows, in which chats take
turns.

All in-memory and per process; what must outlive the process (a flood wait another process
has to honour) the pusher keeps in the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from storage.broadcasts import KIND as BROADCAST
from storage.deliveries import DeliveryRow

PAID_FLAG = "allow_paid_broadcast"  # Bot API parameter: the message may exceed 30/s, for Stars


def is_paid(row: DeliveryRow) -> bool:
    """A paid broadcast message: paced by its own budget, not the bot's free 30/s."""
    return row.payload.get(PAID_FLAG) is True


class FloodGate:
    """Closed for everyone while Telegram's retry_after runs: its flood control is per bot."""

    def __init__(self) -> None:
        self.closed_until = 0.0

    def close_for(self, seconds: float) -> None:
        self.closed_until = max(self.closed_until, time.monotonic() + seconds)

    def closed_for(self) -> float:
        return max(0.0, self.closed_until - time.monotonic())


class Pacer:
    """Token bucket (``rate``/s) behind a flood gate that may be shared with other buckets.

    The drain asks ``wait()`` and ``take()`` without blocking, so a bucket that is empty holds
    back only its own rows; a send repeated after a 429 ``acquire()``s. The bucket holds half a
    second of tokens: with less, every stall of the event loop or the network longer than the
    bucket is throughput lost for good (a tenth of a second held 93-96% of 30/s on a busy 2-core
    machine); with a whole second, as PTB's AIORateLimiter allows, the bursts after stalls
    drained the server's own bucket until ordinary jitter drew a 429. It starts nearly empty,
    and a 429 empties it, so sending begins and resumes at the rate rather than with a burst.
    """

    def __init__(self, rate: float, gate: FloodGate | None = None) -> None:
        self.rate = rate
        self.gate = gate if gate is not None else FloodGate()
        self._capacity = max(1.0, rate / 2)
        self._tokens = 1.0
        self._stamp = time.monotonic()
        self._emptied_at = 0.0  # the gate's closing time this bucket was last emptied for

    def close_for(self, seconds: float) -> None:
        self.gate.close_for(seconds)

    def closed_for(self) -> float:
        return self.gate.closed_for()

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: now); tokens accrue only while the gate is open."""
        closed = self.gate.closed_until
        if closed > self._emptied_at:  # the gate closed since: start again from empty
            self._emptied_at, self._tokens, self._stamp = closed, 0.0, closed
        if now < closed:
            return closed - now
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self) -> None:
        """Spend the token ``wait`` just found."""
        self._tokens -= 1

    async def acquire(self) -> None:
        wait = self.wait(time.monotonic())
        while wait > 0:  # a bucket refills with time: nothing to wait on but the clock
            await asyncio.sleep(wait)
            wait = self.wait(time.monotonic())
        self.take()


class ChatQueue:
    """Claimed rows waiting to be sent, per chat in claim order; chats take turns."""

    def __init__(self) -> None:
        self.chats: dict[int, deque[DeliveryRow]] = {}
        self.busy: set[int] = set()  # chats with a message in flight
        self._size = 0
        self._broadcasts = 0  # how many of the rows are broadcast rows (their own claim lane)

    def __len__(self) -> int:
        return self._size

    def lane_size(self, broadcasts: bool) -> int:
        return self._broadcasts if broadcasts else self._size - self._broadcasts

    def add(self, rows: list[DeliveryRow]) -> None:
        for row in rows:
            self.chats.setdefault(row.chat_id, deque()).append(row)
        self._size += len(rows)
        self._broadcasts += sum(1 for row in rows if row.kind == BROADCAST)

    def pick(
        self, ready: dict[int, float], pacer_of: Callable[[DeliveryRow], Pacer] | None = None
    ) -> tuple[DeliveryRow | None, float | None]:
        """The first row whose chat is free and due and whose bucket has a token (spent here);
        that chat goes to the back of the line. Else None and the seconds until a bucket that
        held a row back has a token (None: no bucket did)."""
        now = time.monotonic()
        empty: dict[int, float] = {}  # id(pacer) -> its wait, for buckets found empty
        for chat, queue in self.chats.items():
            if chat in self.busy or ready.get(chat, 0.0) > now:
                continue
            if pacer_of is not None:
                pacer = pacer_of(queue[0])
                if id(pacer) in empty:
                    continue
                if (wait := pacer.wait(now)) > 0:
                    empty[id(pacer)] = wait
                    continue
                pacer.take()
            row = queue.popleft()
            del self.chats[chat]
            if queue:
                self.chats[chat] = queue
            self.busy.add(chat)
            self._size -= 1
            self._broadcasts -= row.kind == BROADCAST
            return row, None
        return None, min(empty.values(), default=None)

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
            gone = (r for r in self.chats[chat] if r.user_id == user_id)
            self._broadcasts -= sum(r.kind == BROADCAST for r in gone)
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
        self._size = self._broadcasts = 0
        return rows
