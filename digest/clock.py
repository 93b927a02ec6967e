"""The one clock: decisions take ``now`` from a :data:`Clock`, never from the wall directly.

Every component that asks what time it is takes a ``clock`` argument defaulting to
:func:`utcnow`; the composition root passes one clock to all of them, and tests pass a clock
they move by hand. Times are timezone-aware UTC; a reader's local time is derived from them.
(``storage`` keeps its own ``storage.tables.utcnow`` for column defaults: it imports nothing of
ours.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
