"""Scale-out on PostgreSQL (#12): real `newsbot worker` processes share one database.

Two fetch workers, two compose workers and a sender (plus a second sender waiting on the lease),
against the strict fake Bot API and the local feed server, with 2,000 readers all due. Every
digest must arrive exactly once (a reader has one slot here: one message per chat); no feed may
be fetched twice in the pass; and one process of each role is killed with SIGKILL mid-run: the
survivors finish the work, and the only repeats allowed are what the dead process had in flight
(feeds it had claimed, messages delivered but not yet recorded). The figures are printed.

The lease TTL (and so the feed claims' TTL) is cut to a few seconds
(``NEWSBOT_TEST_LEASE_SECONDS``) so a dead fetch worker's claims expire within the test.

Two webhook receivers (``newsbot run --webhook URL --receive-only``) on the same database take
readers' updates meanwhile: Telegram (the fake, several connections at once) POSTs to the public
URL, a round-robin load balancer in front of receivers A and B, and copies also go straight to B
(a balancer's second try, Telegram's redelivery). Each update must be answered once across both;
then A is killed with SIGKILL while it handles several updates (each handler's sendMessage is
answered slowly meanwhile): A never answered those POSTs, so the balancer answers 502, the fake
retries as Telegram does, the balancer sends the retries to B, and B takes them over (their
taker is a dead pid). No update may be lost; only those in flight at A may be answered twice.

Skipped without TEST_DATABASE_URL: SQLite runs in one process (`newsbot run`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.webhook import derive_secret
from newsbot_testing.balancer import Balancer
from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.feedserver import FeedServer, Reply, Request
from newsbot_testing.launcher import newsbot, newsbot_worker
from newsbot_testing.seeding import seed_due_readers
from storage.db import make_engine
from storage.feeds import FeedStore
from storage.leases import LeaseStore
from storage.processed_updates import ProcessedUpdateStore
from storage.tables import Delivery, ProcessedUpdate
from tests.conftest import PG_URL
from tests.e2e.outcomes import digest_sends, statuses
from tests.e2e.test_webhook import PATH, free_port, wait_listening
from tests.integration.news_fixtures import Item, rss

pytestmark = pytest.mark.skipif(not PG_URL, reason="workers need PostgreSQL (TEST_DATABASE_URL)")

READERS = 2000
SOURCES = 20  # cbc (the readers' source) and 19 others, three feeds each: 60 feeds
CATEGORIES = ("national", "business", "sports")
FEED_LATENCY = 0.4  # seconds the feed server takes per answer, so fetching lasts a few seconds
NEWCOMERS = 40  # strangers who send /start through the webhook
ASKING = 200  # readers who send /help through the webhook
HELLO = "Setup takes a minute"  # in the answer to a stranger's /start
HELP = "What I can do"  # in the answer to /help
ENV = {
    "NEWSBOT_TEST_LEASE_SECONDS": "4",
    "SEND_MAX_RATE": "150",
    "FEED_REFRESH_SECONDS": "600",  # one pass in this test: a second fetch is a duplicate
    "LOG_LEVEL": "INFO",
}


def _catalog(path: Path, server: FeedServer) -> tuple[Path, list[str]]:
    """A Canadian catalog whose feeds all live on ``server``; returns it and the feed paths."""
    parts = [
        '[[countries]]\ncode = "CA"\nname = "Canada"\nlanguages = ["en"]\n'
        'timezones = ["America/Toronto"]\n'
    ]
    paths = []
    now = datetime.now(UTC)
    for n in range(SOURCES):
        source = "cbc" if n == 0 else f"src{n:02d}"
        parts.append(
            f'[[sources]]\nid = "{source}"\nname = "Source {n}"\ncountries = ["CA"]\n'
            f'language = "en"\nhomepage = "https://{source}.example"\n'
        )
        for category in CATEGORIES:
            feed = f"/{source}/{category}.xml"
            body = rss([Item(f"{source}-{category}-{i}", f"{source} {category} story {i}",
                             "What happened.", timedelta(minutes=30 + i)) for i in range(3)],
                       now)  # fmt: skip

            def answer(_request: Request, body: bytes = body) -> Reply:
                time.sleep(FEED_LATENCY)  # the publisher's latency (in the server's thread)
                return Reply(200, {"Content-Type": "application/rss+xml"}, body)

            server.add_route(feed, answer)
            parts.append(
                f'[[sources.feeds]]\ncategory = "{category}"\nurl = "{server.url(feed)}"\n'
            )
            paths.append(feed)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path, paths


class Database:
    """What the test reads from the database while the workers run."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def lease_holder_pid(self) -> int | None:
        holder = LeaseStore(self.engine).holder("pusher", datetime.now(UTC))
        return None if holder is None else int(holder.split(":")[1])

    def claimed_by_pid(self, pid: int) -> set[int]:
        claims = FeedStore(self.engine).claims(datetime.now(UTC) - timedelta(days=1))
        return {feed for feed, worker in claims.items() if worker.split(":")[1] == str(pid)}

    def feed_paths(self, ids: set[int]) -> set[str]:
        return {"/" + f.url.split("/", 3)[3] for f in FeedStore(self.engine).all() if f.id in ids}

    def unfetched_feeds(self) -> int:
        return sum(f.last_success_at is None for f in FeedStore(self.engine).all())

    def live_claims(self) -> int:
        return len(FeedStore(self.engine).claims(datetime.now(UTC)))

    def digest_rows(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Delivery)).scalar_one())

    def rows_per_reader(self) -> Counter[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Delivery.user_id, Delivery.slot_key)).all()
        return Counter(user for user, _slot in rows)

    def unfinished_updates(self, pid: int) -> set[int]:
        """Updates the receiver ``pid`` has taken and not finished (handling them)."""
        taker = ProcessedUpdate.taken_by
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ProcessedUpdate.update_id).where(
                    ProcessedUpdate.done_at.is_(None),  # type: ignore[union-attr]
                    taker.like(f"%:{pid}:%"),  # type: ignore[union-attr]
                )
            )
            return set(rows.scalars())

    def recorded_chats(self) -> set[int]:
        with self.engine.connect() as conn:
            chats = conn.execute(select(Delivery.chat_id).where(Delivery.status == "sent"))
            return set(chats.scalars())


