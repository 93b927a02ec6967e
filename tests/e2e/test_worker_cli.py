"""`newsbot worker` at the door: roles as operators type them, and SQLite refused in one line
(SQLite runs in a single process, `newsbot run`; workers need PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.worker import parse_roles
from newsbot_testing.launcher import run_cli


@pytest.mark.parametrize(
    ("given", "roles"),
    [
        (["fetch"], ("fetch",)),
        (["send", "fetch"], ("fetch", "send")),
        (["compose,send"], ("compose", "send")),
        (["all"], ("fetch", "compose", "send")),
        (["fetch", "all", " Send "], ("fetch", "compose", "send")),
    ],
)
def test_roles_repeat_or_come_as_a_comma_list(given: list[str], roles: tuple[str, ...]) -> None:
    assert parse_roles(given) == roles


def test_an_unknown_role_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ["worker", "--role", "fetch,render"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "newsbot: unknown worker role 'render': use fetch, compose, send or all"
    ]


def test_sqlite_refuses_workers_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    result = run_cli(tmp_path, ["worker", "--role", "all"], TELEGRAM_BOT_TOKEN="1:x",
                     DATABASE_URL=f"sqlite:///{db}")  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SQLite runs in a single process" in lines[0], lines
    assert "newsbot run" in lines[0] and "PostgreSQL" in lines[0] and "DATABASE_URL" in lines[0]
    assert "1:x" not in result.stderr + result.stdout
    assert not db.exists(), "a refused worker touched the database"
