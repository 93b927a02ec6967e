"""CPU per part of a digest tick, for ``python -m bench.compose --segments``.

Wraps the tick's parts (methods of the scheduler, the ranking, the renderer's caller and the
stores the tick calls) in ``time.process_time`` accumulators, and times the collector's passes
through ``gc.callbacks``. Nested parts are counted in their callers too: "compose" includes
"ranking", "write" includes "render" and the writes. What the whole tick took beyond
"batches" is the claims and the commits (they run in ``UserStore.claim_due``'s block).
A wrapper costs about a microsecond a call: these figures are a share, the un-timed run the
measure."""

from __future__ import annotations

import functools
import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# (owner, attribute, label): what is timed, in the order printed
_PARTS: tuple[tuple[str, str, str], ...] = (
    ("push.tick:DigestScheduler", "_batch", "batches (all below)"),
    ("push.tick:DigestScheduler", "_decide", "decisions"),
    ("storage.deliveries:DeliveryStore", "received_digests", "received histories"),
    ("push.tick:DigestScheduler", "_compose", "compose (incl. ranking, window)"),
    ("storage.articles:ArticleStore", "ranking_window", "article window"),
    ("digest.reader_selection:CandidateIndex", "__init__", "ranking index"),
    ("digest.reader_selection:RankedStream", "fresh", "ranking"),
    ("push.tick:DigestScheduler", "_write", "write (all below)"),
    ("push.tick:_Tick", "read_texts", "texts read"),
    ("push.tick:_Tick", "render", "render"),
    ("storage.deliveries:DeliveryStore", "add_digest_messages", "messages stored"),
    ("storage.deliveries:DeliveryStore", "enqueue_digest_rows", "outbox rows"),
    ("storage.users:UserStore", "set_next_due_many", "next due times"),
)


def _timed(function: Callable[..., Any], label: str, spent: dict[str, float]) -> Any:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started

    return timed


@contextmanager
def segments() -> Iterator[dict[str, float]]:
    """CPU seconds per part of whatever ticks run inside the block (filled as they run)."""
    import importlib

    spent: dict[str, float] = defaultdict(float)
    undo: list[tuple[type, str, Any]] = []
    for owner, attribute, label in _PARTS:
        module, name = owner.split(":")
        cls = getattr(importlib.import_module(module), name)
        original = cls.__dict__.get(attribute)
        if original is None:
            continue  # a part this version of the tick does not have
        undo.append((cls, attribute, original))
        setattr(cls, attribute, _timed(original, label, spent))
    started = [0.0]

    def collector(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent[f"collector, generation {info['generation']}"] += time.process_time() - started[0]

    gc.callbacks.append(collector)
    try:
        yield spent
    finally:
        gc.callbacks.remove(collector)
        for cls, attribute, original in undo:
            setattr(cls, attribute, original)


def print_segments(spent: dict[str, float], total: float) -> None:
    """The parts in tick order, then the collector's passes."""
    print(f"  {'whole tick':<34} {total:7.2f} s")
    for _, _, label in _PARTS:
        if label in spent:
            print(f"  {label:<34} {spent[label]:7.2f} s")
    for label in sorted(k for k in spent if k.startswith("collector")):
        print(f"  {label:<34} {spent[label]:7.2f} s")
