"""When to fetch a feed next: a pure decision from what the last fetch said.

Polite polling means: never sooner than the operator's refresh interval or the server's
Cache-Control max-age, honour Retry-After, and after failures back off exponentially (capped) so
that a dead feed costs almost nothing, while one success brings it straight back to normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class FeedTiming:
    """The operator's refresh interval and the cap on back-off."""

    refresh: timedelta = timedelta(seconds=900)
    max_backoff: timedelta = MAX_BACKOFF


def after_success(
    now: datetime, timing: FeedTiming, max_age_seconds: float | None = None
) -> datetime:
    """Next fetch after a 200 or 304: the refresh interval, or longer if the server asks."""
    delay = timing.refresh
    if max_age_seconds:
        delay = max(delay, min(timedelta(seconds=max_age_seconds), timing.max_backoff))
    return now + delay


def after_failure(
    now: datetime,
    timing: FeedTiming,
    consecutive_failures: int,
    retry_after_seconds: float | None = None,
) -> datetime:
    """Next fetch after the ``consecutive_failures``-th failure in a row (1 = the first).

    The first failure retries at the normal interval (a blip), then 2×, 4×, ... up to the cap.
    """
    exponent = max(0, consecutive_failures - 1)
    delay = min(timing.refresh * (2 ** min(exponent, 20)), timing.max_backoff)
    if retry_after_seconds:
        delay = max(delay, min(timedelta(seconds=retry_after_seconds), timing.max_backoff))
    return now + delay
