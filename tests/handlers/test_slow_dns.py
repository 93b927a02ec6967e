"""A slow resolver must not silence the bot.

Name lookups block a thread each (``getaddrinfo``), for as long as the resolver takes. The bot's
database work runs on threads too (``asyncio.to_thread``). Here every lookup of a feed or an
article page hangs, as many at once as the fetchers allow, and a reader sends /start: the
answer must come as usual (before the fix, sixteen feed lookups took all six threads of the
loop's default pool and nobody was answered until the resolver gave up)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest.fetch import Fetcher
from digest.full_story import make_page_fetcher
from newsbot_testing.fakes.botapi import FakeBotAPI
from tests.handlers.harness import RunningBot
from tests.handlers.news_catalog import news_bot_on
from tests.handlers.user import TelegramUser

HANGS = ".dns-hangs.test"
FEED_LOOKUPS = 16  # what one Fetcher lets run at once
GUARD_LOOKUPS = 8  # the URL guard's own pool (article pages)


class HungResolver:
    """``socket.getaddrinfo`` that hangs for names under :data:`HANGS` until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.stuck = 0
        self._lock = threading.Lock()

    def __call__(self, real: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(HANGS):
            return real(host, *args, **kwargs)
        with self._lock:
            self.stuck += 1
        self.release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[HungResolver]:
    hung = HungResolver()
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: hung(real, *a, **k))
    yield hung
    hung.release.set()


@pytest.fixture
def bot(fake: FakeBotAPI, db_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    with news_bot_on(fake, db_url, tmp_path) as running:
        yield running


def test_the_bot_answers_while_every_lookup_hangs(
    bot: RunningBot, fake: FakeBotAPI, resolver: HungResolver
) -> None:
    async def fetch_all() -> tuple[list[Fetcher], list[asyncio.Future[Any]]]:
        feeds, pages = Fetcher(), make_page_fetcher(allow_private_networks=False)
        tasks = [
            asyncio.ensure_future(feeds.fetch(f"http://feed{i}{HANGS}/rss")) for i in range(40)
        ]
        tasks += [
            asyncio.ensure_future(pages.fetch(f"https://page{i}{HANGS}/story")) for i in range(40)
        ]
        return [feeds, pages], tasks

    fetchers, tasks = bot.call(fetch_all)
    fake.wait_for(
        lambda: resolver.stuck >= FEED_LOOKUPS + GUARD_LOOKUPS,
        message="the fetchers' lookups to hang",
    )
    reply = TelegramUser(fake, 4242, "Ann").send("/start")
    assert reply.text, "the reader is answered while the lookups hang"
    assert resolver.stuck == FEED_LOOKUPS + GUARD_LOOKUPS, "lookups stay bounded"
    resolver.release.set()

    async def settle() -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        for fetcher in fetchers:
            await fetcher.aclose()

    bot.call(settle)
