"""How fast the outbox sender pushes, and whether it stays inside Telegram's limits:
``python -m bench.fanout [--fast F] [--concurrency C] [--readers N] [--repeat R] [--limited M]``.

What runs: the strict fake Bot API (``newsbot_testing.fakes.botapi.FakeBotAPI``) in a child
process on 127.0.0.1, so that its CPU (a threaded stdlib HTTP server, one connection per
request) is not charged to the sender, as Telegram's would not be. N readers (default 10,000)
exist in a fresh SQLite database in a temp dir and in the fake (each wrote /start once).

What is measured, and why:

* **Fast stand-in** (``bench.stand_in``: a bare asyncio HTTP/1.1 keep-alive server in a child
  process that answers every POST with a digest-sized Message at once, so the server is not the
  bottleneck): F rows (default 10,000) enqueued, then ``OutboxSender.drain()`` as the bot runs
  it (``PushRequest``, claims, sent writes; ``max_rate`` effectively infinite, concurrency C,
  default 4); in the same run, alternating, a bare ``httpx.AsyncClient`` posts the same
  payloads as JSON with C requests in flight. Messages/s of both, the ratio (targets: ours
  >= 1,000/s and >= 0.9 x bare) and CPU ms per message in this process (all threads, so the
  database work counts), median of ``--repeat`` runs.
* **Unlimited** (the fake's flood control off): N digest rows are enqueued (``DeliveryStore``,
  timed), then ``OutboxSender.drain()`` sends them all (``max_rate`` effectively infinite,
  concurrency 4, one row per reader): messages/s. In the same run, a bare ``httpx.AsyncClient``
  with the same 4 requests in flight posts the same sendMessage form to the same fake: the most
  any sender could get out of this server. ``ours / bare`` says what the outbox, PTB and the
  pacing machinery cost on top of HTTP. Target >= 0.7. Median of ``--repeat`` runs.
  Also the CPU milliseconds per message in this process and in the fake's, which move far
  less with the neighbours' load than the wall-clock rates do.
* **Peak memory**: the growth of this process's resident-set high-water mark (``ru_maxrss``)
  over the unlimited runs, and ``tracemalloc``'s peak of Python allocations during one extra,
  untimed drain of N rows (tracemalloc slows it down, so it never runs during timing).
* **Limited** (the fake enforces 30 messages/s for the whole bot, Telegram's figure): M rows
  (default 600, about 20 s) with the sender's defaults. The sustained rate is measured by the
  fake (answers with status 200 over the span between the first and the last), as a share of
  30/s (target >= 95%), the number of 429s provoked (target 0), and the longest gaps between
  two answers (stalls: of this process, of the fake, or of the machine).
* **Client CPU, no server**: the same sender and the same bare httpx loop against an
  ``httpx.MockTransport`` that answers after 2 ms, min(N, 2000) messages: what the sender
  costs per message next to bare httpx when the server is not the bottleneck.

Only loopback sees traffic and the run stops by itself: 10-20 minutes at the defaults on a
shared 2-core machine, nearly all of it waiting for the fake (``--readers 2000`` takes ~3).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session
from telegram import Bot
from telegram.request import HTTPXRequest

from bench.stand_in import StandIn
from push.outbox_sender import OutboxSender
from push.push_request import PushRequest
from storage.db import make_engine, migrate
from storage.deliveries import DeliveryStore, OutboxItem
from storage.tables import User
from storage.users import UserStore

CONCURRENCY = 4
KEYBOARD = {
    "inline_keyboard": [
        [
            {"text": "Full story", "callback_data": f"s:f:{i}"},
            {"text": "Related", "callback_data": f"s:r:{i}"},
        ]
        for i in range(5)
    ]
}
TEXT = "\n\n".join(
    f"<b>{i}. Parliament passes the budget &amp; what it means</b>\n<i>Source {i} · 07:0{i}</i>\n"
    + "A short summary of the story, two sentences of plain news prose. " * 3
    for i in range(1, 6)
)
PAYLOAD = {
    "method": "sendMessage",
    "text": TEXT,
    "parse_mode": "HTML",
    "reply_markup": KEYBOARD,
    "link_preview_options": {"is_disabled": True},
}


# ------------------------------------------------------------------ the fake, in a child process
def _serve(conn: Connection) -> None:
    """Run the fake and answer commands from the bench over a pipe until told to stop."""
    from newsbot_testing.fakes.botapi import FakeBotAPI

    with FakeBotAPI() as fake:
        conn.send((fake.base_url, fake.token))
        mark = 0
        while True:
            command, *args = conn.recv()
            if command == "readers":
                for user_id in range(1, args[0] + 1):
                    fake.user_sends_text(user_id, "/start")
                fake.updates.clear()
                conn.send(None)
            elif command == "limit":
                fake.set_rate_limit(*args)
                conn.send(None)
            elif command == "mark":
                mark = len(fake.calls)
                conn.send(None)
            elif command == "cpu":
                conn.send(time.process_time())
            elif command == "stats":
                calls = fake.calls[mark:]
                ok = [c.at for c in calls if c.status == 200]
                statuses = [c.status for c in calls]
                gaps = sorted((b - a for a, b in zip(ok, ok[1:], strict=False)), reverse=True)
                summary = (len(ok), statuses.count(429), len(calls) - len(ok), ok[:1] + ok[-1:])
                conn.send((*summary, gaps[:5]))
            else:
                conn.send(None)
                return


class Fake:
    """Handle on the child process running the fake Bot API."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.base_url, self.token = self._conn.recv()

    def __call__(self, *command: Any) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        self("stop")
        self._process.join(10)


