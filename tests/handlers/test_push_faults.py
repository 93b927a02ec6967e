"""The push path under faults, in process against the fake Bot API: a lease outlived by a long
fan-out, a lease taken away mid-send, a database that refuses writes, answers that come late.

Each test runs two pushers (two "processes") on one database where the fault is about handing
work over, and asserts that no reader gets a digest twice and that every row ends sent.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from telegram import Bot

import push.pusher as pusher_module
from digest.catalog import Catalog
from newsbot_testing.fakes.botapi import FakeBotAPI
from push.outbox_sender import MAYBE_SENT, OutboxSender
from push.push_request import MaybeSent, NotSent, PushRequest
from push.pusher import LEASE, Pusher
from push.tick import DigestScheduler
from storage.articles import ArticleStore
from storage.deliveries import DeliveryStore
from storage.leases import LeaseStore
from storage.users import UserStore
from tests.handlers.test_outbox_sender import digest, ok_sends, readers

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


def utcnow() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def tg(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        yield bot


def make_pusher(
    tg: Bot, engine: Engine, catalog: Catalog, worker: str, **sender_kwargs: Any
) -> Pusher:
    """A pusher as ``build_bot`` makes one, with its own worker id (one per "process")."""
    deliveries, users = DeliveryStore(engine), UserStore(engine)
    sender = OutboxSender(tg, deliveries, users, worker_id=worker, **sender_kwargs)
    scheduler = DigestScheduler(users, ArticleStore(engine), deliveries, catalog)
    return Pusher(scheduler, sender, LeaseStore(engine), deliveries, worker, utcnow)


def per_chat(fake: FakeBotAPI) -> Counter[int]:
    return Counter(int(c.params["chat_id"]) for c in ok_sends(fake))


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> timedelta:
    ttl = timedelta(seconds=1.5)
    monkeypatch.setattr(pusher_module, "LEASE_TTL", ttl)
    return ttl


async def test_a_fan_out_longer_than_the_lease_is_not_taken_over(
    fake: FakeBotAPI, tg: Bot, engine: Engine, catalog: Catalog, short_lease: timedelta
) -> None:
    deliveries = DeliveryStore(engine)
    readers(fake, UserStore(engine), range(1, 41))
    deliveries.enqueue([digest(u) for u in range(1, 41)], utcnow())
    fake.delay_answers(0.25)  # 40 sends, 4 at a time: about 2.5 s, longer than the 1.5 s lease
    first = make_pusher(tg, engine, catalog, "first")
    second = make_pusher(tg, engine, catalog, "second")

    fan_out = asyncio.create_task(first.drain())
    started = time.monotonic()
    await fake.wait_for_async(lambda: len(fake.calls_to("sendMessage")) >= 1, timeout=10)
    while not fan_out.done():  # the second process keeps trying, as its send tick does
        assert await second.drain() is None, "the second process must stay idle"
        await asyncio.sleep(0.1)
    report = fan_out.result()

    assert report is not None and report.sent == 40
    assert time.monotonic() - started > short_lease.total_seconds()
    assert max(per_chat(fake).values()) == 1 and len(per_chat(fake)) == 40
    assert deliveries.counts()["sent"] == 40


async def test_a_lost_lease_stops_sending_and_the_new_holder_sends_the_rest_once(
    fake: FakeBotAPI, tg: Bot, engine: Engine, catalog: Catalog, short_lease: timedelta
) -> None:
    deliveries, leases = DeliveryStore(engine), LeaseStore(engine)
    readers(fake, UserStore(engine), range(1, 61))
    deliveries.enqueue([digest(u) for u in range(1, 61)], utcnow())
    fake.delay_answers(0.25)
    first = make_pusher(tg, engine, catalog, "first")
    fan_out = asyncio.create_task(first.drain())
    await fake.wait_for_async(lambda: len(ok_sends(fake)) >= 8, timeout=10)

    # another process takes the lease (first looked dead to it, say)
    assert await asyncio.to_thread(leases.take_over, LEASE, "first", "intruder", utcnow(),
                                   short_lease)  # fmt: skip
    stolen_at = len(fake.calls_to("sendMessage"))
    report = await asyncio.wait_for(fan_out, timeout=10)

    sent_after = len(fake.calls_to("sendMessage")) - stolen_at
    # the renewal notices within a third of the TTL; then only the sends in flight finish
    assert report is not None and report.sent < 60
    assert sent_after <= 0.5 / 0.25 * 4 + 8, f"{sent_after} sends after the lease was lost"
    assert deliveries.counts()["sending"] == 0, "every row not started went back"
    leases.release(LEASE, "intruder")
    second = make_pusher(tg, engine, catalog, "second")
    fake.delay_answers(0)
    while deliveries.pending_count():
        await second.drain()
    assert max(per_chat(fake).values()) == 1 and len(per_chat(fake)) == 60
    assert deliveries.counts()["sent"] == 60


class DiskFull:
    """Makes every write on an engine fail as a full disk does, while ``on`` is set."""

    def __init__(self, engine: Engine) -> None:
        self.on = threading.Event()
        self.refused = 0
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._check)

    def _check(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on.is_set() and statement.lstrip().upper().startswith(
            ("UPDATE", "INSERT", "DELETE")
        ):
            self.refused += 1
            raise OperationalError(statement, {}, Exception("database or disk is full"))

    def remove(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._check)


@pytest.fixture
def disk(engine: Engine) -> Iterator[DiskFull]:
    full = DiskFull(engine)
    yield full
    full.remove()


async def test_sent_rows_are_held_while_the_disk_is_full_and_nothing_is_sent_twice(
    fake: FakeBotAPI, tg: Bot, engine: Engine, catalog: Catalog, disk: DiskFull
) -> None:
    deliveries = DeliveryStore(engine)
    readers(fake, UserStore(engine), range(1, 101))
    deliveries.enqueue([digest(u) for u in range(1, 101)], utcnow())
    sends_while_full: list[int] = []

    def outage() -> None:  # the disk fills up mid-fan-out, for a second
        fake.wait_for(lambda: len(ok_sends(fake)) >= 20, timeout=20)
        disk.on.set()
        before = len(fake.calls_to("sendMessage"))
        time.sleep(1.0)  # the fault's duration, not a wait for work
        sends_while_full.append(len(fake.calls_to("sendMessage")) - before)
        disk.on.clear()

    # 4 requests in flight (the default for 200/s would be 20): the bound below is 2 x that
    fast = {"max_rate": 200, "per_chat_interval": 0.05, "concurrency": 4}
    first = make_pusher(tg, engine, catalog, "first", **fast)
    injector = threading.Thread(target=outage, daemon=True)
    injector.start()
    await first.drain()
    injector.join(10)
    assert disk.refused > 0, "the outage came during the fan-out"
    # a restart (or the other process) takes over and sends what is left
    await first.release()
    second = make_pusher(tg, engine, catalog, "second", **fast)
    while deliveries.pending_count():
        await second.drain()

    sends = per_chat(fake)
    duplicates = sum(sends.values()) - len(sends)
    assert duplicates == 0, f"{duplicates} readers got their digest twice"
    assert len(sends) == 100 and deliveries.counts()["sent"] == 100
    # sending stopped while the sent rows could not be written: only those already in flight
    (in_outage,) = sends_while_full
    assert in_outage <= 8, f"{in_outage} sends while the disk was full"


async def late_answers_drain(
    fake: FakeBotAPI, engine: Engine, users: range, fast_again: bool
) -> tuple[list[Any], DeliveryStore]:
    """Drain with every answer later than the read timeout, then again once the rows are due
    (with Telegram fast again, or still slow); returns both reports."""
    deliveries = DeliveryStore(engine)
    readers(fake, UserStore(engine), users)
    deliveries.enqueue([digest(u) for u in users], utcnow())
    fake.delay_answers(0.6)  # later than the 0.3 s read timeout: every answer is lost
    async with Bot(
        fake.token, base_url=fake.base_url, request=PushRequest(read_timeout=0.3)
    ) as bot:
        sender = OutboxSender(bot, deliveries, UserStore(engine), worker_id="w")
        first = await sender.drain()
        rows = [r for u in users for r in deliveries.for_user(u)]
        assert {(r.status, r.last_error) for r in rows} == {("pending", MAYBE_SENT)}
        # not again before the first answer can no longer be on its way (2 x read timeout)
        assert all(r.next_attempt_at - utcnow() > timedelta(seconds=0.3) for r in rows)
        assert (await sender.drain()).uncertain == 0
        await fake.wait_for_async(
            lambda: all(r.next_attempt_at <= utcnow() for r in rows), timeout=5
        )
        if fast_again:
            fake.delay_answers(0)
        second = await sender.drain()
    return [first, second], deliveries


async def test_a_late_answer_is_sent_once_more(fake: FakeBotAPI, engine: Engine) -> None:
    (first, second), deliveries = await late_answers_drain(fake, engine, range(1, 4), True)

    assert (first.uncertain, first.sent, first.retried, first.failed) == (3, 0, 0, 0)
    assert (second.uncertain, second.sent) == (0, 3)
    assert deliveries.counts()["sent"] == 3
    # twice at most: the late first attempt did reach them (the fake delivered it)
    assert per_chat(fake) == {1: 2, 2: 2, 3: 2}


async def test_a_send_that_times_out_twice_is_given_up_as_maybe_delivered(
    fake: FakeBotAPI, engine: Engine
) -> None:
    (first, second), deliveries = await late_answers_drain(fake, engine, range(1, 2), False)

    assert (first.uncertain, second.uncertain, second.sent, second.retried) == (1, 1, 0, 0)
    (row,) = deliveries.for_user(1)
    assert (row.status, row.last_error) == ("failed", f"{MAYBE_SENT} (twice)")
    assert len(fake.calls_to("sendMessage")) == 2, "not five times"


async def test_push_timeouts_say_whether_the_request_was_written(fake: FakeBotAPI) -> None:
    fake.add_users([1])
    fake.delay_answers(0.6)
    request = PushRequest(read_timeout=0.3, connection_pool_size=1, pool_timeout=0.1)
    async with Bot(fake.token, base_url=fake.base_url, request=request) as bot:
        params = {"chat_id": 1, "text": "hi"}
        calls = [bot.do_api_request("sendmessage", api_kwargs=params) for _ in range(2)]
        first, second = await asyncio.gather(*calls, return_exceptions=True)
    # one request got the only connection and timed out reading; the other never got one
    assert {type(first), type(second)} == {MaybeSent, NotSent}
    assert len(fake.calls_to("sendMessage")) == 1


async def test_a_process_taking_over_honours_the_flood_wait_its_predecessor_was_told(
    fake: FakeBotAPI, tg: Bot, engine: Engine, catalog: Catalog
) -> None:
    """Telegram's flood wait is per bot, not per process: it is kept in the database."""
    deliveries, leases = DeliveryStore(engine), LeaseStore(engine)
    readers(fake, UserStore(engine), range(1, 4))
    deliveries.enqueue([digest(1)], utcnow())
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    first = make_pusher(tg, engine, catalog, "first", max_flood_waits=0)
    told_at = time.monotonic()
    report = await first.drain()
    assert report is not None and report.rate_limited == 1 and report.sent == 0
    await first.release()  # the first process stops; its flood wait must outlive it

    deliveries.enqueue([digest(2), digest(3)], utcnow())
    second = make_pusher(tg, engine, catalog, "second")
    while deliveries.pending_count():
        await second.drain()
    sends = ok_sends(fake)
    assert {int(c.params["chat_id"]) for c in sends} == {1, 2, 3}
    assert min(c.at for c in sends) >= told_at + 3, "a send came inside the flood wait"
    assert fake.inside_retry_after == []
    assert leases.until("flood-gate", utcnow()) is None, "the wait is over"


