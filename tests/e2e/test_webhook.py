"""`newsbot run --webhook` as real subprocesses; the fake Bot API POSTs updates to them over HTTP,
as Telegram does: /start, setWebhook's parameters, the secret on every request, an update
delivered twice (to one receiver, to two receivers sharing a database), back to polling."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import ALLOWED_UPDATES, build_bot, build_services
from bot.settings import Settings
from bot.webhook import derive_secret
from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.launcher import newsbot
from tests.handlers.user import TelegramUser

PATH = "/telegram/updates"
WELCOME = "Choose your primary country"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, timeout: float = 60.0) -> None:
    """Block until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port} after {timeout}s") from None
            time.sleep(0.05)  # the receiver is starting up; try the port again


@contextmanager
def receiver(
    fake: FakeBotAPI, db_url: str, log: Path, *, public_port: int, port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``newsbot run --webhook`` for the public URL on ``public_port`` (where the fake sends
    updates: the load balancer), listening on ``port`` (default: the same), receive-only."""
    port = port or public_port
    args = [
        "--webhook", f"http://127.0.0.1:{public_port}{PATH}",
        "--listen", f"127.0.0.1:{port}", "--receive-only",
    ]  # fmt: skip
    with newsbot(fake, db_url, log, args=args, LOG_LEVEL="DEBUG") as process:
        wait_listening(port)
        yield process


def webhook_fake() -> FakeBotAPI:
    fake = FakeBotAPI()
    fake.allow_local_http_webhooks = True  # a receiver on 127.0.0.1 over plain HTTP
    return fake


def sends_to(fake: FakeBotAPI, chat_id: int) -> list[str]:
    return [
        str(c.params["text"])
        for c in fake.calls_to("sendMessage")
        if c.params.get("chat_id") == chat_id and c.status == 200
    ]


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def update_for(fake: FakeBotAPI, user_id: int, text: str) -> dict[str, Any]:
    """The update the fake generated for the user's message ``text``."""
    return next(
        u for u in reversed(fake.updates) if u.get("message", {}).get("text") == text
        and u["message"]["chat"]["id"] == user_id
    )  # fmt: skip


def test_start_through_the_webhook_is_answered_once(tmp_path: Path, db_url: str) -> None:
    log = tmp_path / "receiver.log"
    with webhook_fake() as fake:
        port = free_port()
        url = f"http://127.0.0.1:{port}{PATH}"
        with receiver(fake, db_url, log, public_port=port) as process:
            set_call = fake.wait_for_call("setWebhook", timeout=30)
            user = TelegramUser(fake, 4242, "Grace")
            assert WELCOME in user.send("/start").text
            start = update_for(fake, 4242, "/start")
            welcome = next(c for c in fake.calls_to("sendMessage") if WELCOME in c.params["text"])
            fake.wait_for(lambda: fake.webhook_info()["pending_update_count"] == 0)
            (answer,) = [d for d in fake.webhook_deliveries if d.update_id == start["update_id"]]
            assert answer.status == 200 and answer.at >= welcome.at, "answered before handled"
            assert fake.post_to_webhook(start) == 200, "Telegram delivers it again"
            assert "/settings" in user.send("/help").text  # handled after the copy: in order
            replies = sends_to(fake, 4242)
            assert len(replies) == 2 and WELCOME in replies[0], replies
            stop(process)

        assert set_call.params["url"] == url
        assert set_call.params["secret_token"] == derive_secret(fake.token)
        assert set_call.params["allowed_updates"] == ALLOWED_UPDATES
        assert not set_call.params.get("drop_pending_updates")
        assert {d.secret for d in fake.webhook_deliveries} == {derive_secret(fake.token)}
        assert not fake.calls_to("getUpdates") and not fake.errors, fake.describe()
        assert fake.webhook_info()["url"] == url, "a receiver that stops leaves the webhook set"
        text = log.read_text()
        assert f"update {start['update_id']} dropped" in text and "dropped 1 redelivered" in text
        secret = derive_secret(fake.token)
        assert secret not in text and fake.token.split(":", 1)[1] not in text


def test_a_wrong_or_missing_secret_gets_403_and_nothing_happens(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'news.db'}"
    with webhook_fake() as fake:
        port = free_port()
        with receiver(fake, db_url, tmp_path / "receiver.log", public_port=port):
            fake.wait_for_call("setWebhook", timeout=30)
            fake.pause_webhook_delivery()
            forged = fake.user_sends_command(77, "/start")
            assert fake.post_to_webhook(forged, secret="not-the-secret") == 403
            assert fake.post_to_webhook(forged, secret=None) == 403
            assert fake.post_to_webhook(forged, secret=derive_secret("1:other")) == 403
            # The reader's next update is handled after anything accepted before it: only it is.
            assert fake.post_to_webhook(fake.user_sends_command(77, "/help")) == 200
            fake.wait_for(lambda: bool(sends_to(fake, 77)))
            assert "/settings" in sends_to(fake, 77)[0], "the forged /start was handled"
            # Nor was it recorded as taken: Telegram's own delivery of it is handled, once.
            fake.resume_webhook_delivery()
            fake.wait_for(lambda: len(sends_to(fake, 77)) == 2)
            assert WELCOME in sends_to(fake, 77)[1]
        assert not fake.errors, fake.describe()


def test_two_receivers_on_one_database_answer_a_redelivery_once(
    tmp_path: Path, db_url: str
) -> None:
    """Behind a load balancer Telegram's second try may reach another receiver."""
    with webhook_fake() as fake:
        public, other = free_port(), free_port()
        other_url = f"http://127.0.0.1:{other}{PATH}"
        with receiver(fake, db_url, tmp_path / "a.log", public_port=public):
            fake.wait_for_call("setWebhook", timeout=30)
            with receiver(fake, db_url, tmp_path / "b.log", public_port=public, port=other) as b:
                fake.wait_for(lambda: len(fake.calls_to("setWebhook")) == 2, timeout=30)
                user = TelegramUser(fake, 4242, "Grace")
                assert WELCOME in user.send("/start").text  # to the public URL: receiver A
                start = update_for(fake, 4242, "/start")
                assert fake.post_to_webhook(start, url=other_url) == 200  # the copy: B
                fake.pause_webhook_delivery()
                help_update = fake.user_sends_command(4242, "/help")
                assert fake.post_to_webhook(help_update, url=other_url) == 200
                fake.wait_for(lambda: len(sends_to(fake, 4242)) == 2)  # B answered /help
                replies = sends_to(fake, 4242)
                assert WELCOME in replies[0] and "/settings" in replies[1], replies
                stop(b)
        assert not fake.errors, fake.describe()
        assert "dropped: already taken on by another process" in (tmp_path / "b.log").read_text()


def test_back_to_polling_deletes_the_webhook_and_drops_a_redelivery(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'news.db'}"
    with webhook_fake() as fake:
        port = free_port()
        with receiver(fake, db_url, tmp_path / "receiver.log", public_port=port) as process:
            fake.wait_for_call("setWebhook", timeout=30)
            user = TelegramUser(fake, 4242, "Grace")
            assert WELCOME in user.send("/start").text
            stop(process)
        assert fake.webhook_info()["url"]
        fake.redeliver(update_for(fake, 4242, "/start"))  # Telegram never saw the answer
        mark = len(fake.calls)
        with newsbot(fake, db_url, tmp_path / "polling.log") as polling:
            deleted = fake.wait_for_call("deleteWebhook", after=mark, timeout=30)
            polled = fake.wait_for_call("getUpdates", after=mark, timeout=30)
            assert "/settings" in user.send("/help").text
            stop(polling)
        assert fake.calls.index(deleted) < fake.calls.index(polled)
        assert fake.webhook_info()["url"] == ""
        assert not fake.errors, fake.describe()  # no 409: getUpdates came after deleteWebhook
        assert len(sends_to(fake, 4242)) == 2, "the redelivered /start was answered again"


@pytest.mark.parametrize("receive_only", [False, True])
async def test_receive_only_schedules_no_job(tmp_path: Path, receive_only: bool) -> None:
    with FakeBotAPI() as fake:
        settings = Settings(
            TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE_URL=fake.base_url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'news.db'}",
        )  # fmt: skip
        services = build_services(settings)
        application = build_bot(services, receive_only=receive_only).application
        assert application.post_init is not None and application.post_shutdown is not None
        async with application:
            await application.post_init(application)
            jobs = application.job_queue.jobs() if application.job_queue else ()
            await application.post_shutdown(application)
        services.engine.dispose()
    names = {job.name for job in jobs}
    if receive_only:
        assert names == set()
    else:
        assert {"digest-tick", "outbox", "prune-delivered", "ingest"} <= names
