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
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from handlers.messaging import answer_flooded, answer_repeat

PressKey = tuple[int, int, int, str]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Serialise per user (or chat), run across users with at most ``max_concurrent_updates``."""

    def __init__(self, max_concurrent_updates: int = 64, *, max_press_wait: float = 8.0) -> None:
        super().__init__(max_concurrent_updates)
        self.max_press_wait = max_press_wait
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._presses: set[PressKey] = set()  # presses waiting for their reader's turn

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
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

    async def initialize(self) -> None:
        """Nothing to set up: locks are created on demand."""

    async def shutdown(self) -> None:
        """Nothing to tear down: locks vanish with their last waiter."""


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
