"""Fan-out through real `newsbot run` processes: a SIGKILL mid-send, and two processes at once."""

from __future__ import annotations

import signal
from pathlib import Path

from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.launcher import newsbot
from newsbot_testing.seeding import seed_due_readers
from push.outbox_sender import default_concurrency
from tests.e2e.outcomes import digest_sends, statuses

PACE = {"SEND_MAX_RATE": "120"}
# What a SIGKILL can repeat: the sender keeps at most 2 x concurrency sends unfinished (requests
# in flight, or answered but their "sent" mark not yet committed); concurrency follows the rates
# (120/s for digests + the default 30/s broadcast budget).
IN_FLIGHT = 2 * default_concurrency(120 + 30)


def test_sigkill_mid_fanout_then_restart_delivers_everything(db_url: str, tmp_path: Path) -> None:
    readers = seed_due_readers(db_url, 500)
    with FakeBotAPI() as fake:
        fake.add_users(readers)
        log = tmp_path / "bot.log"
        with newsbot(fake, db_url, log, **PACE) as first:
            fake.wait_for(lambda: sum(digest_sends(fake).values()) >= 120, timeout=60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        sent_before = sum(digest_sends(fake).values())
        assert sent_before < 500, "the crash came before the fan-out finished"
        with newsbot(fake, db_url, log, **PACE):
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
        with (
            newsbot(fake, db_url, tmp_path / "a.log", **PACE),
            newsbot(fake, db_url, tmp_path / "b.log", **PACE),
        ):
            fake.wait_for(lambda: len(digest_sends(fake)) == 200, timeout=90)
            fake.wait_for(lambda: statuses(db_url).get("sent", 0) == 200, timeout=30)
        assert max(digest_sends(fake).values()) == 1
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "stays idle" in logs