# ------------------------------------------------------------------------------- measurements
def add_readers(engine: Any, n: int) -> None:
    with Session(engine) as session:
        session.add_all(User(id=i, chat_id=i, first_name=f"r{i}") for i in range(1, n + 1))
        session.commit()


def enqueue(deliveries: DeliveryStore, n: int, slot: str) -> float:
    items = [OutboxItem(i, i, "digest", slot, PAYLOAD) for i in range(1, n + 1)]
    started = time.perf_counter()
    assert deliveries.enqueue(items, datetime.now(UTC)) == n
    return time.perf_counter() - started


async def drain(bot: Bot, deliveries: DeliveryStore, users: UserStore, n: int, **kw: Any) -> float:
    sender = OutboxSender(bot, deliveries, users, worker_id="bench", concurrency=CONCURRENCY, **kw)
    started = time.perf_counter()
    report = await sender.drain()
    seconds = time.perf_counter() - started
    assert report.sent == n, report
    return seconds


async def bare_httpx(fake: Fake, n: int) -> float:
    """The same sendMessage form PTB posts, from plain httpx, CONCURRENCY requests in flight."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in PAYLOAD.items()}
    del form["method"]
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        started = time.perf_counter()
        await bare_posts(client, f"{fake.base_url}{fake.token}/sendMessage", form, n)
        return time.perf_counter() - started


async def bare_posts(client: httpx.AsyncClient, url: str, form: dict[str, str], n: int) -> None:
    chats = iter(range(1, n + 1))

    async def worker() -> None:
        for chat in chats:
            response = await client.post(url, data=form | {"chat_id": str(chat)})
            assert response.status_code == 200, response.text
            response.json()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


@contextlib.contextmanager
def cpu_per_message(fake: Fake, n: int, into: dict[str, list[float]], key: str) -> Iterator[None]:
    """CPU milliseconds per message spent here and in the fake: on a shared 2-core machine
    wall-clock rates move with the neighbours' load, CPU per message much less."""
    mine, theirs = time.process_time(), fake("cpu")
    yield
    into[key].append((time.process_time() - mine) * 1000 / n)
    into[f"fake/{key}"].append((fake("cpu") - theirs) * 1000 / n)


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace) -> None:
    n, fake = args.readers, Fake()
    try:
        fake("readers", max(n, args.limited))
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'fanout.db'}")
            migrate(engine)
            add_readers(engine, max(n, args.limited, args.fast))
            deliveries, users = DeliveryStore(engine), UserStore(engine)
            await report_fast(args, deliveries, users)
            request = PushRequest(connection_pool_size=2 * CONCURRENCY)  # as the bot runs
            async with Bot(fake.token, base_url=fake.base_url, request=request) as bot:
                await report_unlimited(args, fake, bot, deliveries, users)
                await report_limited(args, fake, bot, deliveries, users)
            await report_client_cpu(args, deliveries, users)
            # Composition time for 100,000 readers (digest.compose over the readers' preferences)
            # goes here, once the composer exists: time it apart from sending, on the same DB.
            engine.dispose()
    finally:
        fake.stop()


