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
3. New messages are paced per chat by a token bucket: a private chat gets one message per
   ``private_interval`` (1 s) with short bursts of ``private_burst`` (3; Telegram allows short
   bursts, and a reply of two or three messages should not crawl); a group or channel one per
   ``group_interval`` (3 s, Telegram's 20 a minute), no burst. Time refills the bucket only once
   the previous message has been answered, so jitter on the wire cannot push two messages
   closer than the interval. After a 429 the chat gets no burst for ``strict_for`` (60 s):
   Telegram has told us where its limit is. All messages and edits together keep under
   ``overall_rate`` (30/s).
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
    tokens: float = 0.0  # messages that may start now; refilled from ``stamp``
    stamp: float = 0.0  # when the last message to this chat was answered
    gate: float = 0.0  # closed until then by a 429
    strict_until: float = 0.0  # no burst until then (after a 429)


class InteractiveRateLimiter(BaseRateLimiter[None]):
    """Per-chat and overall pacing with retry_after honoured as a closed gate (see module)."""

    def __init__(
        self,
        *,
        overall_rate: float = 30.0,
        private_interval: float = 1.0,
        private_burst: int = 3,
        group_interval: float = 3.0,
        strict_for: float = 60.0,
        max_wait: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        flood_log: FloodLog | None = None,
    ) -> None:
        self.overall_interval = 1.0 / overall_rate
        self.private_interval = private_interval
        self.private_burst = private_burst
        self.group_interval = group_interval
        self.strict_for = strict_for
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
            raise self._drop(chat, lane.gate - self.clock()) from None
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
            start = max(gate, self._next_send(chat, lane, now) if kind == SEND else 0.0)
            if start > deadline:
                raise self._drop(chat, start - now)
            if start > now:
                if gate > now and not waited:
                    waited = True
                    self.flood_log.event(chat, WAITED, gate - now)
                await asyncio.sleep(start - now)
                continue
            await self._overall_pace()
            if kind == SEND:
                lane.tokens = self._tokens(chat, lane, self.clock()) - 1
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = _seconds(error)
                lane.gate = self.clock() + seconds
                lane.strict_until = lane.gate + self.strict_for
                lane.tokens = min(lane.tokens, 0.0)
                self.flood_log.event(chat, LIMITED, seconds)
            finally:
                if kind == SEND:
                    lane.stamp = self.clock()

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
            if (
                not lane.lock.locked()
                and lane.strict_until <= now
                and self._tokens(key, lane, now) >= self._burst(key, lane, now)
            ):
                del self._lanes[key]

    def _next_send(self, chat: ChatKey, lane: _Lane, now: float) -> float:
        """When the chat's bucket holds a whole message again."""
        missing = 1.0 - self._tokens(chat, lane, now)
        return now if missing <= 0 else now + missing * self._interval(chat)

    def _tokens(self, chat: ChatKey, lane: _Lane, now: float) -> float:
        refill = max(0.0, now - lane.stamp) / self._interval(chat)
        return min(float(self._burst(chat, lane, now)), lane.tokens + refill)

    def _burst(self, chat: ChatKey, lane: _Lane, now: float) -> int:
        strict = not _private(chat) or lane.strict_until > now
        return 1 if strict else self.private_burst

    def _interval(self, chat: ChatKey) -> float:
        return self.private_interval if _private(chat) else self.group_interval


def _private(chat: ChatKey) -> bool:
    """Private chats have positive ids; groups and channels negative ids or @names."""
    return isinstance(chat, int) and chat > 0


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
