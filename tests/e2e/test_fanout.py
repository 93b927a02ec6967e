"""Fan-out through real `newsbot run` processes: a SIGKILL mid-send, and two processes at once."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select

from storage.db import make_engine
from storage.tables import Delivery
from tests.e2e.fanout_db import seed_due_readers
from tests.e2e.test_newsbot_run import bot_env
from tests.fakes.botapi import FakeBotAPI

IN_FLIGHT = 8  # 4 requests in flight + up to 4 sent rows whose "sent" mark is not yet committed


def digest_sends(fake: FakeBotAPI) -> Counter[int]:
    """Successful digest messages per chat."""
    return Counter(
        int(c.params["chat_id"])
        for c in fake.calls_to("sendMessage")
        if c.status == 200 and "🗞" in str(c.params.get("text", ""))
    )


@contextmanager
def newsbot(
    fake: FakeBotAPI, db_url: str, log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`newsbot run` against the fake; ``env`` adds or overrides variables."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=log.parent,
            env=bot_env(
                TELEGRAM_BOT_TOKEN=fake.token,
                TELEGRAM_API_BASE_URL=fake.base_url,
                DATABASE_URL=db_url,
                **({"FEED_FETCH_ENABLED": "false", "SEND_MAX_RATE": "120"} | env),
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
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


def statuses(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    engine.dispose()
    return {status: count for status, count in rows}


def test_sigkill_mid_fanout_then_restart_delivers_everything(db_url: str, tmp_path: Path) -> None:
    readers = seed_due_readers(db_url, 500)
    with FakeBotAPI() as fake:
        fake.add_users(readers)
        log = tmp_path / "bot.log"
        with newsbot(fake, db_url, log) as first:
            fake.wait_for(lambda: sum(digest_sends(fake).values()) >= 120, timeout=60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        sent_before = sum(digest_sends(fake).values())
        assert sent_before < 500, "the crash came before the fan-out finished"
        with newsbot(fake, db_url, log):
            fake.wait_for(lambda: len(digest_sends(fake)) == 500, timeout=90)
            fake.wait_for(lambda: statuses(db_url).get("sent", 0) >= 500, timeout=30)
        sends = digest_sends(fake)
        duplicates = sum(sends.values()) - len(sends)
        assert set(sends) == set(readers)
        assert duplicates <= IN_FLIGHT, f"{duplicates} readers got their digest twice"
        assert statuses(db_url) == {"sent": 500}


def test_two_processes_on_one_database_send_nothing_twice(db_url: str, tmp_path: Path) -> None:
    readers = seed_due_readers(db_url, 200)
    with FakeBotAPI() as fake:
        fake.add_users(readers)
        with newsbot(fake, db_url, tmp_path / "a.log"), newsbot(fake, db_url, tmp_path / "b.log"):
            fake.wait_for(lambda: len(digest_sends(fake)) == 200, timeout=90)
            fake.wait_for(lambda: statuses(db_url).get("sent", 0) == 200, timeout=30)
        assert max(digest_sends(fake).values()) == 1
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "stays idle" in logs
