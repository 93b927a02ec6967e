"""``newsbot sandbox`` as a subprocess: the one line it prints, its warnings and refusals, and
``--live-if-token`` (what ``make run`` uses) handing over to the live bot."""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.launcher import bot_env, run_cli


@contextmanager
def sandbox(folder: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", *args],
        cwd=folder,
        env=bot_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def first_line(process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().decode() if ready else ""


def test_one_line_says_where_the_page_is_and_how_to_go_live(tmp_path: Path) -> None:
    with sandbox(tmp_path, "--offline", "--port", "0", "--host", "localhost") as process:
        line = first_line(process)
        assert re.search(r"at http://127\.0\.0\.1:\d+ ", line), line
        assert "TELEGRAM_BOT_TOKEN" in line and "newsbot run" in line
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert out == b"", "exactly one line on stdout"
    assert b"--host localhost lets other machines use the chat page" in err
    assert (tmp_path / "newsbot-sandbox.db").exists() and not (tmp_path / "newsbot.db").exists()


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(tmp_path, ["sandbox", "--offline", "--port", str(port)])
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]


def test_live_if_token_runs_the_live_bot_when_a_token_is_set(tmp_path: Path) -> None:
    with FakeBotAPI() as fake, sandbox(
        tmp_path, "--live-if-token", "--port", "0",
        TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'live.db'}", FEED_FETCH_ENABLED="false",
    ) as process:  # fmt: skip
        # polling the "live" Bot API it was given: a long poll is waiting there (a getUpdates call
        # is only recorded when it returns, after its 10 s timeout)
        fake.wait_for(lambda: fake.long_polls_waiting > 0, timeout=60)
        assert fake.calls_to("getMe")
        fake.stop()  # its long poll returns at once, so the bot stops without waiting for it
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert b"chat with the bot" not in out, "no sandbox when a token is set"
    assert (tmp_path / "live.db").exists() and not (tmp_path / "newsbot-sandbox.db").exists()


def _api(base: str, path: str, body: dict[str, object] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _bot_replies(base: str, user: int) -> int:
    return sum(1 for m in _api(base, "/api/state")["chats"][str(user)] if m["from_bot"])


def test_a_second_run_on_the_same_database_still_answers(tmp_path: Path) -> None:
    """The sandbox keeps its database between runs, and the database remembers the update ids
    it handled: each run must answer /start, not drop it as an update already seen."""
    for run in range(2):
        with sandbox(tmp_path, "--offline", "--port", "0") as process:
            found = re.search(r"http://127\.0\.0\.1:\d+", first_line(process))
            assert found, f"run {run}: no address"
            base = found.group(0)
            user = _api(base, "/api/state")["users"][1]["id"]
            before = _bot_replies(base, user)
            _api(base, "/api/send", {"user": user, "text": "/start"})
            deadline = time.monotonic() + 60
            while _bot_replies(base, user) == before:
                assert time.monotonic() < deadline, f"run {run}: /start was not answered"
                time.sleep(0.1)  # polling the page's state until the bot's reply shows
