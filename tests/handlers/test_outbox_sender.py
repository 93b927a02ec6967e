"""The outbox sender against the fake Bot API over real HTTP: pacing, flood control, failures.

Times come from the fake's record of when it answered each call (``Call.at``, monotonic), so
the pacing assertions hold however fast or slow the machine is.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from telegram import Bot

from newsbot_testing.fakes.botapi import Call, FakeBotAPI
from push.outbox_sender import OutboxSender, SendReport
from storage.deliveries import DeliveryStore, OutboxItem
from storage.users import UserStore

# Every RetryAfter PTB 22 builds warns about its int-valued retry_after (PTB_TIMEDELTA opts out).
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def tg(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        yield bot


@pytest.fixture
def stores(engine: Engine) -> Iterator[tuple[DeliveryStore, UserStore]]:
    yield DeliveryStore(engine), UserStore(engine)


def readers(fake: FakeBotAPI, users: UserStore, ids: range | list[int]) -> None:
    """Readers known to the bot's database and to Telegram (they wrote /start once)."""
    for user_id in ids:
        users.ensure(user_id, user_id, f"r{user_id}", "en")
        fake.user_sends_command(user_id, "/start")


def digest(user: int, slot: str = "07:00/national", **payload: Any) -> OutboxItem:
    body = {
        "method": "sendMessage",
        "text": f"<b>Digest</b> for {user} {slot}",
        "parse_mode": "HTML",
    }
    return OutboxItem(user, user, "digest", slot, body | payload)


def sender(bot: Bot, stores: tuple[DeliveryStore, UserStore], **kwargs: Any) -> OutboxSender:
    return OutboxSender(bot, *stores, worker_id="test", **kwargs)


async def drain_until_done(
    s: OutboxSender, deliveries: DeliveryStore, rounds: int = 30
) -> SendReport:
    """Drain again while retries are pending (their back-off is tiny in these tests)."""
    total = SendReport()
    for _ in range(rounds):
        report = await s.drain()
        for field in ("sent", "retried", "failed", "blocked", "cancelled", "rate_limited"):
            setattr(total, field, getattr(total, field) + getattr(report, field))
        if deliveries.pending_count() == 0:
            return total
        await asyncio.sleep(0.02)  # the retry's back-off
    raise AssertionError(f"still pending after {rounds} drains: {deliveries.counts()}")


def ok_sends(fake: FakeBotAPI, chat: int | None = None) -> list[Call]:
    return [
        c
        for c in fake.calls_to("sendMessage")
        if c.status == 200 and (chat is None or c.params["chat_id"] == chat)
    ]


async def test_every_row_is_sent_once_and_its_message_id_kept(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, range(1, 21))
    keyboard = {"inline_keyboard": [[{"text": "Full story", "callback_data": "s:f:1"}]]}
    items = [digest(u) for u in range(1, 21)]
    items[0] = digest(1, reply_markup=keyboard, link_preview_options={"is_disabled": True})
    assert deliveries.enqueue(items, now()) == 20

    report = await sender(tg, stores, max_rate=500).drain()

    assert (report.sent, report.failed, report.retried, report.rate_limited) == (20, 0, 0, 0)
    assert len(fake.calls_to("sendMessage")) == 20 and not fake.errors
    for user in range(1, 21):
        (row,) = deliveries.for_user(user)
        message = fake.last_message(user)
        assert message is not None and message.text == f"Digest for {user} 07:00/national"
        assert row.status == "sent" and row.message_id == message.message_id
    first = ok_sends(fake, 1)[0].params  # requests race on the wire: find chat 1's
    assert fake.last_message(1).buttons == keyboard["inline_keyboard"]  # type: ignore[union-attr]
    assert first["link_preview_options"] == {"is_disabled": True}
    # a restart: the same slot is not enqueued again and a new drain sends nothing
    assert deliveries.enqueue(items, now()) == 0
    assert (await sender(tg, stores).drain()).sent == 0
    assert len(fake.calls_to("sendMessage")) == 20


async def test_several_digests_for_one_reader_are_paced_not_bursted(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, range(1, 5))
    mine = [digest(1, slot) for slot in ("07:00/national", "07:00/sports", "07:00/business")]
    deliveries.enqueue(mine + [digest(u) for u in (2, 3, 4)], now())

    report = await sender(tg, stores).drain()

    assert report.sent == 6
    to_one = ok_sends(fake, 1)
    assert [c.params["text"].rsplit(" ", 1)[1] for c in to_one] == [
        "07:00/national", "07:00/sports", "07:00/business"
    ]  # fmt: skip
    gaps = [b.at - a.at for a, b in zip(to_one, to_one[1:], strict=False)]
    assert min(gaps) >= 1.0, gaps
    others = [c.at for c in ok_sends(fake) if c.params["chat_id"] != 1]
    assert max(others) < to_one[1].at, "other readers must not wait behind reader 1"


async def test_flood_control_waits_retry_after_and_sends_nothing_meanwhile(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, range(1, 7))
    deliveries.enqueue([digest(u) for u in range(1, 7)], now())
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", count=3, retry_after=1)

    report = await sender(tg, stores).drain()

    assert report.rate_limited == 3 and report.sent == 6 and report.retried == 0
    assert sorted(c.params["chat_id"] for c in ok_sends(fake)) == list(range(1, 7))
    assert {r.attempts for u in range(1, 7) for r in deliveries.for_user(u)} == {1}
    calls = fake.calls_to("sendMessage")
    timeline = [(c.status, c.params["chat_id"], round(c.at - calls[0].at, 3)) for c in calls]
    oks = {c.params["chat_id"]: c.at for c in calls if c.status == 200}
    for flood in (c for c in calls if c.status == 429):
        # the same row again, once retry_after has passed
        assert oks[flood.params["chat_id"]] - flood.at >= 1.0, timeline
        # and nothing else meanwhile (50 ms for requests already on the wire at the 429)
        assert not [t for t in oks.values() if flood.at + 0.05 < t < flood.at + 1.0], timeline


