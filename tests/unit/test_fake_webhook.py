"""The fake Bot API's webhook side, driven through a real PTB ``Bot`` and a real HTTP receiver:
Telegram's setWebhook rules, getUpdates refused while a webhook is set, delivery by POST."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict

from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.fakes.webhooks import SECRET_HEADER


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records each POST and answers ``statuses`` in turn
    (then 200)."""

    def __init__(
        self,
        statuses: list[int] | None = None,
        *,
        port: int = 0,
        gate: threading.Event | None = None,
    ) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), json.loads(body)))
                if gate is not None:
                    gate.wait(10)  # a handler at work: the answer waits for it
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.mark.parametrize(
    ("url", "secret", "description"),
    [
        ("http://example.com/hook", None, "An HTTPS URL must be provided for webhook"),
        ("https://example.com:8080/hook", None, "only on ports 80, 88, 443 or 8443"),
        ("https://127.0.0.1/hook", None, "IP address 127.0.0.1 is reserved"),
        ("https://example.com/hook", "no spaces", "secret token contains unallowed characters"),
        ("https://example.com/hook", "x" * 257, "secret token contains unallowed characters"),
    ],
)
async def test_set_webhook_is_validated_like_telegram(
    fake: FakeBotAPI, url: str, secret: str | None, description: str
) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        with pytest.raises(BadRequest, match=f"(?i){description}"):  # PTB lowercases it
            await bot.set_webhook(url, secret_token=secret)
    assert fake.webhook_info()["url"] == ""


async def test_get_updates_is_refused_while_a_webhook_is_set(fake: FakeBotAPI) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        assert await bot.set_webhook(
            "https://example.com/hook", secret_token="s3cret_-", allowed_updates=["message"]
        )
        info = await bot.get_webhook_info()
        assert (info.url, info.allowed_updates) == ("https://example.com/hook", ("message",))
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates(timeout=0)
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.get_updates(timeout=0) == ()


async def test_queued_updates_are_posted_with_the_secret_and_retried(fake: FakeBotAPI) -> None:
    receiver = Receiver(statuses=[500])
    fake.allow_local_http_webhooks = True
    try:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.set_webhook(receiver.url, secret_token="s3cret")
        update = fake.user_sends_command(42, "/start")
        fake.wait_for(lambda: fake.webhook_info()["pending_update_count"] == 0)
        assert [r[1] for r in receiver.requests] == [update, update]  # a 500, then again
        assert all(r[0][SECRET_HEADER] == "s3cret" for r in receiver.requests)
        assert all(r[0]["Content-Type"] == "application/json" for r in receiver.requests)
        assert [d.status for d in fake.webhook_deliveries] == [500, 200]
        assert "500" in fake.webhook_info()["last_error_message"]
    finally:
        receiver.close()


def texts(receiver: Receiver) -> list[tuple[int, str]]:
    return [(r[1]["message"]["chat"]["id"], r[1]["message"]["text"]) for r in receiver.requests]


async def test_updates_go_out_in_parallel_but_in_order_within_a_chat(fake: FakeBotAPI) -> None:
    gate = threading.Event()
    receiver = Receiver(gate=gate)
    fake.allow_local_http_webhooks = True
    try:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.set_webhook(receiver.url)
        fake.user_sends_command(1, "/start")
        fake.user_sends_command(1, "/help")
        fake.user_sends_command(2, "/start")
        fake.wait_for(lambda: len(receiver.requests) == 2)
        assert sorted(texts(receiver)) == [(1, "/start"), (2, "/start")], "chat 1 waits"
        gate.set()
        fake.wait_for(lambda: fake.webhook_info()["pending_update_count"] == 0)
        assert [t for t in texts(receiver) if t[0] == 1] == [(1, "/start"), (1, "/help")]
    finally:
        gate.set()
        receiver.close()


async def test_a_refused_connection_is_retried_until_a_receiver_answers(fake: FakeBotAPI) -> None:
    probe = Receiver()
    port = probe.server.server_address[1]
    probe.close()  # nothing listens on this port now
    fake.allow_local_http_webhooks = True
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
    update = fake.user_sends_command(3, "/start")
    fake.wait_for(lambda: len(fake.webhook_deliveries) >= 2)
    assert all(d.status == 0 and "Connection failed" in d.error for d in fake.webhook_deliveries)
    receiver = Receiver(port=port)
    try:
        fake.wait_for(lambda: fake.webhook_info()["pending_update_count"] == 0)
        assert [r[1] for r in receiver.requests] == [update]
    finally:
        receiver.close()
