"""Updates from different users run concurrently; updates from one user run in order.

PTB either handles every update one after another (one slow article fetch stalls everyone) or all
at once (two fast taps by one reader race on the same menu). Keying a lock by user gives both: the
bot stays responsive for everybody while each reader's own taps apply in the order they were made.

In order also means a reader's taps wait for each other, and Telegram drops the answer to a
button press after 15 s. So a press never queues for long:

- a tap identical to one still waiting for its turn (same message, same button) is answered at
  once with a short toast and not queued again: 100 quick taps on a button are handled once or
  twice, not 100 times (the story buttons also coalesce taps while their reply is on its way);
- a press that has waited ``max_press_wait`` (8 s) for the reader's turn is answered with "Too
  many requests — try again in a few seconds" and skipped, so every press is answered in time.

Each update is handled once, also when Telegram delivers it again (a webhook answer it did not
see, a second receiver behind a load balancer, a poller stopped before confirming): before
anything else, even before a press is coalesced or answered, its ``update_id`` is looked up in
this process's recent ids and then recorded in the database (``ProcessedUpdateStore``); a
duplicate is dropped, logged at debug and counted in ``duplicates``. This runs in polling mode
too: one indexed INSERT per update is cheap next to any handler, and one code path is one thing
to test. The database step runs per reader in arrival order (a FIFO gate per reader, held only
for the INSERT), so it does not reorder a reader's taps. If the database cannot record the id,
the update is handled anyway: a rare duplicate beats a reader left without an answer.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from digest.clock import Clock, utcnow
from handlers.messaging import answer_flooded, answer_repeat
from storage.errors import StorageError
from storage.processed_updates import ProcessedUpdateStore

log = logging.getLogger(__name__)
RECENT_IDS = 10_000  # ids this process remembers without asking the database

PressKey = tuple[int, int, int, str]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Serialise per user (or chat), run across users with at most ``max_concurrent_updates``."""

    def __init__(
        self,
        max_concurrent_updates: int = 64,
        *,
        max_press_wait: float = 8.0,
        processed: ProcessedUpdateStore | None = None,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.max_press_wait = max_press_wait
        self.processed = processed
        self.clock = clock
        self.duplicates = 0  # redelivered updates dropped since start
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._gates: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._presses: set[PressKey] = set()  # presses waiting for their reader's turn
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not await self._first_delivery(update):
            _discard(coroutine)
            return
        key = _key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        press = _press(update)
        if press is None:
            async with lock:
                await coroutine
            return
        assert isinstance(update, Update) and update.callback_query is not None
        query = update.callback_query
        if press in self._presses:
            _discard(coroutine)
            await answer_repeat(query)
            return
        self._presses.add(press)
        try:
            async with asyncio.timeout(self.max_press_wait):
                await lock.acquire()
        except TimeoutError:
            _discard(coroutine)
            await answer_flooded(query)
            return
        finally:
            self._presses.discard(press)
        try:
            await coroutine
        finally:
            lock.release()

    async def _first_delivery(self, update: object) -> bool:
        """True if no process has taken this update on yet; it is then recorded as taken."""
        if not isinstance(update, Update):
            return True
        update_id = update.update_id
        if update_id in self._recent:
            self._dropped(update_id, "this process")
            return False
        self._remember(update_id)  # before any await: a copy arriving meanwhile is caught above
        if self.processed is None:
            return True
        key = _key(update)
        gate = self._gate(key) if key is not None else asyncio.Lock()
        async with gate:  # FIFO per reader, so their updates leave this step in order
            try:
                first = await asyncio.to_thread(
                    self.processed.first_delivery, update_id, self.clock()
                )
            except StorageError as error:
                log.warning("could not record update %d (%s); handling it", update_id, error)
                return True
        if not first:
            self._dropped(update_id, "another process")
        return first

    def _gate(self, key: int) -> asyncio.Lock:
        gate = self._gates.get(key)
        if gate is None:
            gate = asyncio.Lock()
            self._gates[key] = gate
        return gate

    def _remember(self, update_id: int) -> None:
        self._recent.add(update_id)
        self._recent_order.append(update_id)
        if len(self._recent_order) > RECENT_IDS:
            self._recent.discard(self._recent_order.popleft())

    def _dropped(self, update_id: int, by: str) -> None:
        self.duplicates += 1
        log.debug(
            "update %d dropped: already taken on by %s (%d duplicates so far)",
            update_id, by, self.duplicates,
        )  # fmt: skip

    async def initialize(self) -> None:
        """Nothing to set up: locks are created on demand."""

    async def shutdown(self) -> None:
        """Locks vanish with their last waiter; say how many redeliveries were dropped."""
        if self.duplicates:
            log.info("dropped %d redelivered updates", self.duplicates)


def _key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _press(update: object) -> PressKey | None:
    """A button press as (user, chat, message, data); None for anything else."""
    if not isinstance(update, Update) or update.callback_query is None:
        return None
    query = update.callback_query
    message = query.message
    chat = message.chat.id if message is not None else 0
    message_id = message.message_id if message is not None else 0
    return (query.from_user.id, chat, message_id, str(query.data or ""))


def _discard(coroutine: Awaitable[Any]) -> None:
    """The update will not be handled: close its coroutine so Python does not warn about it."""
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()
