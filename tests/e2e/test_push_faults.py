"""A bad day for the push path, through real `newsbot run` processes and the fake Bot API.

Two processes on one database, 500 readers due, Telegram at its real limits (1 message/s per
chat, 30/s per bot) answering 5% of sends with 502, every answer 6 s late for a while, and the
pushing process killed with SIGKILL mid-run. Every digest must arrive; the only readers who may
get one twice are those whose message was delivered but not yet recorded at the kill (in
flight); and no send may come inside a 429's retry_after window. The counts are printed.

The lease TTL is cut to a few seconds (``NEWSBOT_TEST_LEASE_SECONDS``, test-only) so that this
fan-out lasts several lease lifetimes: the pusher must keep renewing it, or the idle process
takes over and sends rows twice. It runs once, on PostgreSQL when TEST_DATABASE_URL is set
(``scale_out_db_url``): the items it combines are each tested on both backends elsewhere.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.launcher import newsbot
from newsbot_testing.seeding import seed_due_readers
from storage.db import make_engine
from storage.leases import LeaseStore
from storage.tables import Delivery
from tests.e2e.outcomes import digest_sends, statuses

READERS = 500
# Test-only knobs: 5xx retries after 0.5, 1, 2... s (not 2, 4, 8...) and the outbox polled every
# second (not 5), so the recovery after the kill is not mostly waiting; the limits are Telegram's.
FAULTS = {
    "NEWSBOT_TEST_LEASE_SECONDS": "6", "NEWSBOT_TEST_RETRY_BASE": "0.5",
    "NEWSBOT_TEST_SEND_POLL_SECONDS": "1", "SEND_MAX_RATE": "30",
}  # fmt: skip


def holder_pid(db_url: str) -> int | None:
    """The pid of the process holding the pusher lease, if any (ids are host:pid:random)."""
    engine = make_engine(db_url)
    holder = LeaseStore(engine).holder("pusher", datetime.now(UTC))
    engine.dispose()
    return None if holder is None else int(holder.split(":")[1])


def pusher_pid(db_url: str) -> int:
    """The pid of the process holding the pusher lease; someone must be pushing."""
    pid = holder_pid(db_url)
    assert pid is not None, "nobody is pushing"
    return pid


def recorded_chats(db_url: str) -> set[int]:
    """Chats whose digest row is marked sent."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        chats = conn.execute(select(Delivery.chat_id).where(Delivery.status == "sent")).scalars()
        out = set(chats)
    engine.dispose()
    return out


def test_two_processes_a_bad_telegram_and_a_kill_deliver_every_digest(
    scale_out_db_url: str, tmp_path: Path
) -> None:
    db_url = scale_out_db_url
    readers = seed_due_readers(db_url, READERS)
    with FakeBotAPI() as fake:
        fake.add_users(readers)
        fake.set_rate_limit(1, 30)
        fake.fail_randomly(0.05)

        def sent() -> int:
            return sum(digest_sends(fake).values())

        with (
            newsbot(fake, db_url, tmp_path / "a.log", **FAULTS) as a,
            newsbot(fake, db_url, tmp_path / "b.log", **FAULTS) as b,
        ):
            fake.wait_for(lambda: sent() >= 60, timeout=60)
            fake.delay_answers(6.0)  # Telegram is slow for a while: answers come 6 s late
            slow_from = len(fake.calls)
            fake.wait_for(lambda: len(fake.calls) >= slow_from + 8, timeout=30)
            fake.delay_answers(0)
            slow = {int(c.params["chat_id"]) for c in fake.calls[slow_from:] if c.status == 200
                    and c.method == "sendMessage"}  # fmt: skip
            # a late answer is not a failure: each of those is recorded, and sent only once
            fake.wait_for(lambda: slow <= recorded_chats(db_url), timeout=30)
            assert max(digest_sends(fake).values()) == 1, "a late answer made a duplicate"
            # a flood wait as Telegram imposes it now and then: nothing may come inside it
            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
            fake.wait_for(lambda: sent() >= 250, timeout=60)
            victim = a if pusher_pid(db_url) == a.pid else b
            assert victim.pid == pusher_pid(db_url) and victim.pid != os.getpid()
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed_at = time.monotonic()
            recorded_at_kill = recorded_chats(db_url)
            # A request the victim wrote just before it died can reach the fake a moment later;
            # until the survivor holds the lease, every digest the fake records is the victim's.
            survivor = b if victim is a else a
            sent_by_victim: set[int] = set()
            deadline = time.monotonic() + 30
            while True:
                sent_by_victim.update(digest_sends(fake))
                if holder_pid(db_url) == survivor.pid:
                    break
                assert time.monotonic() < deadline, "the survivor never took the lease"
                time.sleep(0.05)  # polling the database, as the survivor's send tick does
            # delivered but not recorded at the kill: the only ones that may arrive twice
            in_flight = sent_by_victim - recorded_at_kill
            fake.wait_for(lambda: len(digest_sends(fake)) == READERS, timeout=90)
            fake.wait_for(lambda: statuses(db_url).get("sent", 0) == READERS, timeout=30)
            recovery = time.monotonic() - killed_at

        sends = digest_sends(fake)
        twice = {chat for chat, n in sends.items() if n > 1}
        floods = [c for c in fake.calls if c.status == 429]
        server_errors = [c for c in fake.calls if c.status >= 500]
        print(
            f"\npush faults: delivered={len(sends)}/{READERS} duplicates={len(twice)} "
            f"(in flight at the kill: {len(in_flight)}) 429s={len(floods)} "
            f"5xx={len(server_errors)} early_retries={len(fake.inside_retry_after)} "
            f"recovered in {recovery:.1f}s"
        )
        assert set(sends) == set(readers)
        assert twice <= in_flight, f"sent twice though not in flight: {sorted(twice - in_flight)}"
        assert max(sends.values()) <= 2
        assert floods and fake.inside_retry_after == [], "sends inside a retry_after window"
        assert server_errors, "the 5% of 5xx happened"
        assert statuses(db_url) == {"sent": READERS}
