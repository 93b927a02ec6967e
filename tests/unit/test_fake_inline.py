"""The fake Bot API's inline mode is as strict as Telegram: answerInlineQuery's rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)
from telegram.error import BadRequest
from telegram.request import HTTPXRequest

from newsbot_testing.fakes.botapi import FakeBotAPI

USER = 42
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    request = HTTPXRequest(httpx_kwargs={"verify": False})
    async with Bot(fake.token, base_url=fake.base_url, request=request) as client:
        yield client


def last_error(fake: FakeBotAPI) -> str:
    return str(fake.errors[-1].response["description"])


def article(result_id: str, text: str = "<b>Story</b>", **extra: Any) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        result_id, "Story", InputTextMessageContent(text, parse_mode="HTML"), **extra
    )


def ask(fake: FakeBotAPI, query: str = "news", offset: str = "") -> str:
    return str(fake.user_sends_inline_query(USER, query, offset)["inline_query"]["id"])


async def test_an_answer_is_recorded_and_a_choice_posts_the_card(
    bot: Bot, fake: FakeBotAPI
) -> None:
    query_id = ask(fake)
    updates = await bot.get_updates()
    assert updates[-1].inline_query is not None and updates[-1].inline_query.query == "news"
    link = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url="https://t.me/x?start=s_1")]])
    await bot.answer_inline_query(
        query_id, [article("1", reply_markup=link)], cache_time=30, is_personal=True,
        next_offset="5",
    )  # fmt: skip
    answer = fake.inline_answer(query_id)
    assert answer is not None and answer["next_offset"] == "5" and answer["is_personal"] is True
    posted = fake.user_chooses_inline_result(USER, query_id, "1")
    assert posted.text == "Story" and posted.buttons[0][0]["url"] == "https://t.me/x?start=s_1"
    assert fake.updates[-1]["chosen_inline_result"]["result_id"] == "1"
    assert fake.unanswered_inline_queries() == []


@pytest.mark.parametrize(
    ("results", "options", "error"),
    [
        ([article(str(i)) for i in range(51)], {}, "RESULTS_TOO_MUCH"),
        ([article("1"), article("1")], {}, "RESULT_ID_DUPLICATE"),
        ([article("x" * 65)], {}, "RESULT_ID_INVALID"),
        ([article("1", "<b>unclosed")], {}, "can't parse entities"),
        ([article("1", "a & b")], {}, "can't parse entities"),
        ([article("1", "x" * 4097)], {}, "message is too long"),
        ([article("1", thumbnail_url="not a url")], {}, "PHOTO_THUMB_URL_INVALID"),
        ([article("1")], {"next_offset": "9" * 65}, "NEXT_OFFSET_INVALID"),
    ],
)  # fmt: skip
async def test_answers_telegram_refuses(
    bot: Bot, fake: FakeBotAPI, results: list[Any], options: dict[str, Any], error: str
) -> None:
    query_id = ask(fake)
    with pytest.raises(BadRequest):
        await bot.answer_inline_query(query_id, results, **options)
    assert error in last_error(fake)
    assert fake.inline_answer(query_id) is None


async def test_a_query_is_answered_once_in_time_and_must_exist(bot: Bot, fake: FakeBotAPI) -> None:
    with pytest.raises(BadRequest):
        await bot.answer_inline_query("123", [article("1")])
    assert last_error(fake) == QUERY_INVALID
    query_id = ask(fake)
    await bot.answer_inline_query(query_id, [article("1")])
    with pytest.raises(BadRequest):
        await bot.answer_inline_query(query_id, [article("1")])
    assert last_error(fake) == QUERY_INVALID
    late = ask(fake)
    fake.inline_answer_timeout = -1.0  # any answer is now too late
    with pytest.raises(BadRequest):
        await bot.answer_inline_query(late, [article("1")])
    assert last_error(fake) == QUERY_INVALID and len(fake.errors) == 3