async def test_rows_a_dead_holder_claimed_after_its_last_renewal_are_sent_by_its_successor(
    fake: FakeBotAPI, tg: Bot, engine: Engine, catalog: Catalog, short_lease: timedelta
) -> None:
    """The holder renews (claims confirmed), claims a few more rows, then its process dies.
    Its lease expires before the standby looks, so the standby takes it plainly; the holder's
    pid is gone on this host, so all of its rows come back at once, not only the claims older
    than the lease (the newer ones would wait for the two-minute stale claim)."""
    deliveries, leases = DeliveryStore(engine), LeaseStore(engine)
    readers(fake, UserStore(engine), range(1, 6))
    deliveries.enqueue([digest(u) for u in range(1, 6)], utcnow())
    exited = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    assert await exited.wait() == 0  # its pid is now free: a holder whose process is gone
    gone = f"{socket.gethostname()[:32]}:{exited.pid}:deadbeef"
    assert leases.acquire(LEASE, gone, utcnow() - short_lease * 2, short_lease)  # expired
    # the renewal came first; half a second later it claimed the rows, then died
    claimed_at = utcnow() + timedelta(seconds=0.5)
    assert len(deliveries.claim(gone, claimed_at, 5)) == 5
    successor = make_pusher(tg, engine, catalog, "successor")

    report = await successor.drain()

    assert successor.holding and report is not None and report.sent == 5
    assert deliveries.counts().get("sent", 0) == 5, deliveries.counts()
    assert max(per_chat(fake).values()) == 1 and len(per_chat(fake)) == 5


async def test_a_live_holders_claims_are_left_alone_by_a_standby_that_finds_its_lease_expired(
    fake: FakeBotAPI, tg: Bot, engine: Engine, catalog: Catalog, short_lease: timedelta
) -> None:
    """A holder whose renewal is late (a starved process) is alive: the standby that takes the
    expired lease must not resend the rows it claimed after its last renewal."""
    deliveries, leases = DeliveryStore(engine), LeaseStore(engine)
    readers(fake, UserStore(engine), range(1, 4))
    deliveries.enqueue([digest(u) for u in range(1, 4)], utcnow())
    alive = f"{socket.gethostname()[:32]}:{os.getpid()}:late0001"  # this very process
    assert leases.acquire(LEASE, alive, utcnow() - short_lease * 2, short_lease)  # expired
    assert len(deliveries.claim(alive, utcnow(), 3)) == 3
    standby = make_pusher(tg, engine, catalog, "standby")

    await standby.drain()

    assert standby.holding
    assert fake.calls_to("sendMessage") == [], "rows a live holder may be sending were resent"
    assert deliveries.counts().get("sending", 0) == 3
