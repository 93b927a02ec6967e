"""The sandbox's clock: real time plus an offset the page moves forward (never back).

It is a ``digest.clock.Clock`` like the tests' ManualClock, handed to ``build_bot`` so every
decision (what is due, leases, pauses, "2 h ago") reads it; unlike ManualClock it keeps running,
so the bot's own minute tick still works between jumps.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """``utcnow() + offset``; thread-safe (the page's server threads move it)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (negative deltas are refused: time only goes forward,
        as leases, outbox rows and "already delivered" records assume)."""
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += delta
        return self()

    def advance_to(self, moment: datetime) -> datetime:
        """Jump to ``moment`` if it is ahead; a moment in the past leaves the clock alone."""
        return self.advance(max(timedelta(0), moment - self()))
