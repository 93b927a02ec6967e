"""When a reader's digests are due: pure decisions from a schedule, the stored state and ``now``.

Steps, in the order the scheduler meets them:

1. A :class:`Schedule` names delivery times as minutes after local midnight in an IANA zone, plus
   optional quiet hours. Every local day each minute becomes a :class:`Slot`: ``scheduled_at`` is
   that local time in UTC (the digest's identity, its outbox key) and ``send_at`` is when it may
   go out (the end of quiet hours if it falls inside them, else ``scheduled_at``).
2. The database keeps one indexed UTC instant per reader, ``next_due_at``: the ``send_at`` of the
   first slot not yet handled. The minute tick selects readers with ``next_due_at <= now`` and
   calls :func:`decide`, which says what to send, what to skip and what to store next.
3. :func:`decide` sends at most one digest per call, the latest one due, if at most ``grace``
   late: after downtime one fresh digest, never a burst of stale ones; the rest is skipped.
   The stored instant only moves forward, so replaying a tick (same ``now``) sends nothing more.

Local-time rules (DST-safe, zoneinfo only):

* A local time that does not exist (spring forward) fires at the first instant after the gap:
  02:30 in New York on 2026-03-08 fires at 03:00 EDT. Times in one gap collapse into one slot.
* A local time that happens twice (fall back) fires once, at its first occurrence (``fold=0``).
* Quiet hours are the local window ``[start, end)``; ``start > end`` wraps midnight, ``start ==
  end`` (or ``None``) means off. They are judged on the slot's actual local wall time; a slot
  inside waits for the next local ``end`` (resolved by the same two rules).

Naive datetimes (SQLite drops tzinfo) are read as UTC; every datetime returned is aware UTC.
No clock reads, no I/O beyond zoneinfo's tz database: tests drive ``now`` by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from storage.users import Reader

MINUTES_PER_DAY = 1440
DEFAULT_GRACE = timedelta(hours=2)
#: ``paused_until`` for "until I resume": :func:`decide` then stores ``next_due_at = None``.
PAUSED_INDEFINITELY = datetime(9999, 1, 1, tzinfo=UTC)
_PAUSE_SPANS = {"day": timedelta(days=1), "week": timedelta(days=7)}
PAUSE_CHOICES = (*_PAUSE_SPANS, "forever")
# Quiet hours last under a day, DST adds an hour: no slot waits longer than this for send_at.
_MAX_WAIT = timedelta(days=2)
_OFF_WORDS = frozenset({"off", "none", "no", "-"})
_HM = r"(\d{1,2})(?:[:.](\d{2}))?"
_RANGE = re.compile(rf"{_HM}\s*(?:-|–|—|to)\s*{_HM}")


def _zone(key: str) -> ZoneInfo:
    """The zone for ``key``; zoneinfo's many error types become one short ``ValueError``."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as e:
        raise ValueError(f"unknown timezone {key!r}") from e