async def report_unlimited(
    args: argparse.Namespace, fake: Fake, bot: Bot, deliveries: DeliveryStore, users: UserStore
) -> None:
    n = args.readers
    if n <= 0:
        return
    fake("limit", None, None)
    rss_before = maxrss_mib()
    ours, bare, enq = [], [], []
    cpu: dict[str, list[float]] = {"ours": [], "bare": [], "fake/ours": [], "fake/bare": []}
    for r in range(args.repeat):
        enq.append(n / enqueue(deliveries, n, f"bench-{r}"))
        fake("mark")
        with cpu_per_message(fake, n, cpu, "ours"):
            ours.append(n / await drain(bot, deliveries, users, n, max_rate=1e9))
        errors = fake("stats")[2]
        with cpu_per_message(fake, n, cpu, "bare"):
            bare.append(n / await bare_httpx(fake, n))
        print(f"  run {r + 1}: ours {ours[-1]:7.0f}/s  bare httpx {bare[-1]:7.0f}/s  "
              f"ratio {ours[-1] / bare[-1]:.2f}  (fake errors during ours: {errors})")  # fmt: skip
    rss_growth = maxrss_mib() - rss_before
    enqueue(deliveries, n, "bench-traced")
    tracemalloc.start()
    await drain(bot, deliveries, users, n, max_rate=1e9)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    print(f"unlimited, {n} readers, concurrency {CONCURRENCY}, median of {args.repeat}:")
    print(f"  outbox sender   {m_ours:8.0f} messages/s")
    print(f"  bare httpx      {m_bare:8.0f} messages/s")
    paired = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    print(f"  ratio           {paired:8.2f}   median of the runs' ratios (target >= 0.7); "
          f"ratio of the medians {m_ours / m_bare:.2f}")  # fmt: skip
    med = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"  CPU ms/message  ours {med['ours']:.2f} vs bare {med['bare']:.2f} in this process; "
          f"the fake {med['fake/ours']:.2f} / {med['fake/bare']:.2f} in its own")  # fmt: skip
    print(f"  enqueue         {statistics.median(enq):8.0f} rows/s")
    print(f"  peak memory     +{rss_growth:.0f} MiB RSS high-water over the runs; "
          f"tracemalloc peak {traced_peak:.1f} MiB in one drain of {n}")  # fmt: skip


async def report_limited(
    args: argparse.Namespace, fake: Fake, bot: Bot, deliveries: DeliveryStore, users: UserStore
) -> None:
    m = args.limited
    if m <= 0:
        return
    fake("limit", None, 30)
    enqueue(deliveries, m, "bench-limited")
    fake("mark")
    seconds = await drain(bot, deliveries, users, m)
    ok, floods, errors, (first, last), gaps = fake("stats")
    sustained = (ok - 1) / (last - first)
    print(f"limited: fake at 30/s for the bot, {m} messages, sender defaults:")
    print(f"  sustained       {sustained:8.2f} messages/s = {sustained / 30:.1%} of 30/s "
          f"(target >= 95%); drain took {seconds:.1f} s")  # fmt: skip
    print(f"  429s provoked   {floods:8d}   (target 0); other errors {errors - floods}")
    print(f"  longest gaps    {', '.join(f'{g * 1000:.0f}' for g in gaps)} ms "
          f"(one message is {1000 / 30:.0f} ms at 30/s)")  # fmt: skip


