"""``newsbot`` as a real subprocess, the way an operator starts it: one launcher for every e2e
test and benchmark, so each says only what differs (its settings), not how to start and stop.

The child runs from a folder of the caller's choosing (no ``.env`` there), with this checkout
on ``PYTHONPATH`` and none of the caller's ``TELEGRAM_*``, ``NEWSBOT_*`` or ``DATABASE_URL``
variables: only what the test passes reaches the bot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from newsbot_testing.fakes.botapi import FakeBotAPI

REPO = Path(__file__).resolve().parents[1]
STOP_SECONDS = 20  # SIGTERM, then this long for a clean exit, then SIGKILL


def bot_env(**extra: str) -> dict[str, str]:
    """This process's environment without the bot's own settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEWSBOT_"))}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_cli(cwd: Path, args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    """``newsbot <args>`` to completion (60 s at most), output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=bot_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def newsbot(
    fake: FakeBotAPI, db_url: str, log: Path, *, args: Sequence[str] = (), **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``newsbot run [args]`` against ``fake`` on ``db_url``, from ``log``'s folder, its output
    appended to ``log``. Feed fetching is off unless ``env`` turns it on; ``env`` adds or
    overrides variables. On exit a process still running gets SIGTERM (SIGKILL if it hangs)."""
    settings = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATABASE_URL": db_url,
        "FEED_FETCH_ENABLED": "false",
    }
    with _process(["run", *args], log, settings | env) as process:
        yield process


@contextmanager
def newsbot_worker(
    roles: str, db_url: str, log: Path, *, fake: FakeBotAPI | None = None,
    args: Sequence[str] = (), **env: str,
) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    """``newsbot worker --role <roles> <args>`` on ``db_url`` (pointed at ``fake`` when given,
    which the send role needs), like :func:`newsbot` otherwise."""
    settings = {"DATABASE_URL": db_url}
    if fake is not None:
        settings |= {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url}
    with _process(["worker", "--role", roles, *args], log, settings | env) as process:
        yield process


@contextmanager
def _process(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=log.parent,
            env=bot_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
