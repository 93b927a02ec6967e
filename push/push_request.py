"""The push bot's HTTP client: timeouts that fit Telegram, and timeouts that say what they mean.

PTB raises one ``TimedOut`` whether the request never left (no connection, no free slot in the
pool) or Telegram has it and did not answer in time. For a push these differ: a request never
written is safe to send again; one whose answer is late may already have reached the reader
("maybe delivered"), and sending it again blindly is how one slow minute turned every digest into
five. ``PushRequest`` tells them apart by the httpx timeout behind PTB's error and raises
``NotSent`` or ``MaybeSent`` (both still ``TimedOut``, so other callers see no change).

The timeouts: Telegram's answers to sendMessage usually take well under a second but stretch to
several seconds when it is busy, so the read (and write) timeout is 20 s instead of PTB's 5 s;
connecting stays short (a connection that does not open in 5 s will not), and waiting for a
free connection in the pool too. Long polling is untouched: it has its own request in PTB.
"""

from __future__ import annotations

from typing import Any

import httpx
from telegram.error import TimedOut
from telegram.request import HTTPXRequest

READ_TIMEOUT = 20.0
WRITE_TIMEOUT = 20.0
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 5.0


class NotSent(TimedOut):
    """Timed out before the request was written (connect or pool): safe to retry."""


class MaybeSent(TimedOut):
    """Timed out after the request was (partly) written: Telegram may have delivered it."""


class PushRequest(HTTPXRequest):
    """``HTTPXRequest`` with push timeouts, raising ``NotSent`` / ``MaybeSent`` on timeouts."""

    __slots__ = ()

    def __init__(self, *, read_timeout: float = READ_TIMEOUT, **kwargs: Any) -> None:
        kwargs.setdefault("write_timeout", WRITE_TIMEOUT)
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
        super().__init__(read_timeout=read_timeout, **kwargs)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            return await super().do_request(*args, **kwargs)
        except TimedOut as error:
            cause = error.__cause__
            if isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise NotSent(f"not sent: {type(cause).__name__}") from cause
            raise MaybeSent("timed out: may have been delivered") from cause