async def report_fast(
    args: argparse.Namespace, deliveries: DeliveryStore, users: UserStore
) -> None:
    """Throughput against the fast stand-in (``bench.stand_in``): the sender as the bot runs
    it (``PushRequest``, claims, sent writes) next to bare httpx posting the same payloads as
    JSON at the same concurrency, alternating, in the same run."""
    n = args.fast
    if n <= 0:
        return
    answer = {"date": 0, "chat": {"id": 1, "type": "private"}, "text": TEXT,
              "reply_markup": KEYBOARD}  # fmt: skip
    server = StandIn(answer)
    ours, bare = [], []
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    body = {k: v for k, v in PAYLOAD.items() if k != "method"}
    try:
        request = PushRequest(connection_pool_size=2 * args.concurrency)
        async with Bot("1:fast", base_url=server.base_url, request=request) as bot:
            limits = httpx.Limits(max_connections=args.concurrency)
            async with httpx.AsyncClient(limits=limits, timeout=10) as client:
                url = f"{server.base_url}1:fast/sendMessage"
                for r in range(args.repeat):
                    enqueue(deliveries, n, f"fast-{r}")
                    started, cpu0 = time.perf_counter(), time.process_time()
                    sender = OutboxSender(bot, deliveries, users, worker_id="bench",
                                          concurrency=args.concurrency, max_rate=1e9,
                                          batch=args.batch)  # fmt: skip
                    report = await sender.drain()
                    assert report.sent == n, report
                    ours.append(n / (time.perf_counter() - started))
                    cpu["ours"].append((time.process_time() - cpu0) * 1000 / n)
                    started, cpu0 = time.perf_counter(), time.process_time()
                    await bare_json_posts(client, url, body, n, args.concurrency)
                    bare.append(n / (time.perf_counter() - started))
                    cpu["bare"].append((time.process_time() - cpu0) * 1000 / n)
                    print(f"  fast run {r + 1}: ours {ours[-1]:6.0f}/s  bare {bare[-1]:6.0f}/s  "
                          f"ratio {ours[-1] / bare[-1]:.2f}  CPU ms/msg {cpu['ours'][-1]:.3f} / "
                          f"{cpu['bare'][-1]:.3f}")  # fmt: skip
    finally:
        server.stop()
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    paired = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    print(f"fast stand-in, {n} messages, concurrency {args.concurrency}, median of {args.repeat}:")
    print(f"  outbox sender   {m_ours:8.0f} messages/s   {statistics.median(cpu['ours']):.3f} "
          "CPU ms/message")  # fmt: skip
    print(f"  bare httpx      {m_bare:8.0f} messages/s   {statistics.median(cpu['bare']):.3f} "
          "CPU ms/message")  # fmt: skip
    print(f"  ratio           {paired:8.2f}   median of the runs' ratios (targets: >= 0.9, "
          f"ours >= 1,000/s); ratio of the medians {m_ours / m_bare:.2f}")  # fmt: skip


async def bare_json_posts(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], n: int, concurrency: int
) -> None:
    chats = iter(range(1, n + 1))

    async def worker() -> None:
        for chat in chats:
            response = await client.post(url, json={"chat_id": chat, **body})
            assert response.status_code == 200, response.text
            response.json()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def report_client_cpu(
    args: argparse.Namespace, deliveries: DeliveryStore, users: UserStore
) -> None:
    """Client CPU per message with no server at all: an ``httpx.MockTransport`` answers each
    request after 2 ms with what the fake would. Since the push bot's own HTTP client replaced
    httpx, this measures the sender through PTB's plain ``HTTPXRequest`` (what the push path
    falls back to for uploads and proxies), next to bare httpx."""
    n = min(args.readers, 2000)
    if n <= 0:
        return
    result = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": TEXT}
    answer = json.dumps({"ok": True, "result": result | {"reply_markup": KEYBOARD}})

    async def reply(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.002)
        return httpx.Response(200, text=answer, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(reply)
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in PAYLOAD.items()}
    del form["method"]
    request = HTTPXRequest(httpx_kwargs={"transport": transport})
    bot = Bot("1:mock", request=request)  # not initialized: that would call getMe
    ours, bare = [], []
    async with httpx.AsyncClient(transport=transport) as client:
        for r in range(args.repeat):
            enqueue(deliveries, n, f"mock-{r}")
            started = time.process_time()
            await drain(bot, deliveries, users, n, max_rate=1e9)
            ours.append((time.process_time() - started) * 1000 / n)
            started = time.process_time()
            await bare_posts(client, "http://mock/bot1:mock/sendMessage", form, n)
            bare.append((time.process_time() - started) * 1000 / n)
    await request.shutdown()
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    print(f"client CPU, no server (mock transport), {n} messages, median of {args.repeat}:")
    print(f"  outbox sender   {m_ours:8.2f} ms/message")
    print(f"  bare httpx      {m_bare:8.2f} ms/message   (bare / ours {m_bare / m_ours:.2f})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--readers", type=int, default=10_000, help="rows in the unlimited run (0: skip it)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="unlimited runs (median quoted)")
    parser.add_argument("--limited", type=int, default=600, help="rows in the 30/s run (0: skip)")
    parser.add_argument(
        "--fast", type=int, default=10_000, help="rows against the fast stand-in (0: skip)"
    )
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="fast run only")
    parser.add_argument(
        "--batch", type=int, default=None, help="claim size, fast run (default: the sender's)"
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
