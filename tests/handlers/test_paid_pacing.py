"""Digests and a paid broadcast at once, each paced by its own budget, inside Telegram's limits.

The fake enforces what Telegram does: 30 messages/s for the bot, paid broadcast messages
(``allow_paid_broadcast``) counted apart up to 1,000/s, one message a second per chat, and a
429 closes the window for everything. No assertion on speed: the fake's own verdict (no 429
provoked) and the order in which the two kinds finished say whether each budget was used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from telegram import Bot

from newsbot_testing.fakes.botapi import Call, FakeBotAPI
from push.outbox_sender import OutboxSender
from push.push_request import PushRequest
from storage.deliveries import DeliveryStore, OutboxItem
from storage.users import UserStore

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
DIGESTS = range(1, 61)  # 60 digests: 2 s at the free 30/s
BROADCAST = range(1, 181)  # 180 paid messages, to the same readers and more


@pytest.fixture
async def tg(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, request=PushRequest()) as bot:
        yield bot


def outbox(engine: Engine, fake: FakeBotAPI) -> DeliveryStore:
    """Digests written first (older), then a paid broadcast to overlapping readers."""
    deliveries, users = DeliveryStore(engine), UserStore(engine)
    for user_id in BROADCAST:
        users.ensure(user_id, user_id, f"r{user_id}", "en")
    fake.add_users(BROADCAST)
    text = {"method": "sendMessage", "parse_mode": "HTML"}
    digests = [
        OutboxItem(u, u, "digest", "07:00/national", text | {"text": f"<b>Digest</b> {u}"})
        for u in DIGESTS
    ]
    deliveries.enqueue(digests, datetime.now(UTC))
    paid = text | {"text": "Paid news", "allow_paid_broadcast": True}
    deliveries.enqueue(
        [OutboxItem(u, u, "broadcast", "b1", paid) for u in BROADCAST], datetime.now(UTC)
    )
    return deliveries


def sends(fake: FakeBotAPI, paid: bool) -> list[Call]:
    return [
        c
        for c in fake.calls_to("sendMessage")
        if c.status == 200 and bool(c.params.get("allow_paid_broadcast")) == paid
    ]


async def test_digests_and_a_paid_broadcast_each_keep_their_budget(
    fake: FakeBotAPI, tg: Bot, engine: Engine
) -> None:
    fake.set_rate_limit(1, 30)  # paid messages: 1,000/s of their own
    deliveries = outbox(engine, fake)
    sender = OutboxSender(
        tg, deliveries, UserStore(engine), worker_id="w", max_rate=30, paid_rate=300
    )

    report = await sender.drain()
    while deliveries.pending_count():  # rows waiting for their chat's next second
        report = await sender.drain()

    assert fake.errors == [] and fake.inside_retry_after == [], fake.describe()
    assert report.rate_limited == 0
    assert deliveries.counts()["sent"] == len(DIGESTS) + len(BROADCAST)
    free, paid = sends(fake, False), sends(fake, True)
    assert (len(free), len(paid)) == (len(DIGESTS), len(BROADCAST))
    # The broadcast, written after the digests, did not wait behind them at the free rate
    # (180 at 30/s would take 6 s, after the digests' 2): its budget is its own.
    assert max(c.at for c in paid) < max(c.at for c in free) + 2.0
    assert min(c.at for c in paid) < min(c.at for c in free) + 1.0
    # and the bot went past the free 30 in some second, as only paid messages may
    times = sorted(c.at for c in free + paid)
    assert any(b - a < 1.0 for a, b in zip(times, times[45:], strict=False))


async def test_a_429_pauses_both_budgets(fake: FakeBotAPI, tg: Bot, engine: Engine) -> None:
    fake.set_rate_limit(1, 30)
    deliveries = outbox(engine, fake)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    sender = OutboxSender(
        tg, deliveries, UserStore(engine), worker_id="w", max_rate=30, paid_rate=300,
        concurrency=4,
    )  # fmt: skip

    while deliveries.pending_count():
        await sender.drain()

    flood = [c for c in fake.calls_to("sendMessage") if c.status == 429]
    assert len(flood) == 1, fake.describe()
    assert deliveries.counts()["sent"] == len(DIGESTS) + len(BROADCAST)
    # Nothing of either kind was sent inside the second it asked for, but the (at most 4)
    # requests already on their way when the sender heard the 429: the paid budget alone
    # would have sent some 300 in that second. The second is the sender's own (its gate),
    # not the fake's: between the fake answering 429 and the sender reading it, answers to
    # the other requests in flight may let the sender start a few more, which is no fault.
    opened = sender._gate.closed_until
    inside = [
        c for c in fake.calls_to("sendMessage") if c.status == 200 and opened - 1.0 < c.at < opened
    ]
    assert len(inside) <= 4, inside
