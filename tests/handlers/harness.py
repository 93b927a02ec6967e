"""Run the real bot (built by bot.app, as `newsbot run` builds it) in a thread against the fake.

Tests stay synchronous: they act as users on the fake Bot API and wait on its recorded calls,
while the bot long-polls the fake over real HTTP from its own event loop, like a real process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from bot.app import ALLOWED_UPDATES, BotParts, Services, build_bot, build_services
from bot.interactive_limiter import InteractiveRateLimiter
from bot.settings import Settings
from newsbot_testing.fakes.botapi import FakeBotAPI
from push.outbox_sender import SendReport
from push.pusher import Pusher
from push.tick import TickReport

T = TypeVar("T")


def settings_for(
    fake: FakeBotAPI,
    db_url: str,
    catalog: Path | None = None,
    fetch_feeds: bool = False,
    allow_private: bool = False,
    telegraph_url: str | None = None,
) -> Settings:
    """Feeds are not fetched unless a test asks: the bundled catalog points at the internet."""
    telegraph = {"TELEGRAPH_TOKEN": "telegraph-test-token", "TELEGRAPH_API_URL": telegraph_url}
    return Settings(
        **(telegraph if telegraph_url else {}),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_URL=db_url,
        NEWSBOT_CATALOG=catalog,
        FEED_FETCH_ENABLED=fetch_feeds,
        ALLOW_PRIVATE_NETWORKS=allow_private,
        _env_file=None,
    )  # type: ignore[call-arg]


def fast_replies() -> InteractiveRateLimiter:
    """The reply limiter with Telegram's pace cut 50-fold (its logic, lanes and gates kept)."""
    return InteractiveRateLimiter(
        overall_rate=1500.0, private_interval=0.02, group_interval=0.06, max_wait=10.0
    )


class ManualClock:
    """A clock the test moves by hand; starts at the real now."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class RunningBot:
    """The bot application polling ``fake`` until ``stop()``; ``services`` gives the database."""

    def __init__(
        self,
        fake: FakeBotAPI,
        db_url: str,
        catalog: Path | None = None,
        fetch_feeds: bool = False,
        *,
        clock: ManualClock | None = None,
        run_jobs: bool = False,
        allow_private: bool = False,
        telegraph_url: str | None = None,
        real_pacing: bool = False,
    ) -> None:
        """``real_pacing``: replies paced as Telegram wants them (1/s per chat); by default a
        fast pace, since the fake enforces no limit unless a test turns it on."""
        settings = settings_for(fake, db_url, catalog, fetch_feeds, allow_private, telegraph_url)
        self._real_pacing = real_pacing
        self.services: Services = build_services(settings)
        self.clock = clock or ManualClock()
        self._run_jobs = run_jobs
        self.parts: BotParts | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bot-under-test", daemon=True)

    def start(self) -> RunningBot:
        self._thread.start()
        if not self._ready.wait(15):
            raise AssertionError(f"bot did not start: {self._error!r}")
        if self._error is not None:
            raise AssertionError("bot failed to start") from self._error
        return self

    def call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
        """Run a coroutine on the bot's own event loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout)

    @property
    def pusher(self) -> Pusher:
        assert self.parts is not None
        return self.parts.pusher

    def push(self) -> tuple[TickReport | None, SendReport | None]:
        """One scheduler tick at the test clock's time, then drain the outbox."""
        tick = self.call(self.pusher.tick)
        return tick, self.call(self.pusher.drain)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        self.services.engine.dispose()
        if self._thread.is_alive():
            raise AssertionError("bot did not stop within 20 s")

    def __enter__(self) -> RunningBot:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # surfaced by start()
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        pacing = None if self._real_pacing else fast_replies()
        self.parts = build_bot(
            self.services, self.clock, run_jobs=self._run_jobs, reply_pacing=pacing
        )
        application = self.parts.application
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES
        )
        await application.start()
        self._ready.set()
        await self._stop.wait()
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
