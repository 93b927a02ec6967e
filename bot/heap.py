"""The C allocator's settings and trims, for a long-running bot on glibc.

* :func:`limit_arenas`: glibc gives each thread that allocates while another holds the lock an
  arena of its own, up to eight per core; the bot's thread pool (``bot.threads``: database
  calls, the digest tick, the Related build) then spreads its garbage over a dozen heaps, none
  of which can give back what the others free. Two arenas (``M_ARENA_MAX``) kept the peak of a
  5,000-reader tick about 8 MiB lower (``python -m bench.memory``); set before any thread
  starts, unless the operator set ``MALLOC_ARENA_MAX`` (glibc read it already).
* :func:`trim`: after the Related index's cold build (tens of thousands of rows read,
  tokenised and dropped) much of the arena is free but resident; ``malloc_trim(0)`` returns
  the free pages of every arena (5 MiB at 50,000 articles).

Elsewhere than glibc (musl, macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

#: A refresh that indexed at least this many articles is worth a trim (the cold build).
TRIM_AFTER_ARTICLES = 5_000
#: Arenas for the whole process: one for the event loop's thread, one its pool shares.
ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _libc_function(name: str) -> Any | None:
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None


def limit_arenas(count: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, count)``, unless ``MALLOC_ARENA_MAX`` is set; whether it ran.
    Call it before the first thread starts."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_ARENA_MAX, count))


def trim() -> bool:
    """``malloc_trim(0)`` where the C library has it; whether it ran."""
    malloc_trim = _libc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim(0)
    return True
