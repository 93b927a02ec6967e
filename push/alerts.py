"""Keyword alerts after a fetch pass: match, fan out, write to the outbox (then paced and sent
like every push by ``push.outbox_sender``: retried, 403-aware).

Called by the ingest pass (``Ingestor(after_pass=...)``) with the articles the pass stored,
in a worker thread. One matcher per pass over every followed phrase (``digest.phrases``); the
followers of the phrases found, and only those readers' rows, are read; ``digest.alerts``
decides who gets what and when (quiet hours hold an alert until they end: its outbox row is
due then); ``storage.alerts`` writes each (reader, story) once and the outbox rows with it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from digest.alerts import AlertPlan, find_matches, plan_alerts
from digest.catalog import Catalog
from digest.phrases import PhraseMatcher
from storage.alerts import AlertStore
from storage.articles import ArticleRow
from storage.deliveries import OutboxItem
from storage.follows import FollowStore
from storage.tables import ALERT_KIND
from views.alerts import AlertRenderer

log = logging.getLogger(__name__)

KIND = ALERT_KIND


@dataclass
class AlertReport:
    """What one pass's alerting did (logged; ``python -m bench.alerts`` prints it). Times in
    seconds: ``read`` is wall time in the database (phrases, followers, readers), the others
    CPU time of this process."""

    phrases: int = 0
    stories: int = 0
    matched_stories: int = 0
    readers: int = 0
    alerted_stories: int = 0  # (reader, story) pairs in the plans, sent_alerts rows at most
    rows: int = 0  # outbox rows written: one message per reader
    read_seconds: float = 0.0
    build_seconds: float = 0.0
    match_seconds: float = 0.0
    plan_seconds: float = 0.0
    write_seconds: float = 0.0


class AlertDispatcher:
    """Turns a pass's new articles into alert outbox rows. Synchronous: a worker thread."""

    def __init__(self, follows: FollowStore, alerts: AlertStore, catalog: Catalog) -> None:
        self.follows = follows
        self.alerts = alerts
        self.catalog = catalog

    def __call__(self, new: Sequence[ArticleRow], now: datetime) -> AlertReport:
        report = AlertReport(stories=len(new))
        if not new:
            return report
        started = time.perf_counter()
        keys = self.follows.distinct_keys()
        report.read_seconds += time.perf_counter() - started
        report.phrases = len(keys)
        if not keys:
            return report
        started = time.process_time()
        matcher = PhraseMatcher(keys)
        report.build_seconds = time.process_time() - started
        started = time.process_time()
        with _collector_paused():
            matches = find_matches(matcher, new)
        report.match_seconds = time.process_time() - started
        report.matched_stories = len(matches.found)
        if not matches.found:
            return report
        started = time.perf_counter()
        followers, spelled = self.follows.followers_and_spellings(matches.phrases)
        targets = self.alerts.targets({u for users in followers.values() for u in users})
        report.read_seconds += time.perf_counter() - started
        started = time.process_time()
        with _collector_paused():
            plans = plan_alerts(matches, {a.id: a for a in new}, followers, targets, now)
        report.plan_seconds = time.process_time() - started
        report.readers = len(plans)
        report.alerted_stories = sum(len(p.stories) for p in plans)
        started = time.perf_counter()
        report.rows = self.deliver(plans, now, spelled)
        report.write_seconds = time.perf_counter() - started
        log.info(
            "alerts: %d of %d new stories matched %d followed phrases; %d alerts queued",
            report.matched_stories, report.stories, report.phrases, report.rows,
        )  # fmt: skip
        return report

    def deliver(
        self,
        plans: Sequence[AlertPlan],
        now: datetime,
        spelled: Mapping[tuple[int, str], str] | None = None,
    ) -> int:
        """Record and enqueue the plans; stories a reader was alerted to before are left out.
        ``spelled`` gives a reader's own spelling of a phrase key, where it differs."""
        spelled = spelled or {}
        by_user = {p.target.user_id: p for p in plans}
        renderer = AlertRenderer(self.catalog, now)

        def build(fresh: dict[int, list[int]]) -> list[OutboxItem]:
            items = []
            for user_id, story_keys in fresh.items():
                plan = by_user[user_id]
                wanted = set(story_keys)
                stories = tuple(s for s in plan.stories if s.key in wanted)
                target = plan.target
                phrases = {p for s in stories for p in s.phrases}
                own = {p: spelled[(user_id, p)] for p in phrases if (user_id, p) in spelled}
                payload = renderer.payload(stories, target.ui_language, own)
                slot = f"{min(wanted)}@{now:%Y%m%dT%H%M%S}"
                items.append(OutboxItem(
                    user_id, target.chat_id, KIND, slot, payload, not_before=plan.not_before,
                ))  # fmt: skip
            return items

        pairs = [(p.target.user_id, key) for p in plans for key in p.keys]
        return self.alerts.deliver(pairs, build, now)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a short, allocation-heavy step that makes no
    cycles: planning 100,000 readers' alerts allocates a few hundred thousand small objects,
    and each collection it set off rescanned everything alive (half of that step's CPU)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
