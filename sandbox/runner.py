"""``newsbot sandbox``: the real bot, a local Bot API and the chat page, until Ctrl+C.

The bot is built exactly as ``newsbot run`` builds it (``build_services`` + ``build_bot``,
every route and JobQueue job), only its ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_API_BASE_URL``
are the local fake's, and its clock is the sandbox's. Every other setting is the operator's
(environment and ``.env``), with three sandbox defaults when they are not set:

* ``DATABASE_URL``: ``sqlite:///newsbot-sandbox.db``, not ``run``'s ``newsbot.db``. The
  sandbox's readers are made up (ids 1001, 9001, ...): in the live bot's database they would
  become real Telegram users who get digests, and the live bot's readers would be pushed to
  the fake. A separate file keeps the two apart; set ``DATABASE_URL`` to choose another.
* ``LOG_LEVEL``: ERROR, so the one line that says where the page is stays readable (without
  internet every catalog feed would log a warning; ``--offline`` is the cure, and
  ``LOG_LEVEL=WARNING`` shows them).
* ``ADMIN_IDS``: the operator's, plus the simulated admins' ids (``sandbox.hub.ADMIN_IDS``).

``--offline`` replaces the catalog with the bundled sample news (``sandbox.news``) and allows
fetching article pages from 127.0.0.1 (``ALLOW_PRIVATE_NETWORKS``), where those pages are.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr
from telegram.ext import Application

from bot.app import ALLOWED_UPDATES, Services, build_bot, build_services
from bot.jobs import DIGEST_JOB
from bot.logging_setup import setup_logging
from bot.settings import Settings
from digest.catalog import CatalogError
from newsbot_testing.fakes.botapi import FakeBotAPI
from sandbox.clock import SandboxClock
from sandbox.hub import ADMIN_IDS, Hub
from sandbox.news import SampleNews
from sandbox.web import PageServer
from storage.errors import StorageError

DEFAULT_DATABASE = "sqlite:///newsbot-sandbox.db"
DEFAULT_PORT = 8080
LOOPBACK = "127.0.0.1"
MAX_JUMP = timedelta(days=14)
EXIT_CONFIG = 2


@dataclass(frozen=True)
class Options:
    host: str = LOOPBACK
    port: int = DEFAULT_PORT
    offline: bool = False


def sandbox_settings(
    settings: Settings, fake: FakeBotAPI, *, catalog: Path | None = None
) -> Settings:
    """The operator's settings, pointed at the fake (see the module docstring for defaults)."""
    chosen = settings.model_fields_set
    update: dict[str, Any] = {
        "telegram_bot_token": SecretStr(fake.token),
        "telegram_api_base_url": fake.base_url,
        "admin_ids": settings.admin_ids | frozenset(ADMIN_IDS),
    }
    if "database_url" not in chosen:
        update["database_url"] = DEFAULT_DATABASE
    if "log_level" not in chosen:
        update["log_level"] = "ERROR"
    if catalog is not None:
        update["newsbot_catalog"] = catalog
        update["allow_private_networks"] = True
    return settings.model_copy(update=update)


def run_sandbox(settings: Settings, options: Options, out: TextIO = sys.stdout) -> int:
    """Run until SIGINT/SIGTERM; configuration problems are one line on stderr, exit 2."""
    if options.host != LOOPBACK:
        print(
            f"newsbot sandbox: warning: --host {options.host} lets other machines use the chat "
            "page, which has no login; keep the default (127.0.0.1) unless you mean it",
            file=sys.stderr,
        )
    sandbox = Sandbox(settings, options, out)
    try:
        return sandbox.run()
    except (CatalogError, StorageError, OSError) as e:
        print(f"newsbot sandbox: {e}", file=sys.stderr)
        return EXIT_CONFIG


