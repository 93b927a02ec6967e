"""bot.heap: the trim after the Related index's cold build."""

from __future__ import annotations

import sys

import pytest

from bot import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_trim_runs_on_glibc() -> None:
    assert heap.trim() is True


def test_trim_is_a_no_op_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap.ctypes.util, "find_library", lambda name: "libnothing-here.so")
    assert heap.trim() is False
