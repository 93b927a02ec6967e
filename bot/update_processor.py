"""Updates from different users run concurrently; updates from one user run in order.

PTB either handles every update one after another (one slow article fetch stalls everyone) or all
at once (two fast taps by one reader race on the same menu). Keying a lock by user gives both: the
bot stays responsive for everybody while each reader's own taps apply in the order they were made.

In order also means a reader's taps wait for each other, and Telegram drops the answer to a
button press after 15 s. So a press never queues for long:

- a tap identical to one still waiting for its turn (same message, same button) is answered at
  once with a short toast and not queued again: 100 quick taps on a button are handled once or
  twice, not 100 times (the story buttons also coalesce taps while their reply is on its way);
- a press that has waited ``max_press_wait`` (8 s) for the reader's turn is answered with "Too
  many requests — try again in a few seconds" and skipped, so every press is answered in time.

Each update is handled once, also when Telegram delivers it again (a webhook answer it did not
see, a second receiver behind a load balancer, a poller stopped before confirming), and none is
lost when the process handling it dies (``ProcessedUpdateStore``): before anything else, even
before a press is coalesced or answered, the update is *taken* in the database (this worker, now),
its claim is renewed every ``claim_ttl / 3`` while its handler runs, and it is marked *done* once
handled. A copy of a done update is dropped, logged at debug and counted in ``duplicates``. A
copy that arrives while another process is still handling it waits (polling the row, at most
``busy_wait``) until that one is done (then it is dropped) or its taker goes silent - a dead pid
on this host, or a claim older than ``claim_ttl`` - and then it is handled here. A copy reaching
this process while it handles the update itself waits for that in memory. ``on_finished`` is
called with every update once it is done with (handled, dropped or given up): the webhook
answers Telegram only then (``bot.webhook.AnsweringQueue``), so an update whose receiver dies
mid-way is delivered again, and taken over. An update the webhook had to answer before it was
done (a slow handler) is *parked* (``park``: its JSON kept in the database); no copy will come
for it, so every process looks for parked updates whose taker went silent every
``claim_ttl / 3`` and adopts them (``adopt_orphans``): taken over and put on its own queue.

This runs in polling mode too: two indexed statements per update are cheap next to any handler,
and one code path is one thing to test. The database step runs per reader in arrival order (a
FIFO gate per reader, held for the claim), so it does not reorder a reader's taps. If the
database cannot record the update, it is handled anyway: a rare duplicate beats a reader left
without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor

from digest.clock import Clock, utcnow
from handlers.messaging import answer_flooded, answer_repeat
from push.pusher import holder_is_dead
from storage.errors import StorageError
from storage.processed_updates import ProcessedUpdateStore, Verdict

log = logging.getLogger(__name__)
RECENT_IDS = 10_000  # ids this process remembers without asking the database
CLAIM_TTL = timedelta(seconds=15)  # a claim not renewed for this long is its taker gone silent
BUSY_WAIT = 25.0  # seconds a copy waits for another live process to finish the update
BUSY_POLL = 0.2  # seconds between looks at the row meanwhile

PressKey = tuple[int, int, int, str]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Serialise per user (or chat), run across users with at most ``max_concurrent_updates``."""

    def __init__(
        self,
        max_concurrent_updates: int = 64,
        *,
        max_press_wait: float = 8.0,
        processed: ProcessedUpdateStore | None = None,
        worker: str = "",
        clock: Clock = utcnow,
        claim_ttl: timedelta = CLAIM_TTL,
        busy_wait: float = BUSY_WAIT,
        on_finished: Callable[[object], None] | None = None,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.max_press_wait = max_press_wait
        self.processed = processed
        self.worker = worker
        self.clock = clock
        self.claim_ttl = claim_ttl
        self.busy_wait = busy_wait
        self.on_finished = on_finished
        self.duplicates = 0  # redelivered updates dropped since start
        self.taken_over = 0  # updates handled here after their first taker went silent
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._gates: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._presses: set[PressKey] = set()  # presses waiting for their reader's turn
        self._recent: set[int] = set()  # ids known to be done
        self._recent_order: deque[int] = deque()
        self._handling: dict[int, asyncio.Event] = {}  # ids being taken or handled here
        self._claimed: set[int] = set()  # ids this worker holds a database claim on
        self._adopted: set[int] = set()  # parked ids taken over, on their way through the queue
        self._adopt_into: asyncio.Queue[object] | None = None
        self._bot: Bot | None = None
        self._adopter: asyncio.Task[None] | None = None

    def adopt_orphans_into(self, queue: asyncio.Queue[object], bot: Bot) -> None:
        """Where adopted updates go (the application's update queue), and the bot they use."""
        self._adopt_into, self._bot = queue, bot

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Take, handle, finish; then tell ``on_finished`` (the webhook's answer waits for it).

        Not when cancelled (the application stopping mid-handler): the update is not done, so
        its POST must stay unanswered and Telegram deliver it again."""
        cancelled = False
        try:
            await self._process(update, coroutine)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if not cancelled and self.on_finished is not None:
                self.on_finished(update)

    async def _process(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await self._handle(update, coroutine)
            return
        update_id = update.update_id
        if not await self._take(update):
            _discard(coroutine)
            return
        renewal = None
        if update_id in self._claimed:
            renewal = asyncio.create_task(self._renew(update_id))
        try:
            await self._handle(update, coroutine)
        except asyncio.CancelledError:  # stopping mid-handler: not done, a copy may take it over
            self._release(update_id)
            raise
        finally:
            if renewal is not None:
                renewal.cancel()
        await self._finish(update_id)

    async def _handle(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the handler in the reader's turn; coalesce or refuse presses that would wait."""
        key = _key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        press = _press(update)
        if press is None:
            async with lock:
                await coroutine
            return
        assert isinstance(update, Update) and update.callback_query is not None
        query = update.callback_query
        if press in self._presses:
            _discard(coroutine)
            await answer_repeat(query)
            return
        self._presses.add(press)
        try:
            async with asyncio.timeout(self.max_press_wait):
                await lock.acquire()
        except TimeoutError:
            _discard(coroutine)
            await answer_flooded(query)
            return
        finally:
            self._presses.discard(press)
        try:
            await coroutine
        finally:
            lock.release()

    async def _take(self, update: Update) -> bool:
        """True if this process is to handle the update: no process has taken it on yet, or its
        taker went silent before it was done. It is then recorded as taken by this worker."""
        update_id = update.update_id
        running = self._handling.get(update_id)
        if running is not None:  # a copy while this very process works on it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.busy_wait):
                    await running.wait()
            self._dropped(update_id, "this process")
            return False
        if update_id in self._recent:
            self._dropped(update_id, "this process")
            return False
        self._handling[update_id] = asyncio.Event()  # before any await: a copy waits above
        if self.processed is None:
            return True
        key = _key(update)
        gate = self._gate(key) if key is not None else asyncio.Lock()
        async with gate:  # FIFO per reader, so their updates leave this step in order
            try:
                taken = await self._claim(update_id)
            except StorageError as error:
                log.warning("could not record update %d (%s); handling it", update_id, error)
                return True
        if not taken:
            self._handling.pop(update_id).set()
        return taken

    async def _claim(self, update_id: int) -> bool:
        """Take the update in the database; while another live worker holds it, wait for it to
        finish (then False) or to go silent (then take it over: True)."""
        assert self.processed is not None
        store = self.processed
        deadline = asyncio.get_running_loop().time() + self.busy_wait
        while True:
            claim = await asyncio.to_thread(
                store.take, update_id, self.worker, self.clock(), self.claim_ttl
            )
            if claim.verdict is Verdict.TAKEN:
                self._claimed.add(update_id)
                return True
            if claim.taker == self.worker and update_id in self._adopted:
                self._adopted.discard(update_id)  # taken over by adopt_orphans, for this
                self._claimed.add(update_id)
                return True
            if claim.verdict is Verdict.DONE:
                self._remember(update_id)
                self._dropped(update_id, "another process")
                return False
            if holder_is_dead(claim.taker) and await asyncio.to_thread(
                store.take_from, update_id, claim.taker, self.worker, self.clock()
            ):
                self._claimed.add(update_id)
                self.taken_over += 1
                log.info("update %d taken over: the process that took it is gone", update_id)
                return True
            if asyncio.get_running_loop().time() >= deadline:
                log.warning(
                    "update %d still being handled by another process after %.0fs; "
                    "leaving it to that one", update_id, self.busy_wait,
                )  # fmt: skip
                return False
            await asyncio.sleep(BUSY_POLL)

    async def park(self, update: object) -> None:
        """Telegram is being answered before this update is done: keep its JSON in the database
        so another process can adopt it if this one dies before it is done."""
        if not isinstance(update, Update) or self.processed is None:
            return
        if update.update_id not in self._claimed:
            return
        payload = json.dumps(update.to_dict(), ensure_ascii=False)
        try:
            await asyncio.to_thread(self.processed.park, update.update_id, payload)
        except StorageError as error:
            log.warning("could not park update %d (%s)", update.update_id, error)

    async def adopt_orphans(self) -> int:
        """Take over parked updates whose taker went silent (a dead pid on this host, or a claim
        not renewed for ``claim_ttl``) and queue them here; how many."""
        if self.processed is None or self._adopt_into is None:
            return 0
        store, now, adopted = self.processed, self.clock(), 0
        for orphan in await asyncio.to_thread(store.orphans):
            if orphan.update_id in self._handling or orphan.taker == self.worker:
                continue
            if orphan.taken_at >= now - self.claim_ttl and not holder_is_dead(orphan.taker):
                continue  # its taker is alive and renewing
            if not await asyncio.to_thread(
                store.take_from, orphan.update_id, orphan.taker, self.worker, now
            ):
                continue
            self._adopted.add(orphan.update_id)
            self._adopt_into.put_nowait(Update.de_json(json.loads(orphan.payload), self._bot))
            self.taken_over += 1
            adopted += 1
            log.info(
                "update %d adopted: its process is gone and no copy will come", orphan.update_id
            )
        return adopted

    async def _adopt_forever(self) -> None:
        while True:
            await asyncio.sleep(self.claim_ttl.total_seconds() / 3)
            try:
                await self.adopt_orphans()
            except StorageError as error:
                log.warning("could not look for orphaned updates (%s)", error)

    async def _renew(self, update_id: int) -> None:
        """Keep this worker's claim fresh while a (slow) handler runs."""
        assert self.processed is not None
        while True:
            await asyncio.sleep(self.claim_ttl.total_seconds() / 3)
            try:
                await asyncio.to_thread(self.processed.renew, update_id, self.worker, self.clock())
            except StorageError as error:
                log.warning("could not renew the claim on update %d (%s)", update_id, error)

    async def _finish(self, update_id: int) -> None:
        """Handled: record it as done (before Telegram gets its answer), then let copies go."""
        if update_id in self._claimed and self.processed is not None:
            try:
                await asyncio.to_thread(self.processed.finish, update_id, self.clock())
            except StorageError as error:
                log.warning("could not record update %d as done (%s)", update_id, error)
        self._remember(update_id)
        self._release(update_id)

    def _release(self, update_id: int) -> None:
        self._claimed.discard(update_id)
        running = self._handling.pop(update_id, None)
        if running is not None:
            running.set()

    def _gate(self, key: int) -> asyncio.Lock:
        gate = self._gates.get(key)
        if gate is None:
            gate = asyncio.Lock()
            self._gates[key] = gate
        return gate

    def _remember(self, update_id: int) -> None:
        self._recent.add(update_id)
        self._recent_order.append(update_id)
        if len(self._recent_order) > RECENT_IDS:
            self._recent.discard(self._recent_order.popleft())

    def _dropped(self, update_id: int, by: str) -> None:
        self.duplicates += 1
        log.debug(
            "update %d dropped: already taken on by %s (%d duplicates so far)",
            update_id, by, self.duplicates,
        )  # fmt: skip

    async def initialize(self) -> None:
        """Locks are created on demand; start looking for orphaned updates to adopt."""
        if self.processed is not None and self._adopt_into is not None:
            self._adopter = asyncio.create_task(self._adopt_forever())

    async def shutdown(self) -> None:
        """Locks vanish with their last waiter; say how many redeliveries were dropped and how
        many updates were taken over from a process that died."""
        if self._adopter is not None:
            self._adopter.cancel()
            self._adopter = None
        if self.duplicates:
            log.info("dropped %d redelivered updates", self.duplicates)
        if self.taken_over:
            log.info("took over %d updates from a process that died", self.taken_over)


def _key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _press(update: object) -> PressKey | None:
    """A button press as (user, chat, message, data); None for anything else."""
    if not isinstance(update, Update) or update.callback_query is None:
        return None
    query = update.callback_query
    message = query.message
    chat = message.chat.id if message is not None else 0
    message_id = message.message_id if message is not None else 0
    return (query.from_user.id, chat, message_id, str(query.data or ""))


def _discard(coroutine: Awaitable[Any]) -> None:
    """The update will not be handled: close its coroutine so Python does not warn about it."""
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()