class Sandbox:
    """The pieces and their lifetime; also the page's controls (the clock)."""

    def __init__(self, settings: Settings, options: Options, out: TextIO) -> None:
        self.settings = settings
        self.options = options
        self.out = out
        self.clock = SandboxClock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._application: Application | None = None
        self._services: Services | None = None
        self._hub: Hub | None = None

    def run(self) -> int:
        token = f"{7_000_000_000 + secrets.randbelow(10**9)}:sandbox-{secrets.token_urlsafe(24)}"
        with contextlib.ExitStack() as stack:
            # update ids rise across runs (tenths of a second), as Telegram's do: the database
            # keeps the ids it handled, and a run starting again at the same id would be ignored
            first_update = int(time.time() * 10)
            fake = stack.enter_context(
                FakeBotAPI(token, bot_username="newsbot_sandbox_bot", first_update_id=first_update)
            )
            catalog = None
            if self.options.offline:
                catalog = stack.enter_context(SampleNews(self.clock)).catalog
            settings = sandbox_settings(self.settings, fake, catalog=catalog)
            setup_logging(settings.log_level, token)
            services = build_services(settings)
            stack.callback(services.engine.dispose)
            hub = Hub(fake, clock=self.clock)
            try:  # bind before the bot starts: a busy port is one line, nothing to undo
                page = PageServer(hub, self, self.options.host, self.options.port)
            except OSError as e:
                where = f"{self.options.host}:{self.options.port}"
                raise OSError(f"cannot serve the chat page on {where} ({e.strerror}); "
                              "choose another with --port") from e  # fmt: skip
            asyncio.run(self._main(services, hub, page))
        return 0

    async def _main(self, services: Services, hub: Hub, page: PageServer) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        application = build_bot(services, self.clock).application
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=0, timeout=10, allowed_updates=ALLOWED_UPDATES
        )
        await application.start()
        self._loop, self._application, self._services, self._hub = (
            loop, application, services, hub,
        )  # fmt: skip
        page.start()
        print(
            f"newsbot sandbox: chat with the bot at {page.url} "
            "(set TELEGRAM_BOT_TOKEN and use `newsbot run` to go live)",
            file=self.out,
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            page.stop()
            await application.updater.stop()
            await application.stop()
            await application.shutdown()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)

    # -- the page's controls (called on the page server's threads) ---------------------------

    def clock_state(self) -> dict[str, Any]:
        due = self._next_due()
        return {
            "now": self.clock().isoformat(),
            "offset_seconds": self.clock.offset.total_seconds(),
            "next_due": due.isoformat() if due else None,
        }

    def advance(self, *, hours: float | None, next_slot: bool) -> dict[str, Any]:
        """Move the clock (to the next reader's digest, or by ``hours``), then run the digest
        tick at once, as the JobQueue would at its next minute."""
        note = ""
        if next_slot:
            due = self._next_due()
            if due is None:
                note = "No digest is scheduled yet: finish /start with a reader first."
            else:
                self.clock.advance_to(due + timedelta(seconds=1))
        elif hours is not None:
            jump = timedelta(hours=hours)
            if not timedelta(0) < jump <= MAX_JUMP:
                raise ValueError(f"hours must be above 0 and at most {MAX_JUMP.days * 24}")
            self.clock.advance(jump)
        self._run_job_now(DIGEST_JOB)
        state = self.clock_state() | {"note": note}
        assert self._hub is not None
        self._hub.publish("clock", state)
        return state

    def _next_due(self) -> datetime | None:
        """The earliest next digest among the simulated readers (set up, active)."""
        if self._services is None or self._hub is None:
            return None
        due = []
        for user in self._hub.users:
            reader = self._services.users.get(user.id)
            if reader is None or not (reader.setup_complete and reader.active):
                continue
            if reader.next_due_at is not None:
                moment = reader.next_due_at
                due.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        return min(due, default=None)

    def _run_job_now(self, name: str) -> None:
        """Run a JobQueue job's callback now, on the bot's loop, and wait for it."""
        application, loop = self._application, self._loop
        if application is None or loop is None or application.job_queue is None:
            return
        for job in application.job_queue.get_jobs_by_name(name):
            asyncio.run_coroutine_threadsafe(job.run(application), loop).result(timeout=60)