class Webhook:
    """The readers' and strangers' updates through the receivers, and the answers they got.

    Each chat sends one update, so the answers to a chat are the answers to its update."""

    def __init__(self, fake: FakeBotAPI, url_b: str) -> None:
        self.fake, self.url_b = fake, url_b
        self.updates: list[dict[str, Any]] = []
        self.copies = 0

    def send(self, newcomers: list[int], asking: list[int]) -> list[dict[str, Any]]:
        """Queue the strangers' /start and the readers' /help (the fake POSTs them to the
        balancer)."""
        sent = [self.fake.user_sends_command(u, "/start", first_name="Newcomer") for u in newcomers]
        sent += [self.fake.user_sends_command(r, "/help") for r in asking]
        self.updates += sent
        return sent

    def copy_to_b(self, updates: list[dict[str, Any]]) -> None:
        """What a load balancer's retry or Telegram's redelivery sends to the other receiver."""
        secret = derive_secret(self.fake.token)
        self.copies += len(updates)
        for update in updates:
            assert self.fake.post_to_webhook(update, url=self.url_b, secret=secret) == 200

    def answers(self) -> Counter[int]:
        """Answers per chat (a /start's welcome, a /help), successful sends only."""
        return Counter(
            int(c.params["chat_id"])
            for c in self.fake.calls_to("sendMessage")
            if c.status == 200 and any(t in str(c.params.get("text", "")) for t in (HELLO, HELP))
        )

    @staticmethod
    def chat(update: dict[str, Any]) -> int:
        return int(update["message"]["chat"]["id"])


