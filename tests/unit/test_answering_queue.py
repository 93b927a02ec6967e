"""The webhook's update queue: in webhook mode PTB's server awaits ``put``, so Telegram's POST is
answered only once the update processor is done with the update (or after ``answer_within``);
polling puts without waiting."""

from __future__ import annotations

import asyncio
import logging

import pytest
from telegram import Update

from bot.webhook import AnsweringQueue


def update(update_id: int) -> Update:
    return Update(update_id)


async def test_polling_puts_without_waiting() -> None:
    queue = AnsweringQueue()
    async with asyncio.timeout(1):
        await queue.put(update(1))
    assert queue.qsize() == 1


async def test_in_webhook_mode_put_returns_once_the_update_is_finished() -> None:
    queue = AnsweringQueue()
    queue.answer_after_handling(within=30)
    first, other = update(1), update(2)
    answering = asyncio.create_task(queue.put(first))
    assert await queue.get() is first  # the application took it; the POST is not answered yet
    queue.finished(other)  # another update's end answers nothing here
    done, _ = await asyncio.wait({answering}, timeout=0.3)
    assert not done
    queue.finished(first)
    async with asyncio.timeout(1):
        await answering


async def test_an_update_not_finished_in_time_is_answered_anyway(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = AnsweringQueue()
    queue.answer_after_handling(within=0.2)
    parked: list[int] = []

    async def park(update: Update) -> None:
        parked.append(update.update_id)

    queue.on_timeout = park
    with caplog.at_level(logging.WARNING):
        async with asyncio.timeout(2):
            await queue.put(update(3))
    assert "update 3 not handled within 0s: answering Telegram anyway" in caplog.text
    assert parked == [3], "answered without keeping the update for an adopter"
    queue.finished(update(3))  # late: harmless
