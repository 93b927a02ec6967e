"""The event loop's default thread pool, sized so that name lookups cannot take all of it.

Every ``asyncio.to_thread`` of the bot (each database read or write of a handler, the outbox,
the digest tick) runs on the loop's default pool, and so does every name lookup httpx makes
when it opens a connection (``getaddrinfo`` blocks a thread, for seconds on a slow resolver).
Python sizes that pool from the CPU count: six threads on two cores. A fetch pass opens up to
sixteen connections at once, Full story up to eight, so on a slow resolver the lookups held
every thread and the bot stopped answering until they timed out. The pool now has room for all
the lookups the fetchers allow plus threads that only the bot's own work can use. (The URL
guard's lookups have a pool of their own, ``digest.urlguard``.)
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from digest.fetch import FetchLimits
from digest.full_story import PAGE_LIMITS

#: Threads left for the bot's own work while every allowed lookup is stuck.
OWN_WORK_THREADS = 16


def pool_size() -> int:
    """Lookups the feed and page fetchers may have in flight, plus the bot's own threads."""
    return FetchLimits().max_connections + PAGE_LIMITS.max_connections + OWN_WORK_THREADS


def widen_default_pool(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Give the running loop (or ``loop``) a default pool of :func:`pool_size` threads; they are
    started only when needed."""
    target = loop or asyncio.get_running_loop()
    target.set_default_executor(
        ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="newsbot")
    )
