"""Say it once per burst: one WARNING when a chat hits Telegram's flood control, one summary after.

A reader tapping a button a hundred times can make a hundred requests meet a 429; a line (or a
traceback) per request buries everything else in the log. An *episode* starts with the first
flood event in a chat (a 429, a reply that had to wait for the window, a reply dropped) and ends
when that chat has been quiet for ``quiet`` seconds; it is logged as one WARNING at the start and
one INFO line with the counts at the end (or at shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("bot.flood")

LIMITED = "429"
WAITED = "waited"
DROPPED = "dropped"


@dataclass
class _Episode:
    started: float
    counts: Counter[str] = field(default_factory=Counter)
    timer: asyncio.TimerHandle | None = None


class FloodLog:
    """Counts flood events per chat (``None``: the whole bot) and logs each episode once."""

    def __init__(self, quiet: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.clock = clock
        self._episodes: dict[int | str | None, _Episode] = {}

    def event(self, chat: int | str | None, kind: str, retry_after: float = 0.0) -> None:
        """Record one event; the first of an episode is logged, the rest only counted."""
        episode = self._episodes.get(chat)
        if episode is None:
            episode = self._episodes[chat] = _Episode(self.clock())
            log.warning(
                "Telegram flood control for %s (retry after %.0f s): replies wait up to the bound "
                "or are dropped; counted until it is quiet again",
                _name(chat), retry_after,
            )  # fmt: skip
        episode.counts[kind] += 1
        if episode.timer is not None:
            episode.timer.cancel()
        episode.timer = asyncio.get_running_loop().call_later(
            max(self.quiet, retry_after), self._close, chat
        )

    def close_all(self) -> None:
        """Summarise every open episode now (at shutdown)."""
        for chat in list(self._episodes):
            self._close(chat)

    def _close(self, chat: int | str | None) -> None:
        episode = self._episodes.pop(chat, None)
        if episode is None:
            return
        if episode.timer is not None:
            episode.timer.cancel()
        log.info(
            "flood control for %s over after %.1f s: %d × 429, %d replies waited, %d dropped",
            _name(chat), self.clock() - episode.started,
            episode.counts[LIMITED], episode.counts[WAITED], episode.counts[DROPPED],
        )  # fmt: skip


def _name(chat: int | str | None) -> str:
    return "the bot" if chat is None else f"chat {chat}"
