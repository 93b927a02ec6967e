"""The chat page's server over real HTTP: a PTB ``Bot`` talks to the fake Bot API, the page's
API acts for simulated users, and the event stream reports what the bot did."""

from __future__ import annotations

import http.client
import json
import queue
import threading
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from matplotlib.figure import Figure
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from newsbot_testing.fakes.botapi import FakeBotAPI
from sandbox.hub import Hub
from sandbox.web import CSP, PageServer

BEN = 1001


class FixedClock:
    """Controls the page needs; the clock itself is tested with the runner."""

    def clock_state(self) -> dict[str, Any]:
        return {"now": "2026-12-04T08:00:00+00:00", "offset_seconds": 0.0, "next_due": None}

    def advance(self, *, hours: float | None, next_slot: bool) -> dict[str, Any]:
        return self.clock_state() | {"hours": hours, "next_slot": next_slot}


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as running:
        yield running


@pytest.fixture
def page(fake: FakeBotAPI) -> Iterator[PageServer]:
    server = PageServer(Hub(fake), FixedClock(), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def request(
    page: PageServer, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    connection.request(method, path, body=data, headers=headers)
    answer = connection.getresponse()
    result = answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    connection.close()
    return result


class EventStream:
    """GET /api/events in a thread; frames arrive on a queue as (event, data)."""

    def __init__(self, page: PageServer) -> None:
        self.frames: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._connection = http.client.HTTPConnection("127.0.0.1", page.port, timeout=30)
        self._connection.request("GET", "/api/events")
        self._answer = self._connection.getresponse()
        assert self._answer.status == 200
        assert self._answer.getheader("Content-Type", "").startswith("text/event-stream")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        kind = ""
        for raw in self._answer:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                self.frames.put((kind, json.loads(line.removeprefix("data: "))))

    def next(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame of ``kind`` (others are skipped)."""
        while True:
            got, data = self.frames.get(timeout=timeout)
            if got == kind:
                return data


async def test_the_page_sees_the_bots_sends_edits_toasts_and_photos(
    fake: FakeBotAPI, page: PageServer
) -> None:
    events = EventStream(page)
    status, _, body = request(page, "POST", "/api/send", {"user": BEN, "text": "/start"})
    assert status == 200 and json.loads(body)["text"] == "/start"
    assert events.next("message")["from_bot"] is False

    hostile = '<b>Hi</b> &lt;img src=x onerror=alert(1)&gt; <a href="https://example.org">l</a>'
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Press", callback_data="p")]])
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        sent = await bot.send_message(
            BEN, hostile, parse_mode=ParseMode.HTML, reply_markup=keyboard,
            disable_web_page_preview=True,
        )  # fmt: skip
        shown = events.next("message")
        assert shown["html"] == hostile, "the page gets the bot's markup verbatim to render"
        assert shown["from_bot"] and shown["preview"]["disabled"]
        assert shown["inline_keyboard"] == [[{"text": "Press", "callback_data": "p"}]]

        press = {"user": BEN, "message_id": sent.message_id, "data": "p"}
        status, _, _ = request(page, "POST", "/api/press", press)
        assert status == 200
        pending = fake.unanswered_callbacks()
        assert len(pending) == 1 and pending[0]["from"]["id"] == BEN
        await bot.answer_callback_query(pending[0]["id"], text="Done!")
        assert events.next("toast") == {"chat_id": BEN, "text": "Done!", "show_alert": False}

        await bot.edit_message_text("<i>edited</i>", BEN, sent.message_id, parse_mode="HTML")
        edited = events.next("message")
        assert edited["message_id"] == sent.message_id and edited["edits"] == 1
        assert edited["inline_keyboard"] == [], "an edit without reply_markup drops the keyboard"

        png = BytesIO()
        Figure(figsize=(2, 1)).savefig(png, format="png")
        await bot.send_photo(BEN, png.getvalue(), caption="<b>chart</b>", parse_mode="HTML")
        photo = events.next("message")
        assert photo["kind"] == "photo" and photo["html"] == "<b>chart</b>"
        status, headers, data = request(page, "GET", photo["photo"])
        assert status == 200 and headers["content-type"] == "image/png"
        assert data == png.getvalue()

        await bot.send_message(BEN, "Pick", reply_markup=ReplyKeyboardMarkup([["A", "B"]]))
        assert events.next("message")["reply_keyboard"] == [[{"text": "A"}, {"text": "B"}]]
        await bot.send_message(BEN, "Gone", reply_markup=ReplyKeyboardRemove())
        assert events.next("message")["remove_keyboard"] is True

        await bot.set_my_commands([("start", "Start")], language_code="fr")
        assert events.next("commands") == {"language": "fr"}

        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(BEN, "<blink>no</blink>", parse_mode="HTML")
        refused = events.next("refused")
        assert refused["method"] == "sendMessage" and refused["status"] == 400

    status, _, body = request(page, "GET", "/api/state")
    state = json.loads(body)
    assert [m["message_id"] for m in state["chats"][str(BEN)]] == [1, 2, 3, 4, 5]  # not the refused
    status, _, body = request(page, "GET", "/api/commands?language=fr")
    assert json.loads(body)["commands"] == [{"command": "start", "description": "Start"}]


def test_pressing_a_button_the_message_does_not_offer_is_refused(
    fake: FakeBotAPI, page: PageServer
) -> None:
    request(page, "POST", "/api/send", {"user": BEN, "text": "hello"})
    status, _, body = request(page, "POST", "/api/press",
                              {"user": BEN, "message_id": 1, "data": "forged"})  # fmt: skip
    assert status == 400 and "not one the bot sent" in json.loads(body)["error"]
    assert fake.unanswered_callbacks() == []


def test_new_users_take_admin_or_reader_ids(page: PageServer) -> None:
    status, _, body = request(page, "POST", "/api/users",
                              {"name": "Dana", "language": "de", "admin": True})  # fmt: skip
    dana = json.loads(body)
    assert status == 200 and dana["admin"] and 9001 < dana["id"] < 9100
    status, _, body = request(page, "POST", "/api/users", {"name": "Eve", "language": "en"})
    assert not json.loads(body)["admin"] and json.loads(body)["id"] < 9000


def test_only_this_servers_host_and_json_writes_are_accepted(page: PageServer) -> None:
    status, headers, body = request(page, "GET", "/")
    assert status == 200 and b"newsbot sandbox" in body
    assert headers["content-security-policy"] == CSP and "script-src 'self'" in CSP
    assert request(page, "GET", "/", Host="evil.example")[0] == 421  # DNS rebinding
    assert request(page, "GET", "/", Host=f"evil.example:{page.port}")[0] == 421
    assert request(page, "GET", "/static/../runner.py")[0] == 404
    assert request(page, "GET", "/static/render.js")[0] == 200
    connection = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    connection.request("POST", "/api/send", body=b"user=1001&text=/start",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert connection.getresponse().status == 415  # a cross-site form cannot post JSON
    connection.close()
    assert request(page, "POST", "/api/clock", {"hours": 3})[0] == 200
