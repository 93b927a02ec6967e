"""The fake Bot API, driven through a real python-telegram-bot ``Bot`` over HTTP.

Handler tests trust the fake to fail exactly where Telegram fails, so every rule is checked
here through PTB's own request encoding and error mapping (BadRequest, Forbidden, RetryAfter).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram import Message as TgMessage
from telegram.constants import ZERO_DATE
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)
from telegram.request import HTTPXRequest

from newsbot_testing.fakes.botapi import Call, FakeBotAPI
from newsbot_testing.fakes.spec import load_methods

# PTB warns that RetryAfter.retry_after will become a timedelta; retry_seconds() handles both.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after`:telegram.warnings.PTBDeprecationWarning"
)

USER = 42
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


def plain_http() -> HTTPXRequest:
    """PTB's real request class; verify=False only skips loading the CA bundle (~40 ms per
    client), which plain http to 127.0.0.1 never uses."""
    return HTTPXRequest(httpx_kwargs={"verify": False})


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    client = Bot(
        fake.token, base_url=fake.base_url, request=plain_http(), get_updates_request=plain_http()
    )
    async with client:
        yield client


@pytest.fixture
def chat(fake: FakeBotAPI) -> int:
    """A private chat exists only once the user has written to the bot."""
    fake.user_sends_command(USER, "/start")
    return USER


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


def message_of(update: Update) -> TgMessage:
    assert update.message is not None
    return update.message


def query_of(update: Update) -> CallbackQuery:
    assert update.callback_query is not None
    return update.callback_query


def last_error(fake: FakeBotAPI) -> str:
    return str(fake.errors[-1].response["description"])


def retry_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def raw_post(fake: FakeBotAPI, method: str, **kwargs: Any) -> httpx.Response:
    """Requests PTB would never send (missing parameters, JSON bodies, bad URLs)."""
    return httpx.post(f"{fake.base_url}{fake.token}/{method}", verify=False, **kwargs)


# -- transport, auth, schema --------------------------------------------------------------


async def test_get_me_describes_the_bot_from_the_token(bot: Bot, fake: FakeBotAPI) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        123456,
        True,
        "newsbot_test_bot",
        "NewsBot Test",
    )
    assert fake.calls_to("getMe")[-1].status == 200


async def test_wrong_token_is_unauthorized(fake: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.base_url, request=plain_http()):
            pass
    assert (fake.errors[-1].status, last_error(fake)) == (401, "Unauthorized")


def test_every_vendored_method_is_implemented() -> None:
    """Regenerating botapi_methods.json with a new method must come with its implementation."""
    assert all(hasattr(FakeBotAPI, f"_api_{name}") for name in load_methods())
    assert len(load_methods()) == 21  # the 17 first, copyMessage, setWebhook, getWebhookInfo,
    # answerInlineQuery


def test_unknown_method_and_file_urls_are_404(fake: FakeBotAPI) -> None:
    response = raw_post(fake, "sendDice", data={"chat_id": "1"})
    assert (response.status_code, response.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    port_root = fake.base_url.removesuffix("/bot")
    file_url = f"{port_root}/file/bot{fake.token}/photos/1.jpg"
    assert httpx.get(file_url, verify=False).status_code == 404


@pytest.mark.parametrize(
    ("method", "data", "description"),
    [
        ("sendMessage", {"chat_id": "42"}, "Bad Request: message text is empty"),
        ("sendMessage", {"text": "hi"}, "Bad Request: chat_id is empty"),
        ("deleteMessage", {"chat_id": "42"}, "Bad Request: message identifier is not specified"),
        ("answerCallbackQuery", {}, 'Bad Request: parameter "callback_query_id" is required'),
        ("sendMessage", {"chat_id": "42", "text": "x", "reply_markup": "{"},
         "Bad Request: can't parse reply keyboard markup JSON object"),
    ],
)  # fmt: skip
def test_missing_or_malformed_parameters(
    fake: FakeBotAPI, chat: int, method: str, data: dict[str, str], description: str
) -> None:
    response = raw_post(fake, method, data=data)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error_code": 400, "description": description}


def test_json_body_and_case_insensitive_method_are_accepted(fake: FakeBotAPI, chat: int) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    response = raw_post(
        fake, "SENDMESSAGE", json={"chat_id": chat, "text": "hi", "reply_markup": markup}
    )
    assert response.json()["result"]["reply_markup"] == markup
    assert fake.calls[-1].method == "sendMessage"


async def test_unknown_parameters_are_ignored(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    await bot.send_message(chat, "hi", api_kwargs={"no_such_option": True})
    assert fake.calls_to("sendMessage")[-1].params["no_such_option"] == "true"
    assert fake.errors == []


async def test_string_parameters_that_look_like_json_stay_strings(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    """PTB sends str values raw and everything else JSON-encoded; only the schema can tell."""
    await bot.send_message(chat, "[1, 2]", disable_notification=True)
    params = fake.calls_to("sendMessage")[-1].params
    assert (params["text"], params["disable_notification"]) == ("[1, 2]", True)


# -- sending -------------------------------------------------------------------------------


async def test_send_message_to_unknown_chat(bot: Bot, fake: FakeBotAPI) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(777, "hello?")
    assert last_error(fake) == "Bad Request: chat not found"


async def test_sent_html_message_is_recorded_as_the_user_sees_it(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    sent = await bot.send_message(
        chat,
        "<b>Top story</b> &amp; more",
        parse_mode="HTML",
        reply_markup=keyboard([("Read", "read:1"), ("Skip", "skip:1")]),
    )
    message = fake.last_message(chat)
    assert message is not None
    assert (message.message_id, message.text, message.html) == (
        sent.message_id,
        "Top story & more",
        "<b>Top story</b> &amp; more",
    )
    assert [b["callback_data"] for b in message.buttons[0]] == ["read:1", "skip:1"]
    assert sent.entities[0].type == "bold" and sent.text == "Top story & more"


async def test_message_ids_grow_per_chat_and_are_shared_with_the_user(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    first = await bot.send_message(chat, "one")
    fake.user_sends_text(chat, "two")
    third = await bot.send_message(chat, "three")
    assert (first.message_id, third.message_id) == (2, 4)
    assert [m.text for m in fake.chat_messages(chat)] == ["one", "three"]


async def test_html_errors_use_telegrams_words(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    with pytest.raises(BadRequest, match="unsupported start tag"):
        await bot.send_message(chat, "Hello world <div>x</div>", parse_mode="HTML")
    assert last_error(fake) == (
        'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 12'
    )
    with pytest.raises(BadRequest):
        await bot.send_message(chat, "Q&A", parse_mode="HTML")
    assert 'Unescaped "&" at byte offset 1' in last_error(fake)
    assert fake.chat_messages(chat) == []


@pytest.mark.parametrize(
    ("text", "parse_mode", "description"),
    [
        ("", None, "Bad Request: message text is empty"),
        (" \n ", None, "Bad Request: message text is empty"),
        ("<b> </b>", "HTML", "Bad Request: message text is empty"),
        ("x" * 4097, None, "Bad Request: message is too long"),
        ("😀" * 2049, None, "Bad Request: message is too long"),
        ("x", "MarkdownV2", "Bad Request: can't parse entities: the fake only implements HTML, "
         "not markdownv2"),
        ("x", "Shouty", "Bad Request: unsupported parse_mode"),
    ],
)  # fmt: skip
async def test_text_limits(
    bot: Bot, fake: FakeBotAPI, chat: int, text: str, parse_mode: str | None, description: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(chat, text, parse_mode=parse_mode)
    assert last_error(fake) == description


async def test_length_limit_counts_utf16_after_parsing(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    await bot.send_message(chat, "😀" * 2048)
    await bot.send_message(chat, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(fake.chat_messages(chat)) == 2 and fake.errors == []


@pytest.mark.parametrize(
    ("rows", "description"),
    [
        ([[{"text": "a", "callback_data": "x" * 65}]], "Bad Request: BUTTON_DATA_INVALID"),
        ([[{"text": "a", "callback_data": "é" * 33}]], "Bad Request: BUTTON_DATA_INVALID"),
        ([[{"text": "a", "url": "ftp://example.com"}]], "Bad Request: BUTTON_URL_INVALID"),
        ([[{"text": "a", "url": "javascript:alert(1)"}]], "Bad Request: BUTTON_URL_INVALID"),
        ([[{"text": "a", "callback_data": ""}]], "Bad Request: can't parse inline keyboard "
         "button: Text buttons are unallowed in the inline keyboard"),
        ([[{"callback_data": "x"}]], "Bad Request: can't parse inline keyboard button: Field "
         "\"text\" must be of type String"),
        ([[{"text": "a", "callback_data": "x", "url": "https://e.com"}]], "Bad Request: can't "
         "parse inline keyboard button: exactly one of the optional fields must be used, got "
         "url, callback_data"),
        ([[{"text": str(i), "callback_data": str(i)} for i in range(9)]],
         "Bad Request: reply markup is too long"),
        ([[{"text": str(i), "callback_data": str(i)}] for i in range(101)],
         "Bad Request: reply markup is too long"),
    ],
)  # fmt: skip
async def test_inline_keyboard_limits(
    bot: Bot, fake: FakeBotAPI, chat: int, rows: list[list[dict[str, str]]], description: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(chat, "pick", api_kwargs={"reply_markup": {"inline_keyboard": rows}})
    assert last_error(fake) == description


async def test_keyboard_at_the_limits_is_accepted(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    rows = [[(f"{r}.{c}", f"{r}.{c}") for c in range(8)] for r in range(12)] + [[("x", "é" * 32)]]
    await bot.send_message(chat, "big", reply_markup=keyboard(*rows))
    message = fake.last_message(chat)
    assert message is not None and sum(len(row) for row in message.buttons) == 97


async def test_send_photo_upload_and_caption(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    sent = await bot.send_photo(
        chat, PNG, caption="<i>Map</i> of &lt;places&gt;", parse_mode="HTML"
    )
    assert sent.caption == "Map of <places>" and sent.photo[-1].file_size == len(PNG)
    again = await bot.send_photo(chat, sent.photo[-1].file_id)
    assert [m.kind for m in fake.chat_messages(chat)] == ["photo", "photo"]
    assert again.caption is None
    upload = fake.calls_to("sendPhoto")[0].params["photo"]
    assert upload.data == PNG


@pytest.mark.parametrize(
    ("photo", "caption", "description"),
    [
        (b"not an image", None, "Bad Request: IMAGE_PROCESS_FAILED"),
        ("no-such-file-id", None, "Bad Request: wrong file identifier/HTTP URL specified"),
        (PNG, "c" * 1025, "Bad Request: message caption is too long"),
    ],
)
async def test_send_photo_refusals(
    bot: Bot, fake: FakeBotAPI, chat: int, photo: bytes | str, caption: str | None, description: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_photo(chat, photo, caption=caption)
    assert last_error(fake) == description


async def test_chat_action(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    assert await bot.send_chat_action(chat, "typing") is True
    with pytest.raises(BadRequest, match="Wrong parameter action in request"):
        await bot.send_chat_action(chat, "dancing")


# -- editing and deleting ---------------------------------------------------------------


async def test_edit_text_updates_state_and_drops_keyboard_when_omitted(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    sent = await bot.send_message(chat, "v1", reply_markup=keyboard([("Next", "next")]))
    await bot.edit_message_text("<b>v2</b>", chat, sent.message_id, parse_mode="HTML")
    message = fake.last_message(chat)
    assert message is not None
    assert (message.text, message.html, message.edits, message.buttons) == (
        "v2",
        "<b>v2</b>",
        1,
        [],
    )


async def test_identical_edit_is_not_modified(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    markup = keyboard([("Next", "next")])
    sent = await bot.send_message(chat, "<b>same</b>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<strong>same</strong>", chat, sent.message_id, parse_mode="HTML", reply_markup=markup
        )
    assert last_error(fake) == NOT_MODIFIED
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(chat, sent.message_id, reply_markup=markup)
    await bot.edit_message_text("same", chat, sent.message_id, reply_markup=markup)  # bold gone
    assert fake.chat_messages(chat)[0].edits == 1


async def test_edit_reply_markup_only(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    sent = await bot.send_message(chat, "pick", reply_markup=keyboard([("A", "a")]))
    await bot.edit_message_reply_markup(chat, sent.message_id, reply_markup=keyboard([("B", "b")]))
    message = fake.last_message(chat)
    assert message is not None and (message.text, message.buttons[0][0]["callback_data"]) == (
        "pick",
        "b",
    )


async def test_edit_refusals(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    photo = await bot.send_photo(chat, PNG, caption="cap")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat, 999)
    with pytest.raises(BadRequest, match="There is no text in the message to edit"):
        await bot.edit_message_text("x", chat, photo.message_id)
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", chat, 1)  # the user's /start
    await bot.edit_message_caption(chat, photo.message_id, caption="new cap")
    assert fake.chat_messages(chat)[0].text == "new cap"


async def test_delete_message(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    sent = await bot.send_message(chat, "bye")
    assert await bot.delete_message(chat, sent.message_id) is True
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(chat, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("again", chat, sent.message_id)
    message = fake.last_message(chat)
    assert message is not None and message.deleted


# -- blocking, flood control, scripted failures ------------------------------------------


async def test_blocked_user(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    sent = await bot.send_message(chat, "hi")
    fake.block_bot(chat)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat, "still there?")
    with pytest.raises(Forbidden):
        await bot.edit_message_text("edited", chat, sent.message_id)
    assert last_error(fake) == "Forbidden: bot was blocked by the user"
    fake.user_sends_command(chat, "/start")  # writing to the bot again means it is unblocked
    await bot.send_message(chat, "welcome back")


class ManualClock:
    """Frozen time for flood-control tests, so they don't depend on the machine's speed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rate_limit_per_chat(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    fake.clock = clock = ManualClock()
    fake.set_rate_limit(per_chat_per_second=0.5, global_per_second=None)
    await bot.send_message(chat, "first")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chat, "second")
    assert retry_seconds(caught.value) == 2
    assert fake.errors[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    clock.now += 1.5
    with pytest.raises(RetryAfter) as caught:
        await bot.edit_message_text("edited", chat, 2)
    assert retry_seconds(caught.value) == 1  # never less than one second
    clock.now += 0.5
    await bot.send_message(chat, "second, after waiting")
    await bot.send_chat_action(chat, "typing")  # not a message: not limited


async def test_rate_limit_global(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    fake.clock = ManualClock()
    fake.user_sends_text(7, "hi")
    fake.set_rate_limit(per_chat_per_second=None, global_per_second=2)
    await bot.send_message(chat, "a")
    await bot.send_message(7, "b")
    with pytest.raises(RetryAfter):
        await bot.send_message(7, "c")
    fake.set_rate_limit(None, None)
    await bot.send_message(7, "d")
    assert [c.status for c in fake.calls_to("sendMessage")] == [200, 200, 429, 200]


async def test_fail_next_scripts_errors(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    fake.fail_next("sendMessage", 502, "Bad Gateway", count=2)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(chat, "x")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chat, "x")
    assert retry_seconds(caught.value) == 7
    await bot.send_message(chat, "finally")
    assert [c.status for c in fake.calls_to("sendMessage")] == [502, 502, 429, 200]


async def test_fault_switches_late_answers_random_5xx_and_early_retries(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    fake.delay_answers(0.3)
    started = time.monotonic()
    await bot.send_message(chat, "late")
    assert time.monotonic() - started >= 0.3
    assert fake.last_message(chat).text == "late"  # type: ignore[union-attr]
    fake.delay_answers(0)
    fake.fail_randomly(0.5)
    for i in range(20):
        with contextlib.suppress(NetworkError):
            await bot.send_message(chat, str(i))
    failed = [c.status for c in fake.calls_to("sendMessage") if c.status != 200]
    assert 3 <= len(failed) <= 17 and set(failed) == {502}
    fake.fail_randomly(0)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    with pytest.raises(RetryAfter):
        await bot.send_message(chat, "flooded")
    fake.early_retry_grace = 0.0  # nothing of ours is on the wire: any send now is too early
    await bot.send_message(chat, "too early")
    assert [c.params["text"] for c in fake.inside_retry_after] == ["too early"]


# -- updates and callbacks -------------------------------------------------------------


async def test_get_updates_returns_queued_updates_and_honours_offset(
    bot: Bot, fake: FakeBotAPI
) -> None:
    sent = fake.user_sends_command(USER, "/start", "deep-link")
    fake.user_sends_text(USER, "hello", first_name="Bea", language_code="de")
    first = await bot.get_updates(limit=1)
    assert first[0].update_id == sent["update_id"]
    start = message_of(first[0])
    assert (start.text, start.entities[0].type) == ("/start deep-link", "bot_command")
    rest = await bot.get_updates(offset=first[0].update_id + 1)
    assert [message_of(u).text for u in rest] == ["hello"]
    user = message_of(rest[0]).from_user
    assert user is not None and user.language_code == "de"
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()


async def test_long_poll_wakes_up_when_an_update_arrives(bot: Bot, fake: FakeBotAPI) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await fake.wait_for_async(lambda: fake.long_polls_waiting == 1)
    started = time.monotonic()
    fake.user_sends_text(USER, "ping")
    updates = await asyncio.wait_for(poll, timeout=5)
    assert [message_of(u).text for u in updates] == ["ping"]
    assert time.monotonic() - started < 5


async def test_long_poll_times_out_empty(bot: Bot, fake: FakeBotAPI) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_allowed_updates_filters_new_updates(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    pending = await bot.get_updates(allowed_updates=["message"])
    sent = await bot.send_message(chat, "pick", reply_markup=keyboard([("A", "a")]))
    fake.user_presses_button(chat, sent.message_id, "a")
    assert await bot.get_updates(offset=pending[-1].update_id + 1) == ()
    assert "callback_query" in fake.dropped_updates[-1]


async def test_drop_pending_updates(bot: Bot, fake: FakeBotAPI) -> None:
    fake.user_sends_text(USER, "old")
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert await bot.get_updates() == ()
    assert await bot.close() is True and await bot.log_out() is True


async def test_button_press_and_answer_rules(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    sent = await bot.send_message(chat, "pick", reply_markup=keyboard([("A", "a:1")]))
    press = fake.user_presses_button(chat, sent.message_id, "a:1")
    query_id = press["callback_query"]["id"]
    updates = await bot.get_updates()
    query = query_of(updates[-1])
    assert (query.id, query.data) == (query_id, "a:1")
    assert isinstance(query.message, TgMessage) and query.message.message_id == sent.message_id
    assert query.message.reply_markup == sent.reply_markup
    assert [q["id"] for q in fake.unanswered_callbacks()] == [query_id]
    assert await bot.answer_callback_query(query_id, text="Saved") is True
    assert fake.unanswered_callbacks() == []
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("no-such-query")
    assert last_error(fake) == QUERY_INVALID


async def test_late_answer_is_refused(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    sent = await bot.send_message(chat, "pick", reply_markup=keyboard([("A", "a")]))
    fake.clock = clock = ManualClock()
    press = fake.user_presses_button(chat, sent.message_id, "a")
    clock.now += 15.5  # Telegram gives the bot about 15 seconds
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(press["callback_query"]["id"])
    assert len(fake.unanswered_callbacks()) == 1


async def test_pressing_a_button_the_bot_did_not_send_is_a_test_error(
    bot: Bot, fake: FakeBotAPI, chat: int
) -> None:
    sent = await bot.send_message(chat, "pick", reply_markup=keyboard([("A", "a")]))
    with pytest.raises(AssertionError, match="has no button with 'b'"):
        fake.user_presses_button(chat, sent.message_id, "b")
    with pytest.raises(AssertionError, match="not one the bot sent"):
        fake.user_presses_button(chat, 999, "a")
    assert fake.updates[-1].get("callback_query") is None


async def test_forged_press_on_missing_message(bot: Bot, fake: FakeBotAPI) -> None:
    press = fake.user_presses_button(USER, 12345, b"\xff\x00garbage" * 10, forge=True)
    updates = await bot.get_updates()
    query = query_of(updates[-1])
    assert query.data == press["callback_query"]["data"] == "\xff\x00garbage" * 10
    assert query.message is not None and not query.message.is_accessible
    assert (query.message.date, query.message.message_id) == (ZERO_DATE, 12345)


# -- commands and menu ----------------------------------------------------------------


async def test_commands_are_stored_per_language(bot: Bot, fake: FakeBotAPI) -> None:
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("news", "News")])
    await bot.set_my_commands([BotCommand("news", "Nachrichten")], language_code="de")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "news"]
    assert fake.commands("de") == [{"command": "news", "description": "Nachrichten"}]
    await bot.delete_my_commands(language_code="de")
    assert fake.commands("de") == [] and len(fake.commands()) == 2


@pytest.mark.parametrize(
    ("commands", "language_code", "description"),
    [
        ([BotCommand("Start", "x")], None, "Bad Request: BOT_COMMAND_INVALID"),
        ([BotCommand("/start", "x")], None, "Bad Request: BOT_COMMAND_INVALID"),
        ([BotCommand("a" * 33, "x")], None, "Bad Request: BOT_COMMAND_INVALID"),
        ([BotCommand("start", " ")], None, "Bad Request: command description must be non-empty"),
        ([BotCommand("start", "x" * 257)], None, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"),
        ([BotCommand(f"c{i}", "x") for i in range(101)], None,
         "Bad Request: BOT_COMMANDS_TOO_MUCH"),
        ([BotCommand("start", "x")], "en-US",
         "Bad Request: language_code must be a two-letter ISO 639-1 code or empty"),
    ],
)  # fmt: skip
async def test_command_limits(
    bot: Bot,
    fake: FakeBotAPI,
    commands: list[BotCommand],
    language_code: str | None,
    description: str,
) -> None:
    with pytest.raises(BadRequest):
        await bot.set_my_commands(commands, language_code=language_code)
    assert last_error(fake) == description


async def test_menu_button(bot: Bot, fake: FakeBotAPI) -> None:
    assert await bot.set_chat_menu_button() is True
    assert fake.menu_button() == {"type": "default"}
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.set_chat_menu_button(chat_id=555)


# -- test helpers --------------------------------------------------------------------


async def test_wait_for_call_and_after_index(bot: Bot, fake: FakeBotAPI, chat: int) -> None:
    await bot.send_message(chat, "one")
    mark = len(fake.calls)
    await bot.send_message(chat, "two")
    call = await fake.wait_for_call_async(
        "sendMessage", after=mark, predicate=lambda c: c.params["text"] == "two"
    )
    assert isinstance(call, Call) and call.response["result"]["text"] == "two"


def test_wait_for_timeout_explains_and_hides_the_token(fake: FakeBotAPI, chat: int) -> None:
    raw_post(fake, "sendMessage", data={"chat_id": str(chat), "text": "<x>", "parse_mode": "HTML"})
    with pytest.raises(AssertionError) as caught:
        fake.wait_for(lambda: False, timeout=0.1, message="a reply")
    report = str(caught.value)
    assert "a reply" in report and "sendMessage -> 400" in report
    assert fake.token not in report and fake.token not in repr(fake)


def test_response_bodies_are_plain_json(fake: FakeBotAPI, chat: int) -> None:
    response = raw_post(fake, "sendMessage", data={"chat_id": str(chat), "text": "ünï"})
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content)["result"]["text"] == "ünï"


async def test_a_polling_application_round_trip(fake: FakeBotAPI) -> None:
    """The way handler tests use the fake: a real Application long-polling it."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(
            "<b>Welcome</b>", reply_markup=keyboard([("Topics", "topics")])
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"You chose {query.data}")

    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .request(plain_http())
        .get_updates_request(plain_http())
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        fake.user_sends_command(USER, "/start")
        await fake.wait_for_async(lambda: fake.last_message(USER) is not None)
        welcome = fake.last_message(USER)
        assert welcome is not None and welcome.text == "Welcome"
        fake.user_presses_button(USER, welcome.message_id, "topics")
        await fake.wait_for_async(
            lambda: (
                fake.chat_messages(USER)[0].text == "You chose topics"
                and not fake.unanswered_callbacks()
            )
        )
        await app.updater.stop()
        await app.stop()
    assert fake.errors == []
