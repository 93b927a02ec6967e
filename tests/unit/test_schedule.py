"""Digest schedules: local times to UTC across DST, quiet hours, pauses and the due decision.

Everything is pure, so ``now`` is driven by hand: tables of (zone, date, time) → UTC instant,
and property loops that tick minute by minute over days across DST changes and downtime.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.schedule import (
    DEFAULT_GRACE,
    PAUSED_INDEFINITELY,
    DueDecision,
    Schedule,
    Slot,
    decide,
    in_quiet_hours,
    is_paused,
    next_slot,
    parse_quiet_hours,
    pause_until,
    slots_between,
)

MINUTE = timedelta(minutes=1)
NY, BERLIN, LORD_HOWE = "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"


def utc(text: str) -> datetime:
    """``2026-03-08T07:00`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def local_hm(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def local_midnight(zone: str, day: str) -> datetime:
    """Local midnight as UTC: arithmetic on it then steps real minutes, not wall-clock ones."""
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def ticks(start: datetime, end: datetime, step: timedelta = MINUTE) -> Iterator[datetime]:
    now = start
    while now <= end:
        yield now
        now += step


# (zone, local date, delivery time, expected UTC key, local wall time it fires at)
LOCAL_TO_UTC = [
    # New York: spring forward 2026-03-08 02:00 EST → 03:00 EDT; fall back 2026-11-01 02:00 → 01:00.
    (NY, "2026-03-07", "07:00", "2026-03-07T12:00Z", "07:00"),
    (NY, "2026-03-08", "07:00", "2026-03-08T11:00Z", "07:00"),
    (NY, "2026-03-08", "02:30", "2026-03-08T07:00Z", "03:00"),  # in the gap: first instant after
    (NY, "2026-03-08", "02:00", "2026-03-08T07:00Z", "03:00"),
    (NY, "2026-03-08", "01:59", "2026-03-08T06:59Z", "01:59"),
    (NY, "2026-10-31", "07:00", "2026-10-31T11:00Z", "07:00"),
    (NY, "2026-11-01", "01:30", "2026-11-01T05:30Z", "01:30"),  # twice: the first (EDT) one
    (NY, "2026-11-01", "07:00", "2026-11-01T12:00Z", "07:00"),
    (NY, "2026-11-01", "21:15", "2026-11-02T02:15Z", "21:15"),
    # Berlin: spring forward 2026-03-29 02:00 CET → 03:00 CEST; fall back 2026-10-25 03:00 → 02:00.
    (BERLIN, "2026-03-28", "07:00", "2026-03-28T06:00Z", "07:00"),
    (BERLIN, "2026-03-29", "02:30", "2026-03-29T01:00Z", "03:00"),
    (BERLIN, "2026-03-29", "07:00", "2026-03-29T05:00Z", "07:00"),
    (BERLIN, "2026-10-24", "07:00", "2026-10-24T05:00Z", "07:00"),
    (BERLIN, "2026-10-25", "02:30", "2026-10-25T00:30Z", "02:30"),  # twice: the first (CEST) one
    (BERLIN, "2026-10-25", "07:00", "2026-10-25T06:00Z", "07:00"),
    (BERLIN, "2026-10-25", "00:00", "2026-10-24T22:00Z", "00:00"),
    # Fixed odd offsets: +05:30 and +05:45.
    ("Asia/Kolkata", "2026-06-01", "07:00", "2026-06-01T01:30Z", "07:00"),
    ("Asia/Kolkata", "2026-06-01", "00:00", "2026-05-31T18:30Z", "00:00"),
    ("Asia/Kolkata", "2026-06-01", "23:59", "2026-06-01T18:29Z", "23:59"),
    ("Asia/Kathmandu", "2026-06-01", "07:00", "2026-06-01T01:15Z", "07:00"),
    ("Asia/Kathmandu", "2026-06-01", "00:00", "2026-05-31T18:15Z", "00:00"),
    # Lord Howe: +10:30 standard, +11 summer; a 30-minute jump each way.
    (LORD_HOWE, "2026-10-03", "07:00", "2026-10-02T20:30Z", "07:00"),
    (LORD_HOWE, "2026-10-04", "02:15", "2026-10-03T15:30Z", "02:30"),  # gap 02:00-02:30
    (LORD_HOWE, "2026-10-04", "07:00", "2026-10-03T20:00Z", "07:00"),
    (LORD_HOWE, "2026-04-04", "07:00", "2026-04-03T20:00Z", "07:00"),
    (LORD_HOWE, "2026-04-05", "01:45", "2026-04-04T14:45Z", "01:45"),  # twice: the +11 one
    (LORD_HOWE, "2026-04-05", "07:00", "2026-04-04T20:30Z", "07:00"),
    ("UTC", "2026-11-25", "07:00", "2026-11-25T07:00Z", "07:00"),
]


@pytest.mark.parametrize(("zone", "day", "clock", "key", "fires_at"), LOCAL_TO_UTC)
def test_local_delivery_time_to_utc(
    zone: str, day: str, clock: str, key: str, fires_at: str
) -> None:
    schedule = Schedule((hm(clock),), zone)
    slot = next_slot(schedule, local_midnight(zone, day) - MINUTE)
    assert slot is not None
    assert slot.key == key
    assert slot.scheduled_at.tzinfo is UTC
    assert slot.send_at == slot.scheduled_at
    assert local_hm(slot.scheduled_at, zone) == fires_at


@pytest.mark.parametrize("zone", [NY, BERLIN, LORD_HOWE, "Asia/Kathmandu"])
@pytest.mark.parametrize("first_day", ["2026-03-01", "2026-09-20"])
def test_same_local_time_every_day_across_dst(zone: str, first_day: str) -> None:
    schedule = Schedule((1275, 420), zone)  # unsorted on purpose: stored sorted
    assert schedule.minutes == (420, 1275)
    tz = ZoneInfo(zone)
    start = datetime.combine(date.fromisoformat(first_day), time(0), tzinfo=tz)
    days = 50
    slots = slots_between(schedule, start, start + timedelta(days=days))
    assert [local_hm(s.scheduled_at, zone) for s in slots] == ["07:00", "21:15"] * days
    assert [s.scheduled_at for s in slots] == sorted({s.scheduled_at for s in slots})
    dates = [s.scheduled_at.astimezone(tz).date() for s in slots[::2]]
    assert dates == [start.date() + timedelta(days=n) for n in range(days)]
    if zone != "Asia/Kathmandu":  # the UTC instant moves with DST (by 30 min on Lord Howe)
        assert len({s.scheduled_at.time() for s in slots[::2]}) == 2


def test_fall_back_time_fires_once() -> None:
    slots = slots_between(Schedule((90,), NY), utc("2026-10-31T12:00"), utc("2026-11-02T12:00"))
    assert [s.key for s in slots] == ["2026-11-01T05:30Z", "2026-11-02T06:30Z"]


def test_times_in_one_gap_collapse_into_one_slot() -> None:
    schedule = Schedule((120, 150, 180, 420), NY)  # 02:00 and 02:30 do not exist; 03:00 does
    slots = slots_between(schedule, utc("2026-03-08T05:00"), utc("2026-03-08T20:00"))
    assert [s.key for s in slots] == ["2026-03-08T07:00Z", "2026-03-08T11:00Z"]


def test_slots_between_bounds() -> None:
    schedule = Schedule((420,), "UTC")
    seven, next_seven = utc("2026-11-25T07:00"), utc("2026-11-26T07:00")
    assert [s.scheduled_at for s in slots_between(schedule, seven, next_seven)] == [next_seven]
    assert slots_between(schedule, seven - MINUTE, seven) == [Slot(seven, seven)]
    assert slots_between(schedule, seven, seven) == []
    assert slots_between(schedule, next_seven, seven) == []
    assert slots_between(Schedule((), "UTC"), seven, next_seven) == []
    assert next_slot(Schedule((), "UTC"), seven) is None
    assert next_slot(schedule, seven).scheduled_at == next_seven  # type: ignore[union-attr]


def test_naive_datetimes_are_read_as_utc() -> None:
    schedule = Schedule((420,), BERLIN)
    naive = datetime(2026, 11, 25, 6, 0)  # 07:00 in Berlin
    assert next_slot(schedule, naive) == next_slot(schedule, naive.replace(tzinfo=UTC))
    assert decide(schedule, naive, naive + MINUTE).send is not None


def test_key_is_short_utc_and_stable() -> None:
    instant = utc("2026-11-25T07:00")
    slot = Slot(instant, instant + timedelta(hours=3))
    assert slot.key == "2026-11-25T07:00Z"
    assert len(slot.key) <= 20
    kolkata = Schedule((hm("12:30"),), "Asia/Kolkata")
    assert next_slot(kolkata, instant - MINUTE).key == slot.key  # type: ignore[union-attr]


@pytest.mark.parametrize("minutes", [(-1,), (1440,), (420, 99999), (True,), (7.5,)])
def test_minutes_out_of_range_are_refused(minutes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="minute of the day"):
        Schedule(minutes, "UTC")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "America", "../etc/passwd", "/etc/tz"])
def test_invalid_timezone_is_one_value_error(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown timezone") as caught:
        Schedule((420,), zone)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(("start", "end"), [(1320, None), (None, 420), (1440, 420), (-5, 420)])
def test_invalid_quiet_hours_are_refused(start: int | None, end: int | None) -> None:
    with pytest.raises(ValueError):
        Schedule((420,), "UTC", start, end)


QUIET = [
    (hm("23:00"), 1320, 420, True),
    (hm("22:00"), 1320, 420, True),  # start is inside
    (hm("00:00"), 1320, 420, True),
    (hm("06:59"), 1320, 420, True),
    (hm("07:00"), 1320, 420, False),  # end is outside
    (hm("21:59"), 1320, 420, False),
    (hm("12:00"), hm("12:00"), hm("14:00"), True),
    (hm("13:59"), hm("12:00"), hm("14:00"), True),
    (hm("14:00"), hm("12:00"), hm("14:00"), False),
    (hm("11:59"), hm("12:00"), hm("14:00"), False),
    (hm("12:00"), 600, 600, False),  # start == end: off
    (hm("12:00"), None, None, False),
    (hm("12:00"), 0, None, False),
]


@pytest.mark.parametrize(("minute", "start", "end", "quiet"), QUIET)
def test_in_quiet_hours(minute: int, start: int | None, end: int | None, quiet: bool) -> None:
    assert in_quiet_hours(minute, start, end) is quiet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22:00-07:00", (1320, 420)),
        ("22-7", (1320, 420)),
        ("22:00 – 07:00", (1320, 420)),
        (" 22:30—6:15 ", (1350, 375)),
        ("22.00 to 7.00", (1320, 420)),
        ("12-14", (720, 840)),
        ("22:00-24:00", (1320, 0)),
        ("0-7", (0, 420)),
        ("off", None),
        (" OFF ", None),
        ("none", None),
        ("-", None),
    ],
)
def test_parse_quiet_hours(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize(
    "text", ["", "22", "22:00", "25-7", "22:60-7", "22:00-07:00-09:00", "soon", "7-7", "x" * 200]
)
def test_parse_quiet_hours_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quiet_hours(text)


def test_quiet_hours_hold_slots_until_the_window_ends() -> None:
    schedule = Schedule((hm("06:00"), hm("07:30"), hm("21:15"), hm("23:00")), BERLIN, 1320, 420)
    slots = slots_between(schedule, utc("2026-11-24T23:00"), utc("2026-11-25T23:00"))
    got = [(local_hm(s.scheduled_at, BERLIN), s.send_at.isoformat()) for s in slots]
    assert got == [
        ("06:00", "2026-11-25T06:00:00+00:00"),  # held until 07:00 local
        ("07:30", "2026-11-25T06:30:00+00:00"),
        ("21:15", "2026-11-25T20:15:00+00:00"),
        ("23:00", "2026-11-26T06:00:00+00:00"),  # wraps midnight: next day's 07:00
    ]
    assert slots[0].key == "2026-11-25T05:00Z"  # still keyed by when it was scheduled


@pytest.mark.parametrize(
    ("zone", "clock", "quiet", "key", "send_at"),
    [
        # Held across spring forward: 23:00 CET, released at 07:00 CEST.
        (BERLIN, "23:00", ("22:00", "07:00"), "2026-03-28T22:00Z", "2026-03-29T05:00"),
        # The window ends in the gap: released at the first instant after it (03:00 EDT).
        (NY, "01:30", ("01:00", "02:30"), "2026-03-08T06:30Z", "2026-03-08T07:00"),
        # Fall back: 01:30 EDT (first), released at 01:45 EDT (first), not an hour later.
        (NY, "01:30", ("00:00", "01:45"), "2026-11-01T05:30Z", "2026-11-01T05:45"),
        # A non-wrapping window.
        ("Asia/Kathmandu", "13:00", ("12:00", "14:00"), "2026-06-01T07:15Z", "2026-06-01T08:15"),
    ],
)
def test_quiet_hours_across_dst(
    zone: str, clock: str, quiet: tuple[str, str], key: str, send_at: str
) -> None:
    schedule = Schedule((hm(clock),), zone, hm(quiet[0]), hm(quiet[1]))
    slot = next(s for s in slots_between(schedule, utc(key[:16]) - MINUTE, utc(key[:16])))
    assert (slot.key, slot.send_at) == (key, utc(send_at))


# --- decide -------------------------------------------------------------------------------------

DAILY = Schedule((hm("07:00"), hm("21:15")), "UTC")


def test_new_reader_waits_for_the_next_slot() -> None:
    decision = decide(DAILY, None, utc("2026-11-25T07:00:30"))
    assert decision == DueDecision(None, (), utc("2026-11-25T21:15"))


def test_new_reader_in_quiet_hours_gets_the_held_slot_at_the_end() -> None:
    schedule = Schedule((hm("23:00"),), "UTC", 1320, 420)
    decision = decide(schedule, None, utc("2026-11-25T23:30"))
    assert decision.next_due_at == utc("2026-11-26T07:00")


def test_on_time_sends_once_and_moves_on() -> None:
    now = utc("2026-11-25T07:00:05")
    decision = decide(DAILY, utc("2026-11-25T07:00"), now)
    assert decision.send == Slot(utc("2026-11-25T07:00"), utc("2026-11-25T07:00"))
    assert decision.skipped == ()
    assert decision.next_due_at == utc("2026-11-25T21:15")
    assert decide(DAILY, decision.next_due_at, now) == DueDecision(None, (), decision.next_due_at)


def test_not_yet_due_changes_nothing() -> None:
    due = utc("2026-11-25T21:15")
    assert decide(DAILY, due, due - MINUTE) == DueDecision(None, (), due)


@pytest.mark.parametrize(
    ("late", "sent"),
    [(timedelta(0), True), (timedelta(hours=1), True), (DEFAULT_GRACE, True),
     (DEFAULT_GRACE + MINUTE, False), (timedelta(hours=13), False)],
)  # fmt: skip
def test_grace_period(late: timedelta, sent: bool) -> None:
    schedule = Schedule((hm("07:00"),), "UTC")
    due = utc("2026-11-25T07:00")
    decision = decide(schedule, due, due + late)
    assert (decision.send is not None) is sent
    assert len(decision.skipped) == (0 if sent else 1)
    assert decision.next_due_at == utc("2026-11-26T07:00")


def test_downtime_sends_only_the_latest_fresh_digest() -> None:
    schedule = Schedule((hm("06:00"), hm("09:00"), hm("12:00"), hm("18:00")), "UTC")
    decision = decide(schedule, utc("2026-11-24T18:00"), utc("2026-11-25T13:30"))
    assert decision.send is not None and decision.send.key == "2026-11-25T12:00Z"
    assert [s.key for s in decision.skipped] == [
        "2026-11-24T18:00Z", "2026-11-25T06:00Z", "2026-11-25T09:00Z",
    ]  # fmt: skip
    assert decision.next_due_at == utc("2026-11-25T18:00")
    stale = decide(schedule, utc("2026-11-24T18:00"), utc("2026-11-25T14:30"))
    assert stale.send is None and len(stale.skipped) == 4


def test_two_slots_held_by_one_quiet_window_send_once() -> None:
    schedule = Schedule((hm("23:00"), hm("06:00"), hm("07:30")), "UTC", 1320, 420)
    decision = decide(schedule, utc("2026-11-26T07:00"), utc("2026-11-26T07:00"))
    assert decision.send is not None and decision.send.key == "2026-11-26T06:00Z"
    assert [s.key for s in decision.skipped] == ["2026-11-25T23:00Z"]
    assert decision.next_due_at == utc("2026-11-26T07:30")


def test_pause_skips_what_falls_due_and_resumes_at_the_first_slot_after() -> None:
    now = utc("2026-11-25T07:00")
    paused = pause_until(utc("2026-11-24T21:15"), "day")  # until 2026-11-25T21:15, a slot
    decision = decide(DAILY, now, now, paused_until=paused)
    assert decision.send is None
    assert [s.key for s in decision.skipped] == ["2026-11-25T07:00Z"]
    assert decision.next_due_at == utc("2026-11-25T21:15")  # a slot exactly at the end counts
    resumed = decide(DAILY, decision.next_due_at, paused, paused_until=paused)
    assert resumed.send is not None and resumed.send.key == "2026-11-25T21:15Z"


def test_pause_forever_stores_none_until_resume() -> None:
    now = utc("2026-11-25T07:00")
    forever = pause_until(now - timedelta(hours=3), "forever")
    assert forever == PAUSED_INDEFINITELY
    assert decide(DAILY, now, now, paused_until=forever).next_due_at is None
    assert decide(DAILY, None, now, paused_until=forever) == DueDecision(None, (), None)
    later = utc("2027-01-10T12:00")  # /resume clears paused_until and starts over
    assert decide(DAILY, None, later).next_due_at == utc("2027-01-10T21:15")


def test_pause_set_before_anything_is_due_moves_next_due_past_it() -> None:
    now = utc("2026-11-25T08:00")
    until = pause_until(now, "week")
    decision = decide(DAILY, utc("2026-11-25T21:15"), now, paused_until=until)
    assert decision == DueDecision(None, (), utc("2026-12-02T21:15"))
    assert decide(DAILY, None, now, paused_until=until).next_due_at == utc("2026-12-02T21:15")


def test_expired_pause_is_ignored() -> None:
    now = utc("2026-11-25T07:00")
    assert not is_paused(now, now)
    assert not is_paused(None, now)
    assert is_paused(now + MINUTE, now)
    assert decide(DAILY, now, now, paused_until=now - MINUTE).send is not None


def test_pause_choices() -> None:
    now = utc("2026-11-25T07:00")
    assert pause_until(now, "day") == utc("2026-11-26T07:00")
    assert pause_until(now, "week") == utc("2026-12-02T07:00")
    with pytest.raises(ValueError, match="pause choice"):
        pause_until(now, "month")


def test_empty_schedule_is_never_due() -> None:
    empty = Schedule((), BERLIN)
    now = utc("2026-11-25T07:00")
    assert decide(empty, None, now) == DueDecision(None, (), None)
    assert decide(empty, now - MINUTE, now) == DueDecision(None, (), None)


# --- property loops: a tick every minute, with and without downtime -----------------------------

# (zone, first local day, delivery times, quiet hours, local times the digests go out at)
LOOPS = [
    (NY, "2026-10-31", ("01:30", "07:00", "21:15"), None, {"01:30", "07:00", "21:15"}),
    (NY, "2026-03-07", ("02:30", "07:00"), None, {"02:30", "03:00", "07:00"}),
    (BERLIN, "2026-03-28", ("02:30", "07:00", "23:00"), ("22:00", "06:00"), {"06:00", "07:00"}),
    (BERLIN, "2026-10-24", ("02:30", "07:00"), ("02:00", "02:45"), {"02:45", "07:00"}),
    (LORD_HOWE, "2026-10-03", ("02:15", "07:00"), None, {"02:15", "02:30", "07:00"}),
    ("Asia/Kathmandu", "2026-06-01", ("00:00", "07:00", "23:59"), ("23:30", "00:30"),
     {"00:30", "07:00"}),
]  # fmt: skip


def make(zone: str, clocks: tuple[str, ...], quiet: tuple[str, str] | None) -> Schedule:
    start, end = (hm(quiet[0]), hm(quiet[1])) if quiet else (None, None)
    return Schedule(tuple(hm(c) for c in clocks), zone, start, end)


def expected_sends(schedule: Schedule, start: datetime, end: datetime) -> list[Slot]:
    """The latest slot of each send_at group sending in (start, end]: the spec, stated plainly."""
    slots = slots_between(schedule, start - timedelta(days=2), end)
    slots = [s for s in slots if start < s.send_at <= end]
    return [
        s for i, s in enumerate(slots) if i + 1 == len(slots) or slots[i + 1].send_at > s.send_at
    ]


@pytest.mark.parametrize(("zone", "first_day", "clocks", "quiet", "goes_out_at"), LOOPS)
def test_every_minute_for_three_days_sends_each_slot_once_on_time(
    zone: str,
    first_day: str,
    clocks: tuple[str, ...],
    quiet: tuple[str, str] | None,
    goes_out_at: set[str],
) -> None:
    schedule = make(zone, clocks, quiet)
    start = local_midnight(zone, first_day)
    end = start + timedelta(days=3)
    state = decide(schedule, None, start).next_due_at
    sent: list[tuple[datetime, Slot]] = []
    for now in ticks(start + MINUTE, end):
        decision = decide(schedule, state, now)  # asked every minute, due or not
        for skipped in decision.skipped:  # only ever superseded inside one quiet window
            assert decision.send is not None and skipped.send_at == decision.send.send_at
        if decision.send is not None:
            sent.append((now, decision.send))
        assert decide(schedule, decision.next_due_at, now) == DueDecision(
            None, (), decision.next_due_at
        )  # replaying the tick sends nothing more
        assert decision.next_due_at is not None and decision.next_due_at > now
        state = decision.next_due_at
    assert [slot for _, slot in sent] == expected_sends(schedule, start, end)
    assert all(now == slot.send_at for now, slot in sent)  # on the minute, never late
    assert {local_hm(now, zone) for now, _ in sent} == goes_out_at
    assert len({now for now, _ in sent}) == len(sent) >= 6  # never two at once


def run_with_downtime(
    schedule: Schedule, start: datetime, end: datetime, rng: random.Random
) -> tuple[list[datetime], list[tuple[datetime, Slot]], list[Slot]]:
    """Tick like the job (only readers with next_due_at <= now), with random outages."""
    state = decide(schedule, None, start).next_due_at
    times, now = [start], start
    sent: list[tuple[datetime, Slot]] = []
    skipped: list[Slot] = []
    while now < end:
        now += MINUTE if rng.random() > 0.005 else MINUTE * rng.randint(2, 6 * 60)
        times.append(now)
        if state is not None and state <= now:
            decision = decide(schedule, state, now)
            sent += [(now, decision.send)] if decision.send else []
            skipped += decision.skipped
            state = decision.next_due_at
    return times, sent, skipped


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("zone", "first_day", "clocks", "quiet", "_"), LOOPS[::2])
def test_downtime_never_repeats_nor_sends_stale(
    zone: str,
    first_day: str,
    clocks: tuple[str, ...],
    quiet: tuple[str, str] | None,
    _: object,
    seed: int,
) -> None:
    schedule = make(zone, clocks, quiet)
    start = local_midnight(zone, first_day)
    end = start + timedelta(days=4)
    times, sent, skipped = run_with_downtime(schedule, start, end, random.Random(seed))
    keys = [slot.key for _, slot in sent]
    assert len(keys) == len(set(keys)) and keys == sorted(keys)
    assert all(timedelta(0) <= now - slot.send_at <= DEFAULT_GRACE for now, slot in sent)
    handled = keys + [slot.key for slot in skipped]
    assert len(handled) == len(set(handled))  # each slot handled at most once
    # Reference model over the tick times: between two ticks, the latest slot sends if fresh.
    all_slots = slots_between(schedule, start - timedelta(days=2), times[-1])
    expected, due_keys = [], []
    for before, now in zip(times, times[1:], strict=False):
        lo = bisect.bisect_right(all_slots, before, key=lambda s: s.send_at)
        hi = bisect.bisect_right(all_slots, now, key=lambda s: s.send_at)
        group = all_slots[lo:hi]  # send_at in (before, now]
        if group and now - group[-1].send_at <= DEFAULT_GRACE:
            expected.append(group[-1].key)
        due_keys += [s.key for s in group]
    assert sorted(handled) == sorted(due_keys)  # everything due was handled, exactly once
    assert keys == expected


@pytest.mark.parametrize("choice", ["day", "week", "forever"])
def test_pause_in_the_loop_skips_the_paused_period_only(choice: str) -> None:
    schedule = make(NY, ("01:30", "07:00", "21:15"), ("22:00", "06:00"))
    start = utc("2026-10-28T00:00")
    paused_at, resumed_at = start + timedelta(days=1, hours=8), start + timedelta(days=9)
    state = decide(schedule, None, start).next_due_at
    paused: datetime | None = None
    sent: list[tuple[datetime, Slot]] = []
    for now in ticks(start + MINUTE, start + timedelta(days=12)):
        if now == paused_at:  # /pause only writes paused_until
            paused = pause_until(now, choice)
        if now == resumed_at and paused == PAUSED_INDEFINITELY:  # /resume starts over
            paused, state = None, decide(schedule, None, now).next_due_at
        if state is not None and state <= now:
            decision = decide(schedule, state, now, paused_until=paused)
            assert decision.send is None or not is_paused(paused, now)
            sent += [(now, decision.send)] if decision.send else []
            state = decision.next_due_at
    resume = min(pause_until(paused_at, choice), resumed_at)
    assert all(not paused_at <= slot.scheduled_at < resume for _, slot in sent)
    expected = [
        s
        for s in expected_sends(schedule, start, start + timedelta(days=12))
        if not paused_at <= s.scheduled_at < resume and not paused_at <= s.send_at < resume
    ]
    assert [slot for _, slot in sent] == expected  # fmt: skip
    assert all(now == slot.send_at for now, slot in sent)
