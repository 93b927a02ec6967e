"""Pace the interactive bot's replies per chat and overall, and keep out of 429 windows.

PTB's AIORateLimiter paces only groups and the bot as a whole, lets any number of requests to one
private chat fly at once, and on a 429 retries after ``retry_after`` while requests already queued
keep going out inside the window (one reader tapping Related 100 times: 460 requests inside a
window, 196 ERROR tracebacks, 25 taps never answered). This limiter, for the bot that answers
updates (pushes have their own sender), works like this:

1. Requests that Telegram does not flood-limit like messages (answerCallbackQuery above all, and
   getMe, setMyCommands, deleteMessage...) go straight out: a button's answer never waits.
2. Every message and edit to a chat goes through that chat's *lane*: one request in flight per
   chat, so a 429 is known before the next request to that chat leaves.
3. New messages are paced: the next one to a chat starts ``private_interval`` (1 s) after the
   previous one finished (``group_interval``, 3 s, for groups and channels); all messages and
   edits together keep under ``overall_rate`` (30/s).
4. A 429 closes the chat's gate (the bot's, for a request without a chat) for ``retry_after``:
   nothing goes to that chat until it opens. A request waits for its turn, the pace and the gate
   up to ``max_wait`` (10 s) in all; if that is not enough it is not sent and RetryAfter is raised
   to the handler, which drops the reply (with a toast if the press is still unanswered).
5. Chat actions ("typing") are cosmetic: never paced, never waiting, refused while the gate is
   closed.
6. Each flood episode is logged once per chat (bot.flood_log), never a traceback per request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram._utils.types import JSONDict
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.flood_log import DROPPED, LIMITED, WAITED, FloodLog

SEND, EDIT, ACTION = "send", "edit", "action"
_NOT_MESSAGES = frozenset({"sendChatAction", "sendInvoice", "sendGift"})
_ALSO_MESSAGES = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})
_MAX_LANES = 2048

Result = bool | JSONDict | list[JSONDict]
ChatKey = int | str | None


@dataclass
class _Lane:
    """One chat: its turn (one request in flight), its pace and its flood gate."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_send: float = 0.0  # earliest start of the next new message
    gate: float = 0.0  # closed until then by a 429


class InteractiveRateLimiter(BaseRateLimiter[None]):
    """Per-chat and overall pacing with retry_after honoured as a closed gate (see module)."""

    def __init__(
        self,
        *,
        overall_rate: float = 30.0,
        private_interval: float = 1.0,
        group_interval: float = 3.0,
        max_wait: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        flood_log: FloodLog | None = None,
    ) -> None:
        self.overall_interval = 1.0 / overall_rate
        self.private_interval = private_interval
        self.group_interval = group_interval
        self.max_wait = max_wait
        self.clock = clock
        self.flood_log = flood_log or FloodLog(clock=clock)
        self._lanes: dict[ChatKey, _Lane] = {}
        self._next_overall = 0.0

    async def initialize(self) -> None:
        """Nothing to set up: lanes are created on demand."""

    async def shutdown(self) -> None:
        """Summarise open flood episodes so the counts are not lost."""
        self.flood_log.close_all()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Result:
        kind = _kind(endpoint)
        if kind is None:
            return await callback(*args, **kwargs)
        chat = _chat_key(data.get("chat_id"))
        if kind == ACTION:
            return await self._action(chat, callback, args, kwargs)
        deadline = self.clock() + self.max_wait
        lane = self._lane(chat)
        try:
            async with asyncio.timeout(max(0.0, deadline - self.clock())):
                await lane.lock.acquire()
        except TimeoutError:
            raise self._drop(chat, max(lane.gate, lane.next_send) - self.clock()) from None
        try:
            return await self._send_in_turn(kind, chat, lane, deadline, callback, args, kwargs)
        finally:
            lane.lock.release()

    async def _send_in_turn(
        self,
        kind: str,
        chat: ChatKey,
        lane: _Lane,
        deadline: float,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
    ) -> Result:
        """Holding the chat's turn: wait for the gate and the pace, send, learn from a 429."""
        waited = False
        while True:
            now = self.clock()
            gate = max(lane.gate, self._bot_gate())
            start = max(gate, lane.next_send if kind == SEND else 0.0)
            if start > deadline:
                raise self._drop(chat, start - now)
            if start > now:
                if gate > now and not waited:
                    waited = True
                    self.flood_log.event(chat, WAITED, gate - now)
                await asyncio.sleep(start - now)
                continue
            await self._overall_pace()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = _seconds(error)
                lane.gate = self.clock() + seconds
                self.flood_log.event(chat, LIMITED, seconds)
            finally:
                if kind == SEND:
                    lane.next_send = self.clock() + self._interval(chat)

    async def _action(
        self,
        chat: ChatKey,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
    ) -> Result:
        """A chat action goes out at once, or not at all while the chat's gate is closed."""
        left = max(self._lane(chat).gate, self._bot_gate()) - self.clock()
        if left > 0:
            raise RetryAfter(timedelta(seconds=math.ceil(left)))
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as error:
            self._lane(chat).gate = self.clock() + _seconds(error)
            raise

    async def _overall_pace(self) -> None:
        """At most ``overall_rate`` messages and edits per second across all chats."""
        now = self.clock()
        start = max(now, self._next_overall)
        self._next_overall = start + self.overall_interval
        if start > now:
            await asyncio.sleep(start - now)

    def _drop(self, chat: ChatKey, left: float) -> RetryAfter:
        """The reply cannot go out within ``max_wait``: counted, and the caller drops it."""
        self.flood_log.event(chat, DROPPED, max(0.0, left))
        return RetryAfter(timedelta(seconds=max(1, math.ceil(left))))

    def _bot_gate(self) -> float:
        lane = self._lanes.get(None)
        return lane.gate if lane else 0.0

    def _lane(self, chat: ChatKey) -> _Lane:
        lane = self._lanes.get(chat)
        if lane is None:
            if len(self._lanes) >= _MAX_LANES:
                self._forget_idle_lanes()
            lane = self._lanes[chat] = _Lane()
        return lane

    def _forget_idle_lanes(self) -> None:
        now = self.clock()
        for key, lane in list(self._lanes.items()):
            if not lane.lock.locked() and max(lane.gate, lane.next_send) <= now:
                del self._lanes[key]

    def _interval(self, chat: ChatKey) -> float:
        private = isinstance(chat, int) and chat > 0
        return self.private_interval if private else self.group_interval


def _kind(endpoint: str) -> str | None:
    """Which flood limit a Bot API method falls under, if any."""
    if endpoint == "sendChatAction":
        return ACTION
    if endpoint.startswith("send") and endpoint not in _NOT_MESSAGES:
        return SEND
    if endpoint in _ALSO_MESSAGES:
        return SEND
    if endpoint.startswith("editMessage"):
        return EDIT
    return None


def _chat_key(chat_id: object) -> ChatKey:
    """``-100…`` and ``"-100…"`` are the same chat; ``@channel`` stays a name; no chat: None."""
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        try:
            return int(chat_id)
        except ValueError:
            return chat_id
    return None


def _seconds(error: RetryAfter) -> float:
    """retry_after in seconds, without PTB's int-or-timedelta deprecation warning."""
    value = getattr(error, "_retry_after", None)
    return value.total_seconds() if isinstance(value, timedelta) else 1.0
