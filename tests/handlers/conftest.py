"""Handler tests: the real bot against the fake Bot API, driven as a Telegram user would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsbot_testing.fakes.botapi import FakeBotAPI
from tests.handlers.harness import RunningBot
from tests.handlers.user import TelegramUser


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as api:
        yield api


@pytest.fixture
def bot(fake: FakeBotAPI, db_url: str) -> Iterator[RunningBot]:
    """The bot, running; after the test every press was answered and Telegram rejected nothing."""
    with RunningBot(fake, db_url) as running:
        yield running
        fake.wait_for(lambda: not fake.unanswered_callbacks(), message="every press answered")
    assert [c for c in fake.errors if not _tolerated(c.response)] == [], fake.describe()


def _tolerated(response: dict[str, object]) -> bool:
    """Removing the keyboard of a menu that is already inert is a harmless no-op."""
    return "message is not modified" in str(response.get("description", ""))


@pytest.fixture
def ada(fake: FakeBotAPI, bot: RunningBot) -> TelegramUser:
    return TelegramUser(fake, 1001, "Ada")


@pytest.fixture
def bob(fake: FakeBotAPI, bot: RunningBot) -> TelegramUser:
    return TelegramUser(fake, 2002, "Bob", language_code="de")
