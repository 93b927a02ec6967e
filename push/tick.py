"""The scheduler's tick: due readers → one outbox row per category digest → next due time.

Runs every minute (a thin JobQueue ticker calls ``tick`` in a worker thread). For each due reader
the pure ``schedule.decide`` says which slot to send (at most one: never a burst after downtime)
and when the next one is due. Stories are ranked once per distinct (selection, category) per
tick, so 100,000 readers sharing a few hundred selections cost a few hundred rankings; each
reader then only filters out what they already received and takes their digest size.

Rows are written before anything is sent (the outbox), keyed by (reader, category, slot), so a
tick that runs twice or a restart between enqueue and ``next_due_at`` enqueues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from digest.catalog import ALL_CATEGORIES, Catalog
from digest.compose import Digest, compose
from digest.rank import RankedStory
from digest.schedule import DEFAULT_GRACE, decide, effective_pause, schedule_of
from digest.selection import Selection, selection_for, top_stories
from storage.articles import ArticleStore
from storage.deliveries import DeliveryStore, OutboxItem
from storage.users import Reader, UserStore
from views.digest import as_payload, digest_message, empty_digest_text

log = logging.getLogger(__name__)

DIGEST = "digest"
BATCH = 500


@dataclass
class TickReport:
    """What one tick did, for the log and for tests."""

    readers: int = 0
    enqueued: int = 0
    empty: int = 0
    skipped_slots: int = 0
    rankings: int = 0
    categories: dict[str, int] = field(default_factory=dict)


class DigestScheduler:
    """Turns due readers into outbox rows. Synchronous: call it from a worker thread."""

    def __init__(
        self,
        users: UserStore,
        articles: ArticleStore,
        deliveries: DeliveryStore,
        catalog: Catalog,
        *,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        self.users = users
        self.articles = articles
        self.deliveries = deliveries
        self.catalog = catalog
        self.grace = grace
        self._rendered: dict[tuple[object, ...], dict[str, object]] = {}

    def tick(self, now: datetime) -> TickReport:
        """Handle every reader due at ``now``, in batches."""
        report = TickReport()
        self._rendered = {}
        rankings: dict[tuple[Selection, str], list[RankedStory]] = {}
        seen: set[int] = set()
        while True:
            batch = [r for r in self.users.due(now, BATCH) if r.id not in seen]
            if not batch:
                break
            seen.update(r.id for r in batch)
            self._batch(batch, now, rankings, report)
        report.rankings = len(rankings)
        if report.readers:
            log.info(
                "digest tick: %d readers due, %d digests queued, %d empty, %d stale slots skipped",
                report.readers, report.enqueued, report.empty, report.skipped_slots,
            )  # fmt: skip
        return report

    def _batch(
        self,
        readers: Sequence[Reader],
        now: datetime,
        rankings: dict[tuple[Selection, str], list[RankedStory]],
        report: TickReport,
    ) -> None:
        items: list[OutboxItem] = []
        delivered: list[tuple[int, str, int]] = []
        next_due: dict[int, datetime | None] = {}
        received: dict[str, dict[int, set[int]]] = {}
        for reader in readers:
            report.readers += 1
            decision = decide(
                schedule_of(reader), reader.next_due_at, now,
                paused_until=effective_pause(reader), grace=self.grace,
            )  # fmt: skip
            report.skipped_slots += len(decision.skipped)
            due_at = decision.next_due_at
            if due_at is not None and due_at <= now:  # defensive: never due again this tick
                due_at = now + timedelta(minutes=1)
            next_due[reader.id] = due_at
            if decision.send is None:
                continue
            self._compose_for(
                reader, decision.send.key, now, readers, rankings, received, items, delivered,
                report,
            )  # fmt: skip
        report.enqueued += self.deliveries.enqueue(items, now, delivered)
        self.users.set_next_due_many(next_due)

    def on_demand(self, reader: Reader, now: datetime) -> int:
        """/digest: queue the reader's digests now, without touching their schedule."""
        items: list[OutboxItem] = []
        delivered: list[tuple[int, str, int]] = []
        slot_key = "now-" + now.strftime("%Y%m%dT%H%M%S")
        self._compose_for(reader, slot_key, now, [reader], {}, {}, items, delivered, TickReport())
        return self.deliveries.enqueue(items, now, delivered)

    def _compose_for(
        self,
        reader: Reader,
        slot_key: str,
        now: datetime,
        batch: Sequence[Reader],
        rankings: dict[tuple[Selection, str], list[RankedStory]],
        received: dict[str, dict[int, set[int]]],
        items: list[OutboxItem],
        delivered: list[tuple[int, str, int]],
        report: TickReport,
    ) -> None:
        """Append one outbox row per category of ``reader`` (and what it delivers)."""
        selection = selection_for(reader, self.catalog)
        for category in reader.categories:
            if category not in received:
                ids = [r.id for r in batch]
                received[category] = self.deliveries.delivered_article_ids_many(ids, category)
            key = (selection, category)
            if key not in rankings:
                wanted = None if category == ALL_CATEGORIES else category
                rankings[key] = top_stories(self.articles, selection, wanted, now)
            digest = compose(
                category,
                rankings[key],
                received[category].get(reader.id, set()),
                reader.stories_per_digest,
            )
            item = self._item(reader, category, slot_key, digest, now)
            if item is None:
                report.empty += 1
                continue
            items.append(item)
            delivered.extend((reader.id, category, k) for k in digest.story_keys)
            report.categories[category] = report.categories.get(category, 0) + 1

    def _render(self, digest: Digest, reader: Reader, now: datetime) -> dict[str, object]:
        """Readers who get the same stories in the same language on the same local day get
        the same message: render it once per tick."""
        zone = reader.timezone or "UTC"
        local_day = now.astimezone(ZoneInfo(zone)).date()
        key = (digest.category, digest.story_keys, reader.ui_language, local_day)
        payload = self._rendered.get(key)
        if payload is None:
            text, keyboard = digest_message(digest, self.catalog, now, reader.ui_language, zone)
            payload = self._rendered[key] = as_payload(text, keyboard)
        return payload

    def _item(
        self, reader: Reader, category: str, slot_key: str, digest: Digest, now: datetime
    ) -> OutboxItem | None:
        """The outbox row for one category, or None for an empty digest the reader skips."""
        if digest.stories:
            payload = self._render(digest, reader, now)
        elif reader.empty_digest == "say":
            payload = as_payload(empty_digest_text(category, reader.ui_language), None)
        else:
            return None
        return OutboxItem(
            user_id=reader.id,
            chat_id=reader.chat_id,
            kind=DIGEST,
            slot_key=f"{category}@{slot_key}",
            payload=payload,
        )
