"""When to fetch a feed next: a pure decision from what the last fetch said.

Polite polling means: never sooner than the operator's refresh interval or the server's
Cache-Control max-age, honour Retry-After, and after failures back off exponentially (capped) so
that a dead feed costs almost nothing, while one success brings it straight back to normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=6)
DUE_TOLERANCE_SHARE = 0.05  # of the refresh interval...
MAX_DUE_TOLERANCE = timedelta(seconds=30)  # ...at most


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


def due_by(now: datetime, timing: FeedTiming) -> datetime:
    """A pass starting at ``now`` fetches the feeds due up to this time.

    Passes start on a timer every ``refresh``, and each feed's next fetch is ``refresh`` after
    the last pass's start; the two drift by milliseconds (a pass starts a little later than its
    tick, the next a little earlier), and a feed due 3 ms after the check would wait a whole
    extra period (fetched every 120 s with a 60 s refresh). So a feed due within a small share
    of the period is due now.
    """
    return now + min(timing.refresh * DUE_TOLERANCE_SHARE, MAX_DUE_TOLERANCE)
