"""The update processor on a real database: a copy of an update that another live process is
handling waits and is dropped once that one is done; a copy whose taker died (a dead pid on this
host) or went silent (its claim older than the TTL) is handled; ``on_finished`` hears of every
update, which is when the webhook answers Telegram; an update parked (answered before it was
done) is adopted by a live process once its taker is gone, and only then."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from telegram import Bot, Update

from bot.update_processor import PerUserUpdateProcessor
from storage.processed_updates import ProcessedUpdateStore, Verdict

HOST = socket.gethostname()[:32]
TTL = timedelta(seconds=15)


def start_from(user: int, update_id: int) -> Update:
    data: dict[str, Any] = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_764_763_200,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "text": "/start",
        },
    }
    return Update.de_json(data, None)


class Worker:
    """One process's update processor (a live pid: this test's own), and what it handled."""

    def __init__(self, store: ProcessedUpdateStore, name: str, **options: Any) -> None:
        self.handled: list[int] = []
        self.started = asyncio.Event()  # a handler of this worker is running
        self.finished: list[int] = []
        self.processor = PerUserUpdateProcessor(
            processed=store,
            worker=f"{HOST}:{os.getpid()}:{name}",
            on_finished=lambda u: self.finished.append(u.update_id),  # type: ignore[attr-defined]
            **options,
        )

    def deliver(self, update: Update, until: asyncio.Event | None = None) -> asyncio.Task[None]:
        async def handler() -> None:
            self.handled.append(update.update_id)
            self.started.set()
            if until is not None:
                await until.wait()

        return asyncio.create_task(self.processor.process_update(update, handler()))


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return int(child.stdout)


async def test_a_copy_waits_for_the_live_taker_and_is_dropped_once_it_is_done(
    engine: Engine,
) -> None:
    store = ProcessedUpdateStore(engine)
    a, b = Worker(store, "a"), Worker(store, "b")
    release = asyncio.Event()
    first = a.deliver(start_from(7, 1001), until=release)
    await asyncio.wait_for(a.started.wait(), 10)
    copy = b.deliver(start_from(7, 1001))
    done, _ = await asyncio.wait({copy}, timeout=0.6)
    assert not done and b.finished == [], "the copy was answered while A still worked on it"
    release.set()
    await asyncio.gather(first, copy)
    assert (a.handled, b.handled) == ([1001], [])
    assert (a.finished, b.finished) == ([1001], [1001])
    assert b.processor.duplicates == 1 and b.processor.taken_over == 0
    assert store.count(done=True) == 1 and store.count(done=False) == 0
    # a later copy is dropped at once, also by A itself
    await asyncio.gather(a.deliver(start_from(7, 1001)), b.deliver(start_from(7, 1001)))
    assert (a.handled, b.handled) == ([1001], [])


async def test_a_copy_of_an_update_whose_taker_died_on_this_host_is_handled_at_once(
    engine: Engine,
) -> None:
    store = ProcessedUpdateStore(engine)
    killed = f"{HOST}:{dead_pid()}:gone"
    assert store.take(1002, killed, datetime.now(UTC), TTL).verdict is Verdict.TAKEN
    b = Worker(store, "b")
    async with asyncio.timeout(5):  # no waiting out the 15 s TTL
        await b.deliver(start_from(8, 1002))
    assert b.handled == [1002] and b.finished == [1002]
    assert b.processor.taken_over == 1
    assert store.take(1002, killed, datetime.now(UTC), TTL).verdict is Verdict.DONE


async def test_a_copy_takes_over_once_a_taker_elsewhere_stopped_renewing(engine: Engine) -> None:
    store = ProcessedUpdateStore(engine)
    ttl = timedelta(seconds=0.5)
    loop = asyncio.get_running_loop()
    taken_at = datetime.now(UTC)
    started = loop.time()  # before the claim is written: a slow write must not eat the TTL
    assert store.take(1003, "other-host:4242:x", taken_at, ttl).verdict is Verdict.TAKEN
    b = Worker(store, "b", claim_ttl=ttl)
    await b.deliver(start_from(9, 1003))
    assert b.handled == [1003] and b.processor.taken_over == 0
    assert loop.time() - started >= 0.4, "handled while the other host's claim was fresh"
    assert store.count(done=True) == 1


async def test_a_slow_handler_keeps_its_claim_fresh(engine: Engine) -> None:
    store = ProcessedUpdateStore(engine)
    ttl = timedelta(seconds=0.3)
    a, b = Worker(store, "a", claim_ttl=ttl), Worker(store, "b", claim_ttl=ttl, busy_wait=0.9)
    release = asyncio.Event()
    first = a.deliver(start_from(10, 1004), until=release)
    await asyncio.wait_for(a.started.wait(), 10)
    await b.deliver(start_from(10, 1004))  # waits 0.9 s, three TTLs: A renewed, B gave up
    assert b.handled == [] and b.finished == [1004]
    release.set()
    await first
    assert a.handled == [1004] and store.count(done=True) == 1


async def test_a_handler_cancelled_mid_way_leaves_the_update_taken_and_unanswered(
    engine: Engine,
) -> None:
    store = ProcessedUpdateStore(engine)
    a = Worker(store, "a")
    task = a.deliver(start_from(11, 1005), until=asyncio.Event())  # never released
    await asyncio.wait_for(a.started.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert a.finished == [], "the webhook would answer 200 for an update not handled"
    assert store.count(done=False) == 1  # a copy is taken over once this process is gone


async def test_a_parked_update_whose_taker_died_is_adopted_and_handled_once(
    engine: Engine,
) -> None:
    store = ProcessedUpdateStore(engine)
    a, b = Worker(store, "a"), Worker(store, "b")
    queue: asyncio.Queue[object] = asyncio.Queue()
    b.processor.adopt_orphans_into(queue, Bot("1:not-a-real-token"))
    release = asyncio.Event()
    slow = start_from(12, 1006)
    first = a.deliver(slow, until=release)
    await asyncio.wait_for(a.started.wait(), 10)
    await a.processor.park(slow)  # the webhook answered Telegram before A was done
    assert [o.update_id for o in store.orphans()] == [1006]
    assert await b.processor.adopt_orphans() == 0, "A is alive and on it"
    release.set()
    await first
    assert store.orphans() == [], "done: nothing left to adopt"
    # A killed after answering: its claim is a dead pid's, its update parked
    killed = f"{HOST}:{dead_pid()}:gone"
    assert store.take(1007, killed, datetime.now(UTC), TTL).verdict is Verdict.TAKEN
    store.park(1007, start_from(13, 1007).to_json())
    assert await b.processor.adopt_orphans() == 1
    assert await b.processor.adopt_orphans() == 0, "adopted once"
    adopted = queue.get_nowait()
    assert isinstance(adopted, Update) and adopted.update_id == 1007
    await b.deliver(adopted)
    assert b.handled == [1007] and b.processor.taken_over == 1
    assert store.take(1007, killed, datetime.now(UTC), TTL).verdict is Verdict.DONE
    assert store.orphans() == []
