"""`newsbot run` as a real subprocess against the fake Bot API: start-up, a new user, the logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.feedserver import FeedServer, Reply
from newsbot_testing.launcher import bot_env, newsbot, run_cli
from tests.handlers.commands import READER_COMMANDS
from tests.handlers.user import TelegramUser
from tests.integration.news_fixtures import BUDGET_EN, HOCKEY_EN, rss, write_catalog


def test_run_without_token_names_the_variable(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ["run"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "TELEGRAM_BOT_TOKEN" in lines[0] and ".env.example" in lines[0]


def test_invalid_catalog_stops_start_up_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[countries]]\ncode = "CA"\nname = "Canada"\nlanguages = []\n')
    result = run_cli(
        tmp_path,
        ["run"],
        TELEGRAM_BOT_TOKEN="1:x",
        NEWSBOT_CATALOG=str(bad),
        DATABASE_URL="sqlite://",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0] and "Traceback" not in result.stderr


@pytest.fixture
def running_bot(
    tmp_path: Path, db_url: str
) -> Iterator[tuple[FakeBotAPI, subprocess.Popen[bytes]]]:
    with FakeBotAPI() as fake, newsbot(fake, db_url, tmp_path / "bot.log", LOG_LEVEL="DEBUG") as p:
        fake.wait_for_call("setMyCommands", timeout=30)
        yield fake, p


def test_new_user_sets_up_through_the_running_bot(
    running_bot: tuple[FakeBotAPI, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    fake, process = running_bot
    user = TelegramUser(fake, 4242, "Grace")
    assert "Choose your primary country" in user.send("/start").text
    user.press("India")
    user.press("Skip")
    user.press("Hindi")
    user.press("Skip")
    user.press("AajTak")
    user.press("Skip")
    user.press("National")
    user.press("Done")
    user.press("07:00")
    summary = user.press("Done")
    assert "Asia/Kolkata" in summary.text and "AajTak (primary)" in summary.text
    user.press("Confirm")
    assert "All set" in user.last().text
    settings = user.send("/settings")
    assert "Primary country: India" in settings.text and "Hindi (primary)" in settings.text
    assert [c["command"] for c in fake.commands()] == READER_COMMANDS
    assert not fake.errors, fake.describe()

    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    log = (tmp_path / "bot.log").read_text()
    assert "is ready" in log, log[-2000:]
    secret = fake.token.split(":", 1)[1]
    assert fake.token not in log and secret not in log


def test_fetch_json_reports_exact_counts(tmp_path: Path) -> None:

    with FeedServer() as server:
        server.add_file("/alpha.xml", rss([BUDGET_EN, HOCKEY_EN], datetime.now(UTC)))
        server.add_route("/broken.xml", lambda _r: Reply(500, {}, b""))
        catalog = write_catalog(
            tmp_path / "catalog.toml",
            server,
            {"alpha": [("national", "/alpha.xml")], "beta": [("sports", "/broken.xml")]},
        )
        result = run_cli(
            tmp_path,
            ["fetch", "--json"],
            NEWSBOT_CATALOG=str(catalog),
            DATABASE_URL=f"sqlite:///{tmp_path / 'news.db'}",
        )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["feeds"], report["ok"], report["failed"], report["new_articles"]) == (2, 1, 1, 2)
    assert "500" in report["failures"][0]["error"]


def test_run_fetches_feeds_at_start_up(tmp_path: Path) -> None:

    with FeedServer() as server, FakeBotAPI() as fake:
        server.add_file("/alpha.xml", rss([BUDGET_EN], datetime.now(UTC)))
        catalog = write_catalog(
            tmp_path / "c.toml", server, {"alpha": [("national", "/alpha.xml")]}
        )
        database = f"sqlite:///{tmp_path / 'news.db'}"
        settings = {"NEWSBOT_CATALOG": str(catalog), "FEED_FETCH_ENABLED": "true"}
        with newsbot(fake, database, tmp_path / "bot.log", **settings) as process:
            try:
                server.wait_for_requests("/alpha.xml", timeout=30)
            finally:
                process.send_signal(signal.SIGTERM)
                assert process.wait(20) == 0


WRONG_TOKEN = "654321:WRONG-TOKEN-abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("fault", ["rejected token", "wrong base URL path", "unreachable"])
def test_start_up_refused_by_telegram_is_one_line_without_the_token(
    tmp_path: Path, fault: str
) -> None:
    """#14.1: PTB's InvalidToken traceback once printed the token on stderr."""
    with FakeBotAPI() as fake:
        token, base = {
            "rejected token": (WRONG_TOKEN, fake.base_url),  # 401
            "wrong base URL path": (fake.token, fake.base_url.replace("/bot", "/api/bot")),  # 404
            "unreachable": (fake.token, "http://127.0.0.1:1/bot"),
        }[fault]
        result = run_cli(
            tmp_path, ["run"], TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_BASE_URL=base,
            LOG_LEVEL="WARNING", DATABASE_URL=f"sqlite:///{tmp_path / 'news.db'}",
            FEED_FETCH_ENABLED="false",
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsbot: the Bot API at "), result.stderr
    output = result.stdout + result.stderr
    secret = token.split(":", 1)[1]
    assert token not in output and secret not in output


def test_uncaught_tracebacks_are_redacted(tmp_path: Path) -> None:
    """Whatever escapes, Python's own traceback printer goes through the token redaction."""
    script = (
        "import threading\n"
        "from bot.logging_setup import setup_logging\n"
        f"setup_logging('INFO', {WRONG_TOKEN!r})\n"
        f"t = threading.Thread(target=lambda: 1 / 0 if {WRONG_TOKEN!r} else None)\n"
        "t.start(); t.join()\n"
        f"raise RuntimeError('rejected ' + {WRONG_TOKEN!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=bot_env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "RuntimeError: rejected <token>" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert WRONG_TOKEN.split(":", 1)[1] not in result.stderr


def test_feed_credentials_never_show_in_fetch_or_stats(tmp_path: Path) -> None:
    """#14.9: user:pass@ and ?token= in a catalog feed URL once showed in logs and outputs."""
    with FeedServer() as server:
        server.add_file("/alpha.xml", rss([BUDGET_EN], datetime.now(UTC)))
        server.add_route("/broken.xml", lambda _r: Reply(500, {}, b""))
        catalog = write_catalog(
            tmp_path / "catalog.toml",
            server,
            {"alpha": [("national", "/alpha.xml")], "beta": [("sports", "/broken.xml")]},
        )
        text = catalog.read_text().replace("http://127.0.0.1", "http://reader:PASSSECRET@127.0.0.1")
        catalog.write_text(text.replace('.xml"', '.xml?token=TOKSECRET&cat=x"'))
        env = {"NEWSBOT_CATALOG": str(catalog), "DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"}
        plain = run_cli(tmp_path, ["fetch"], **env)
        as_json = run_cli(tmp_path, ["fetch", "--json"], **env)
        assert len(server.requests_for("/alpha.xml")) == 2, "the credentials still reach the feed"
    stats = run_cli(tmp_path, ["stats"], **env)
    stats_json = run_cli(tmp_path, ["stats", "--json"], **env)
    assert "failed: beta http://***@127.0.0.1:" in plain.stdout, plain.stdout
    assert "feed http://***@127.0.0.1:" in plain.stderr, "the warning is logged, redacted"
    assert json.loads(as_json.stdout.splitlines()[-1])["failures"][0]["url"].endswith(
        "/broken.xml?token=***&cat=x"
    )
    assert "/broken.xml?token=***&cat=x" in stats.stdout
    for result in (plain, as_json, stats, stats_json):
        assert result.returncode == 0, result.stderr
        assert "SECRET" not in result.stdout + result.stderr