def _kill(process: subprocess.Popen[bytes]) -> None:
    assert process.pid != os.getpid() and process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (database or server state) every 50 ms until it holds."""
    deadline = time.monotonic() + timeout
    done = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what} ({time.ctime()})"
        done.wait(0.05)


def test_workers_share_the_work_and_survive_a_kill_of_each_role(
    scale_out_db_url: str, tmp_path: Path
) -> None:
    db_url = scale_out_db_url
    readers = seed_due_readers(db_url, READERS)
    db = Database(db_url)
    started = time.monotonic()
    with FeedServer() as server, FakeBotAPI() as fake, ExitStack() as processes:
        fake.allow_local_http_webhooks = True  # the receivers listen on 127.0.0.1, plain HTTP
        catalog, feeds = _catalog(tmp_path / "catalog.toml", server)
        fake.add_users(readers)
        fake.set_rate_limit(1, 200)  # 1/s per chat as Telegram; a paid-broadcast-sized bot
        env = ENV | {"NEWSBOT_CATALOG": str(catalog)}

        logs: dict[int, Path] = {}

        def start(name: str, roles: str, *args: str) -> subprocess.Popen[bytes]:
            log = tmp_path / f"{name}.log"
            process = processes.enter_context(
                newsbot_worker(roles, db_url, log, fake=fake, args=args, **env)
            )
            logs[process.pid] = log
            return process

        # two receivers behind a balancer; Telegram knows the balancer's URL
        port_a, port_b = free_port(), free_port()
        balancer = processes.enter_context(Balancer([port_a, port_b]))
        public, url_b = balancer.url(PATH), f"http://127.0.0.1:{port_b}{PATH}"

        def start_receiver(name: str, port: int) -> subprocess.Popen[bytes]:
            args = ["--webhook", public, "--listen", f"127.0.0.1:{port}", "--receive-only"]
            log = tmp_path / f"{name}.log"
            process = processes.enter_context(newsbot(fake, db_url, log, args=args, **env))
            logs[process.pid] = log
            return process

        receiver_a, receiver_b = (
            start_receiver("receive-a", port_a),
            start_receiver("receive-b", port_b),
        )
        hook = Webhook(fake, url_b)
        senders = [start("send-a", "send"), start("send-b", "send")]  # one sends, one waits
        fetchers = [start("fetch-a", "fetch"), start("fetch-b", "fetch")]
        # batches of 100 (not one of 2,000) so both share the readers and a kill lands mid-tick
        compose_a = start("compose-a", "compose", "--tick-seconds", "2", "--compose-batch", "100")
        compose_b = start("compose-b", "compose", "--tick-seconds", "2", "--compose-batch", "100")
        # start-up is the slow part on a busy machine (eight interpreters importing at once)
        _until(lambda: db.lease_holder_pid() in {p.pid for p in senders}, 180, "a sender holds it")
        send_a, send_b = sorted(senders, key=lambda p: p.pid != db.lease_holder_pid())

        # fetch: kill one worker mid-pass; only feeds it had claimed may be fetched twice
        _until(lambda: len(server.requests) >= 15, 120, "15 feeds fetched")
        holds = {p.pid: len(db.claimed_by_pid(p.pid)) for p in fetchers}
        fetch_a, fetch_b = sorted(fetchers, key=lambda p: -holds[p.pid])  # a holds the most
        _kill(fetch_a)
        orphaned_feeds = db.feed_paths(db.claimed_by_pid(fetch_a.pid))
        hits_at_fetch_kill = len(server.requests)

        wait_listening(port_a, 60)
        wait_listening(port_b, 60)
        fake.wait_for(lambda: len(fake.calls_to("setWebhook")) == 2, timeout=60)

        # webhook, while composing: half the copies race the fake's own delivery to A
        newcomers = list(range(900_000, 900_000 + NEWCOMERS))
        asking = readers[:ASKING]
        first = hook.send(newcomers[: NEWCOMERS // 2], asking[: ASKING // 2])
        hook.copy_to_b(first[::2])

        # compose: kill one worker once digests are being queued
        _until(lambda: db.digest_rows() >= 300, 120, "300 digests queued")
        _kill(compose_a)
        rows_at_compose_kill = db.digest_rows()

        # webhook, while sending: kill receiver A while it handles updates of the second batch
        fake.delay_answers(0.3, ["sendMessage"])  # handlers take a while: several in flight
        second = hook.send(newcomers[NEWCOMERS // 2 :], asking[ASKING // 2 :])
        _until(lambda: len(db.unfinished_updates(receiver_a.pid)) >= 2, 30, "A busy")
        _kill(receiver_a)
        in_flight_at_a = db.unfinished_updates(receiver_a.pid)
        fake.delay_answers(0.0)
        # A's unanswered POSTs got 502 from the balancer; the fake retries them, B gets them
        _until(lambda: "last_error_message" in fake.webhook_info(), 10, "the fake sees A gone")
        _until(lambda: fake.webhook_info()["pending_update_count"] == 0, 30, "all delivered")
        # ... and B also gets straight copies of updates answered before: none is answered twice
        hook.copy_to_b(first[1::2][:20])
        in_flight_chats = {hook.chat(u) for u in hook.updates if u["update_id"] in in_flight_at_a}
        everyone = {hook.chat(u) for u in hook.updates}
        assert {u["update_id"] for u in second} >= in_flight_at_a

        # send: kill the lease holder mid-fan-out; the standby takes over
        _until(
            lambda: sum(digest_sends(fake).values()) >= 600,
            60,
            "600 digests sent",
        )
        _kill(send_a)
        killed_at = time.monotonic()
        recorded_at_kill = db.recorded_chats()
        # A request A wrote just before it died can reach the fake a moment later; until B
        # holds the lease, every digest the fake records is A's.
        sent_by_a: set[int] = set()

        def b_holds_the_lease() -> bool:
            sent_by_a.update(digest_sends(fake))
            return db.lease_holder_pid() == send_b.pid

        _until(b_holds_the_lease, 30, "sender B takes the lease over")
        # delivered but not recorded at the kill: the only ones that may arrive twice
        in_flight = sent_by_a - recorded_at_kill
        takeover = time.monotonic() - killed_at
        _until(lambda: len(digest_sends(fake)) == READERS, 180, "every reader has a digest")
        _until(lambda: everyone <= set(hook.answers()), 60, "every update answered")
        _until(
            lambda: statuses(db_url).get("sent", 0) == READERS,
            30,
            "every row recorded as sent",
        )
        _until(
            lambda: db.unfetched_feeds() == 0 and db.live_claims() == 0,
            30,
            "every feed fetched, no claim left",
        )
        elapsed = time.monotonic() - started
        survivors = [fetch_b, compose_b, send_b, receiver_b]
        assert all(p.poll() is None for p in survivors), "a surviving worker exited"
        hits = Counter(r.path for r in server.requests)
        answers = hook.answers()
        set_calls = fake.calls_to("setWebhook")
        retried = sum(not 200 <= d.status < 300 for d in fake.webhook_deliveries)
        unfinished = ProcessedUpdateStore(db.engine).count(done=False)
    # leaving the block sent SIGTERM to each survivor: a graceful stop is exit code 0
    assert [p.returncode for p in survivors] == [0, 0, 0, 0]

    sends = digest_sends(fake)
    twice = {chat for chat, n in sends.items() if n > 1}
    fetched_twice = {path for path, n in hits.items() if n > 1}
    print(
        f"\nscale out: {READERS} readers delivered={len(sends)} duplicates={len(twice)} "
        f"(in flight at the sender's kill: {len(in_flight)}), sender takeover {takeover:.1f}s; "
        f"feeds={len(feeds)} fetches={sum(hits.values())} twice={len(fetched_twice)} "
        f"(claimed by the dead fetch worker: {len(orphaned_feeds)}, hits at its kill: "
        f"{hits_at_fetch_kill}); outbox rows at the compose kill: {rows_at_compose_kill}; "
        f"{elapsed:.1f}s in all"
    )
    never = everyone - set(answers)
    b_log = logs[receiver_b.pid].read_text()
    dropped = re.findall(r"dropped (\d+) redelivered", b_log)
    dropped_by_b = int(dropped[-1]) if dropped else 0
    took_over = re.findall(r"took over (\d+) updates", b_log)
    taken_over_by_b = int(took_over[-1]) if took_over else 0
    answered_twice = {chat for chat, n in answers.items() if n > 1}
    print(
        f"webhook: {len(hook.updates)} updates ({NEWCOMERS} /start, {ASKING} /help), "
        f"{hook.copies} copies POSTed to B, {dropped_by_b} dropped by B as duplicates; "
        f"in flight at A's kill: {len(in_flight_at_a)}, taken over by B: {taken_over_by_b}, "
        f"deliveries retried: {retried}, answered twice: {len(answered_twice)}, "
        f"never answered: {len(never)}"
    )
    assert not never, f"lost: {sorted(never)}"
    assert answered_twice <= in_flight_chats, f"answered twice: {sorted(answered_twice)}"
    assert max(answers.values()) <= 2
    assert set(answers) <= everyone
    assert unfinished == 0, "an update was taken and never finished"
    assert 1 <= taken_over_by_b <= len(in_flight_at_a), "B did not take over A's updates"
    assert dropped_by_b >= 20, "the copies of answered updates were not dropped by B"
    assert {(c.params["url"], c.params["secret_token"]) for c in set_calls} == {
        (public, derive_secret(fake.token))
    }
    assert all(p.status == 200 for p in set_calls)
    assert set(sends) == set(readers)
    assert twice <= in_flight, f"sent twice though not in flight: {sorted(twice - in_flight)}"
    assert max(sends.values()) <= 2
    assert statuses(db_url) == {"sent": READERS}
    assert set(db.rows_per_reader().values()) == {1}, "a reader got two outbox rows"
    assert set(hits) == set(feeds), "a feed was never fetched"
    assert fetched_twice <= orphaned_feeds, f"fetched twice: {sorted(fetched_twice)}"
    assert max(hits.values()) <= 2
    standby = logs[send_b.pid].read_text(encoding="utf-8")
    assert "another newsbot process" in standby and "this process is the pusher" in standby
    assert "ingest: " in logs[fetch_b.pid].read_text(encoding="utf-8")
    assert "compose tick: " in (tmp_path / "compose-b.log").read_text(encoding="utf-8")
    db.engine.dispose()