async def test_random_server_errors_lose_nothing(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, range(1, 41))
    deliveries.enqueue([digest(u) for u in range(1, 41)], now())
    schedule = sorted(random.Random(7).sample(range(1, 40), 4))  # ~5% of the calls (≥ 2)
    errors = [(500, "Internal Server Error"), (502, "Bad Gateway"), (504, "Gateway Timeout")]

    def sends_reached(count: int) -> Callable[[], bool]:
        return lambda: len(fake.calls_to("sendMessage")) >= count

    def inject() -> None:  # each failure answers the call after the scheduled number of sends
        for n, index in enumerate(schedule):
            fake.wait_for(sends_reached(index), timeout=10)
            fake.fail_next("sendMessage", *errors[n % 3])

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    total = await drain_until_done(
        sender(tg, stores, retry_base=0.01, per_chat_interval=0.05), deliveries
    )
    injector.join(5)

    failed_calls = [c for c in fake.calls_to("sendMessage") if c.status >= 500]
    assert len(failed_calls) == len(schedule) and total.retried == len(schedule)
    assert total.sent == 40 and total.failed == 0
    assert sorted(c.params["chat_id"] for c in ok_sends(fake)) == list(range(1, 41))
    assert deliveries.counts()["sent"] == 40


async def test_a_row_that_keeps_failing_is_given_up_with_the_reason(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, [1])
    deliveries.enqueue([digest(1)], now())
    fake.fail_next("sendMessage", 502, "Bad Gateway", count=3)

    total = await drain_until_done(
        sender(tg, stores, retry_base=0.01, max_attempts=3, per_chat_interval=0.05), deliveries
    )

    (row,) = deliveries.for_user(1)
    assert (total.retried, total.failed, row.status, row.attempts) == (2, 1, "failed", 3)
    assert "gave up after 3 attempts" in (row.last_error or "")
    assert "Bad Gateway" in (row.last_error or "")
    assert len(fake.calls_to("sendMessage")) == 3


async def test_a_reader_who_blocked_the_bot_is_deactivated_after_one_403(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, range(1, 5))
    slots = ("07:00/national", "07:00/sports", "07:00/business")
    deliveries.enqueue([digest(2, s) for s in slots] + [digest(u) for u in (1, 3, 4)], now())
    fake.block_bot(2)

    report = await sender(tg, stores).drain()

    assert [c.status for c in fake.calls_to("sendMessage") if c.params["chat_id"] == 2] == [403]
    assert (report.blocked, report.cancelled, report.sent) == (1, 2, 3)
    assert users.get(2).active is False  # type: ignore[union-attr]
    assert sorted(r.status for r in deliveries.for_user(2)) == ["blocked", "cancelled", "cancelled"]
    assert all(users.get(u).active for u in (1, 3, 4))  # type: ignore[union-attr]
    assert deliveries.counts()["sent"] == 3
    # /start again makes them a reader again (UserStore.ensure)
    assert users.ensure(2, 2, "r2", "en").active


async def test_chat_not_found_counts_as_gone(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, [1])
    users.ensure(9, 9, "never wrote to Telegram", "en")  # unknown to the fake: chat not found
    deliveries.enqueue([digest(9), digest(9, "07:00/sports"), digest(1)], now())

    report = await sender(tg, stores).drain()

    assert (report.blocked, report.sent) == (1, 1)
    assert users.get(9).active is False  # type: ignore[union-attr]
    rows = deliveries.for_user(9)
    assert sorted(r.status for r in rows) == ["blocked", "cancelled"]
    assert any("chat not found" in (r.last_error or "").lower() for r in rows)


async def test_bad_payloads_fail_with_a_reason_and_the_rest_go_out(
    fake: FakeBotAPI, tg: Bot, stores: tuple[DeliveryStore, UserStore]
) -> None:
    deliveries, users = stores
    readers(fake, users, range(1, 6))
    deliveries.enqueue(
        [
            digest(1, text="<b>unclosed"),
            digest(2, method="sendSticker"),
            OutboxItem(3, 3, "digest", "s", {"method": "sendPhoto", "photo": "/etc/passwd"}),
            OutboxItem(4, 4, "digest", "s", {"method": "sendPhoto", "photo": "https://x.example/a.jpg",
                                             "caption": "<i>pic</i>", "parse_mode": "HTML"}),
            digest(5),
        ],
        now(),
    )  # fmt: skip

    report = await sender(tg, stores).drain()

    assert (report.failed, report.sent) == (3, 2)
    reasons = {u: deliveries.for_user(u)[0].last_error or "" for u in (1, 2, 3)}
    assert "can't parse entities" in reasons[1].lower()
    assert "sendSticker" in reasons[2]
    assert "wrong file identifier" in reasons[3].lower()  # sent as a string, never read
    assert all(fake.token not in r for r in reasons.values())
    photo = fake.last_message(4)
    assert photo is not None and photo.kind == "photo" and photo.text == "pic"
    assert deliveries.for_user(4)[0].message_id == photo.message_id
    assert all(users.get(u).active for u in range(1, 6))  # type: ignore[union-attr]
