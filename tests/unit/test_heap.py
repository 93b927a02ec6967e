"""bot.heap: the allocator's arena limit and the trim after the Related index's cold build."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import heap
from newsbot_testing.launcher import REPO, bot_env

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


@glibc
def test_trim_runs_on_glibc() -> None:
    assert heap.trim() is True


def test_without_the_c_functions_both_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(heap.ctypes.util, "find_library", lambda name: "libnothing-here.so")
    assert heap.trim() is False
    assert heap.limit_arenas() is False


@glibc
def test_the_arena_limit_is_set_unless_the_operator_set_one() -> None:
    code = "from bot import heap; print(heap.limit_arenas())"
    env = bot_env()
    env.pop("MALLOC_ARENA_MAX", None)
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert ran.stdout.strip() == "True"
    env["MALLOC_ARENA_MAX"] = "4"
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert ran.stdout.strip() == "False"