def _check_minute(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MINUTES_PER_DAY:
        raise ValueError(f"{what} must be a minute of the day (0..1439), got {value!r}")
    return value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When one reader wants digests; validated on construction so a bad row fails at once.

    ``minutes`` are stored sorted and deduplicated, so equal schedules compare equal.
    """

    minutes: tuple[int, ...]
    timezone: str
    quiet_start: int | None = None
    quiet_end: int | None = None

    def __post_init__(self) -> None:
        minutes = sorted({_check_minute(m, "delivery time") for m in self.minutes})
        object.__setattr__(self, "minutes", tuple(minutes))
        _zone(self.timezone)
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both a start and an end")
        if self.quiet_start is not None:
            _check_minute(self.quiet_start, "quiet_start")
            _check_minute(self.quiet_end, "quiet_end")


@dataclass(frozen=True, slots=True)
class Slot:
    """One digest time: ``scheduled_at`` names it, ``send_at`` (>= it) is when it may go out."""

    scheduled_at: datetime
    send_at: datetime

    @property
    def key(self) -> str:
        """Stable outbox key, e.g. ``2026-11-25T07:00Z``: UTC, so DST and zone edits keep it."""
        return self.scheduled_at.strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True, slots=True)
class DueDecision:
    """What one tick does for one reader: send at most one slot, log the skipped, store next."""

    send: Slot | None
    skipped: tuple[Slot, ...]
    next_due_at: datetime | None


def in_quiet_hours(local_minute: int, quiet_start: int | None, quiet_end: int | None) -> bool:
    """Whether ``local_minute`` lies in ``[start, end)``, wrapping midnight if start > end."""
    if quiet_start is None or quiet_end is None or quiet_start == quiet_end:
        return False
    if quiet_start < quiet_end:
        return quiet_start <= local_minute < quiet_end
    return local_minute >= quiet_start or local_minute < quiet_end


def _to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Local wall time to UTC: a gap moves to the first valid minute after, a fold takes fold=0."""
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    for step in range(2 * MINUTES_PER_DAY):  # the longest gaps ever (Samoa 2011) skipped a day
        probe = wall + timedelta(minutes=step)
        instant = probe.replace(tzinfo=zone).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == probe:  # round trip: it exists
            return instant
    raise ValueError(f"no valid local time near {wall} in {zone.key}")


def _slot(scheduled_at: datetime, schedule: Schedule, zone: ZoneInfo) -> Slot:
    """The slot at ``scheduled_at``, held until the end of quiet hours if it falls inside."""
    start, end = schedule.quiet_start, schedule.quiet_end
    local = scheduled_at.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if start is None or end is None or not in_quiet_hours(minute, start, end):
        return Slot(scheduled_at, scheduled_at)
    end_day = local.date() if minute < end else local.date() + timedelta(days=1)
    return Slot(scheduled_at, max(scheduled_at, _to_utc(end_day, end, zone)))


def quiet_hours_end(
    moment: datetime, timezone: str | None, quiet_start: int | None, quiet_end: int | None
) -> datetime | None:
    """When quiet hours holding ``moment`` end (aware UTC), or None if it is not in quiet
    hours: an alert found then waits until this instant, as a digest slot would (same rules).
    An unknown timezone is read as UTC."""
    if quiet_start is None or quiet_end is None:
        return None
    try:
        zone = _zone(timezone or "UTC")
    except ValueError:
        zone = _zone("UTC")
    local = _utc(moment).astimezone(zone)
    minute = local.hour * 60 + local.minute
    if not in_quiet_hours(minute, quiet_start, quiet_end):
        return None
    end_day = local.date() if minute < quiet_end else local.date() + timedelta(days=1)
    return max(_utc(moment), _to_utc(end_day, quiet_end, zone))


def slots_between(schedule: Schedule, start: datetime, end: datetime) -> list[Slot]:
    """Every slot with ``start < scheduled_at <= end``, ascending, one per distinct instant.

    Ascending ``scheduled_at`` also means non-decreasing ``send_at``: quiet hours only hold slots
    back to a window's end, which is earlier than any slot after that window.
    """
    start, end = _utc(start), _utc(end)
    if not schedule.minutes or end <= start:
        return []
    zone = _zone(schedule.timezone)
    # One spare local day each side: a gap can push a slot into the next local day.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    instants: set[datetime] = set()
    while day <= last:
        for minute in schedule.minutes:
            instant = _to_utc(day, minute, zone)
            if start < instant <= end:
                instants.add(instant)
        day += timedelta(days=1)
    return [_slot(instant, schedule, zone) for instant in sorted(instants)]


def _around(schedule: Schedule, moment: datetime) -> list[Slot]:
    """Enough slots to hold the first one scheduled, and the first sendable, after ``moment``."""
    return slots_between(schedule, moment - _MAX_WAIT, moment + timedelta(days=3))


def next_slot(schedule: Schedule, after: datetime) -> Slot | None:
    """The first slot with ``scheduled_at > after``; ``None`` if there are no delivery times."""
    after = _utc(after)
    return next((s for s in _around(schedule, after) if s.scheduled_at > after), None)


def _next_send(schedule: Schedule, now: datetime) -> datetime | None:
    """The first ``send_at`` after ``now``, a held quiet-hours slot included: the next wake-up."""
    return next((s.send_at for s in _around(schedule, now) if s.send_at > now), None)


def _due(schedule: Schedule, due_from: datetime, now: datetime) -> list[Slot]:
    """Unhandled slots that may go out now: ``due_from <= send_at <= now``, ascending."""
    slots = slots_between(schedule, due_from - _MAX_WAIT, now)
    return [s for s in slots if due_from <= s.send_at <= now]


def is_paused(paused_until: datetime | None, now: datetime) -> bool:
    """Whether a reader paused until ``paused_until`` gets nothing at ``now``."""
    return paused_until is not None and _utc(now) < _utc(paused_until)


def pause_until(now: datetime, choice: str) -> datetime:
    """``paused_until`` for a pause button: ``day``, ``week`` or ``forever`` (until /resume)."""
    if choice == "forever":
        return PAUSED_INDEFINITELY
    if choice not in _PAUSE_SPANS:
        raise ValueError(f"unknown pause choice {choice!r}; expected one of {PAUSE_CHOICES}")
    return _utc(now) + _PAUSE_SPANS[choice]


def decide(
    schedule: Schedule,
    next_due_at: datetime | None,
    now: datetime,
    *,
    paused_until: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> DueDecision:
    """What to do for one reader at ``now``, given the stored ``next_due_at``.

    * ``next_due_at is None`` (new reader, schedule just changed): send nothing; store the first
      ``send_at`` after ``now`` (a slot already held by quiet hours counts).
    * Paused: whatever fell due is skipped; the next slot is the first scheduled at or after
      ``paused_until`` (``None`` for :data:`PAUSED_INDEFINITELY`: /resume passes ``None`` again).
    * Otherwise, once due: of the slots with ``next_due_at <= send_at <= now`` send the latest if
      it is at most ``grace`` late and skip the rest; store the first ``send_at`` after ``now``.
    """
    now = _utc(now)
    due_from = None if next_due_at is None else _utc(next_due_at)
    if paused_until is not None and is_paused(paused_until, now):
        skipped = tuple(_due(schedule, due_from, now)) if due_from is not None else ()
        resume = _utc(paused_until)
        just_before = resume - timedelta(microseconds=1)  # a slot right at the end counts
        first = None if resume >= PAUSED_INDEFINITELY else next_slot(schedule, just_before)
        if first is None:
            return DueDecision(None, skipped, None)
        return DueDecision(None, skipped, max(first.send_at, due_from or first.send_at))
    if due_from is None:
        return DueDecision(None, (), _next_send(schedule, now))
    if now < due_from:
        return DueDecision(None, (), due_from)
    due = _due(schedule, due_from, now)
    send = due[-1] if due and now - due[-1].send_at <= grace else None
    skipped = tuple(s for s in due if s is not send)
    return DueDecision(send, skipped, _next_send(schedule, now))


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """Quiet hours typed by a reader: ``(start, end)`` minutes, or ``None`` to turn them off.

    Reads ``22:00-07:00``, ``22-7``, ``22:00 – 07:00``, ``22.00 to 7.00`` (``24:00`` is midnight).
    ``None`` only for an explicit ``off``/``none``/``no``/``-``; anything unreadable, or equal
    ends, raises ``ValueError``, so a typo never silently turns quiet hours off.
    """
    cleaned = text.strip().lower()
    if cleaned in _OFF_WORDS:
        return None
    match = _RANGE.fullmatch(cleaned) if len(cleaned) <= 32 else None
    if match is None:
        raise ValueError(f"cannot read quiet hours {text[:32]!r}; expected e.g. 22:00-07:00")
    start, end = _minute_of(match[1], match[2]), _minute_of(match[3], match[4])
    if start == end:
        raise ValueError("quiet hours start and end are the same; send 'off' to turn them off")
    return start, end


def _minute_of(hours: str, minutes: str | None) -> int:
    h, m = int(hours), int(minutes or 0)
    if h > 23 + (m == 0) or m > 59:  # 24:00 is allowed, as midnight
        raise ValueError(f"not a time of day: {hours}:{minutes or '00'}")
    return (h * 60 + m) % MINUTES_PER_DAY


def schedule_of(reader: Reader) -> Schedule:
    """The reader's stored delivery settings as a :class:`Schedule` (no timezone yet: UTC)."""
    return Schedule(
        minutes=reader.delivery_minutes,
        timezone=reader.timezone or "UTC",
        quiet_start=reader.quiet_start,
        quiet_end=reader.quiet_end,
    )


def effective_pause(reader: Reader) -> datetime | None:
    """``paused`` without an end date means until the reader resumes."""
    if not reader.paused:
        return None
    return reader.paused_until or PAUSED_INDEFINITELY


def next_due_for(reader: Reader, now: datetime) -> datetime | None:
    """When the reader's next digest is due from ``now`` (after a settings change)."""
    slot = next_slot(schedule_of(reader), now)
    return slot.send_at if slot else None
