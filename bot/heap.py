"""Give the C allocator's free memory back to the system after a big, one-off build.

glibc keeps what a thread freed in that thread's arena for reuse; after the Related index's
cold build (tens of thousands of rows read, tokenised and dropped) much of it is free but
resident. ``malloc_trim(0)`` returns the free pages of every arena (``python -m
bench.memory``: a few MiB at 50,000 articles). Elsewhere than glibc (musl, macOS) it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: A refresh that indexed at least this many articles is worth a trim (the cold build).
TRIM_AFTER_ARTICLES = 5_000


def trim() -> bool:
    """``malloc_trim(0)`` where the C library has it; whether it ran."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim(0)
    return True
