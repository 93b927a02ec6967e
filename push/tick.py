"""The scheduler's tick: due readers → one outbox row per category digest → next due time.

Runs every minute (a thin ticker, or ``newsbot worker --role compose``, calls ``tick`` in a
worker thread). Steps, and why each is cheap per reader:

1. Claim a batch of due readers with their preferences (``UserStore.claim_due``: one
   statement per batch; on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so several compose processes
   share the due readers without overlap). The whole batch is one transaction: claim, compose,
   outbox rows, next due times, commit.
2. For each reader the pure ``schedule.decide`` says which slot to send (at most one: never a
   burst after downtime) and when the next one is due; readers with the same schedule and state
   share one decision.
3. Rank once per distinct (selection, category) per tick, in memory: every article of the
   headline window is read once per tick (``ArticleStore.window``) and ranked lazily per
   selection (``CandidateIndex``), only as deep as readers' digests need.
4. What a reader has received in a category (``DeliveryStore.received_digests``, one query per
   batch) is left out; readers with the same ranking, history and digest size get the same
   digest, composed once, and with the same language and timezone the same message, rendered
   once (``DigestRenderer``, straight to the JSON text stored) and stored once
   (``digest_payloads``), which their outbox rows point at. A timezone changes only the
   header's date: readers whose zones are on the same day share the message.
5. Rows are written before anything is sent (the outbox), keyed by (reader, category, slot), so
   a tick that runs twice or a restart between enqueue and ``next_due_at`` enqueues nothing
   twice.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.engine import Connection

from digest.catalog import ALL_CATEGORIES, Catalog
from digest.compose import MAX_STORIES, MIN_STORIES, Digest
from digest.mutes import without_sources
from digest.reader_selection import CandidateIndex, RankedStream, selection_key
from digest.schedule import (
    DEFAULT_GRACE,
    DueDecision,
    Slot,
    decide,
    effective_pause,
    schedule_of,
)
from digest.selection import HEADLINE_WINDOW, Selection, selection_for
from storage.articles import ArticleRow, ArticleStore
from storage.deliveries import DeliveryStore, DigestHistory, DigestMessage
from storage.mutes import NO_MUTES, MuteSet, MuteStore
from storage.users import Reader, UserStore
from views.digest import DigestRenderer, as_payload, empty_digest_text

log = logging.getLogger(__name__)

DIGEST = "digest"
BATCH = 2000
MESSAGES_AT_ONCE = 256  # messages rendered and stored per statement

_DecisionKey = tuple[object, ...]


@dataclass
class TickReport:
    """What one tick did, for the log and for tests."""

    readers: int = 0
    enqueued: int = 0
    empty: int = 0
    skipped_slots: int = 0
    rankings: int = 0
    messages: int = 0
    categories: dict[str, int] = field(default_factory=dict)


class _Tick:
    """What one tick shares across its batches: the ranking index, rankings, compositions and
    rendered messages (all keyed by what makes them equal)."""

    def __init__(self, articles: ArticleStore, catalog: Catalog, now: datetime) -> None:
        self._articles = articles
        self._index: CandidateIndex | None = None
        self.now = now
        self.renderer = DigestRenderer(catalog, now)
        self.catalog = catalog
        self.selections: dict[object, Selection] = {}
        # by the identity of a reader's selection key (see ``selection_of``)
        self._selection_of: dict[int, tuple[object, Selection]] = {}
        self._selections: dict[Selection, Selection] = {}  # see ``shared``
        self._sets: dict[frozenset[str], frozenset[str]] = {}
        self.streams: dict[tuple[Selection, str], RankedStream] = {}
        # (id of a shared selection, category, received keys, size[, muted words]) -> digest
        self.digests: dict[tuple[object, ...], Digest] = {}
        # message key (id of a digest, UI language, local day) -> its number: where its
        # digest_payloads id is in ``message_ids`` once the batch that first used it has
        # written it (outbox rows hold the number, so their ids are read without hashing the
        # key again)
        self.messages: dict[tuple[int, str, str], int] = {}
        self.message_ids: array[int] = array("q")
        # slot key -> category -> the outbox's slot text ``{category}@{slot key}``, once each
        self.slot_texts: dict[str, dict[str, str]] = {}
        self.decisions: dict[_DecisionKey, DueDecision] = {}
        self.slot_keys: dict[int, tuple[Slot, str]] = {}  # by id(slot): see ``slot_key``
        self.history = DigestHistory()
        # full rows (with their texts) of the stories shown, read before rendering them
        self.shown: dict[int, ArticleRow] = {}

    def slot_key(self, slot: Slot) -> str:
        """``slot.key`` (a ``strftime``) once per slot: readers share decisions, and the tick
        keeps them (``decisions``), so a slot is known by its identity."""
        found = self.slot_keys.get(id(slot))
        if found is None or found[0] is not slot:
            found = self.slot_keys[id(slot)] = (slot, slot.key)
        return found[1]

    def selection_of(self, reader: Reader, catalog: Catalog) -> Selection:
        """The reader's shared selection. Readers' keys are shared objects (equal preferences
        are one tuple, ``storage.due_readers``), so the key's identity finds it without hashing
        the key (a tuple of dataclasses: each hash a Python call per country) for every
        reader; the entry holds the key, so its id is not reused while it is there."""
        key = selection_key(reader)
        found = self._selection_of.get(id(key))
        if found is None or found[0] is not key:
            selection = self.selections.get(key)
            if selection is None:
                selection = self.selections[key] = self.shared(selection_for(reader, catalog))
            found = self._selection_of[id(key)] = (key, selection)
        return found[1]

    def slot_text(self, slot_key: str) -> dict[str, str]:
        """Per category, the outbox's slot text of ``slot_key`` (filled as categories come)."""
        found = self.slot_texts.get(slot_key)
        if found is None:
            found = self.slot_texts[slot_key] = {}
        return found

    def shared(self, selection: Selection) -> Selection:
        """One object per distinct selection, and per distinct set of sources or languages in
        them: readers' keys differ more than their selections do, and a frozenset costs over
        200 bytes (thousands of readers choose English, or the same primary source)."""
        found = self._selections.get(selection)
        if found is None:
            sets = self._sets
            found = self._selections[selection] = Selection(
                sets.setdefault(selection.source_ids, selection.source_ids),
                sets.setdefault(selection.languages, selection.languages),
                sets.setdefault(selection.primary_sources, selection.primary_sources),
            )
        return found

    def render(self, digest: Digest, ui_language: str, zone: str) -> str:
        """The message of a non-empty digest as the JSON text the outbox stores, its stories
        with their texts (``read_texts`` has read them)."""
        return self.renderer.payload_json(digest, ui_language, zone, self.shown)

    def read_texts(self, digests: Iterable[Digest]) -> None:
        """Read, in one query, the texts of these digests' stories not read yet (ranking ran
        on rows without them)."""
        shown = self.shown
        missing = {s.article.id: s.article for d in digests for s in d.stories}
        for article_id in [a for a in missing if a in shown]:
            del missing[article_id]
        for article_id, text in self._articles.texts_of(list(missing)).items():
            shown[article_id] = _with_text(missing[article_id], text)

    def stream(self, selection: Selection, category: str) -> RankedStream:
        key = (selection, category)
        found = self.streams.get(key)
        if found is None:
            if self._index is None:
                window, clusters = self._articles.ranking_window(self.now - HEADLINE_WINDOW)
                # not a bound method of this state: the index would hold the state in a cycle,
                # alive (tens of MiB) after the tick until the collector's next full pass
                titles = partial(_titles, self._articles)
                self._index = CandidateIndex(window, clusters, self.now, titles)
            wanted = None if category == ALL_CATEGORIES else category
            found = self.streams[key] = self._index.ranked(selection, wanted)
        return found


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
        batch_size: int = BATCH,
        mutes: MuteStore | None = None,
    ) -> None:
        self.mutes = mutes  # None: nobody's mutes are read (benchmarks of the plain tick)
        self.users = users
        self.articles = articles
        self.deliveries = deliveries
        self.catalog = catalog
        self.grace = grace
        self.batch_size = batch_size

    def tick(self, now: datetime) -> TickReport:
        """Handle every reader due at ``now``, one claimed batch (one transaction) at a time."""
        report = TickReport()
        state = _Tick(self.articles, self.catalog, now)
        seen: set[int] = set()
        with _older_objects_frozen():
            while True:
                with self.users.claim_due(now, self.batch_size) as batch:
                    fresh = [r for r in batch.readers if r.id not in seen]
                    if fresh:
                        seen.update(r.id for r in fresh)
                        self._batch(fresh, batch.connection, state, report)
                if not fresh:
                    break
                gc.freeze()  # the batch's survivors too: see ``_older_objects_frozen``
        report.rankings = len(state.streams)
        del state  # no cycle holds it: freed here (the heap's free pages given back below)
        if report.readers:
            _release_free_memory()
            log.info(
                "digest tick: %d readers due, %d digests queued (%d messages), %d empty, "
                "%d stale slots skipped",
                report.readers, report.enqueued, report.messages, report.empty,
                report.skipped_slots,
            )  # fmt: skip
        return report

    def on_demand(self, reader: Reader, now: datetime) -> int:
        """/digest: queue the reader's digests now, without touching their schedule."""
        slot_key = "now-" + now.strftime("%Y%m%dT%H%M%S")
        state = _Tick(self.articles, self.catalog, now)
        with self.users.lock(reader.id) as held:
            current = held.readers[0] if held.readers else reader
            received = self.deliveries.received_digests(
                [current.id], now - HEADLINE_WINDOW * 2, held.connection, state.history
            )
            muted = self._mutes_of([current.id], held.connection).get(current.id, NO_MUTES)
            out = _Outbox()
            mutes = {current.id: muted} if muted else {}
            self._compose([(current, slot_key)], state, received, mutes, out, TickReport())
            return self._write(out, state, held.connection)

    def _batch(
        self,
        readers: Sequence[Reader],
        connection: Connection,
        state: _Tick,
        report: TickReport,
    ) -> None:
        now = state.now
        next_due: dict[int, datetime | None] = {}
        sending: list[tuple[Reader, str]] = []
        for reader in readers:
            report.readers += 1
            decision = self._decide(reader, state)
            report.skipped_slots += len(decision.skipped)
            due_at = decision.next_due_at
            if due_at is not None and due_at <= now:  # defensive: never due again this tick
                due_at = now + timedelta(minutes=1)
            next_due[reader.id] = due_at
            if decision.send is not None:
                sending.append((reader, state.slot_key(decision.send)))
        if sending:
            received = self.deliveries.received_digests(
                [r.id for r, _ in sending], now - HEADLINE_WINDOW * 2, connection, state.history
            )
            out = _Outbox()
            mutes = self._mutes_of([r.id for r, _ in sending], connection)
            self._compose(sending, state, received, mutes, out, report)
            del received, mutes  # per batch, like the readers' histories below
            report.messages += len(out.messages)
            report.enqueued += self._write(out, state, connection)
            state.history.forget_readers()
        self.users.set_next_due_many(next_due, connection)

    def _mutes_of(self, user_ids: list[int], connection: Connection) -> dict[int, MuteSet]:
        """The mutes of the readers who muted anything (two queries a batch; none muted: {})."""
        return {} if self.mutes is None else self.mutes.many(user_ids, connection)

    def _write(self, out: _Outbox, state: _Tick, connection: Connection) -> int:
        """The batch's new shared messages, then its outbox rows pointing at them (or at the
        messages earlier batches of the tick wrote). Returns how many rows were new."""
        new = out.messages
        if new:
            state.read_texts(digest for _, digest, _, _ in new)
            # rendered and stored a few hundred at a time: a message is a few kB of text (4
            # bytes a character once an emoji is in it), a batch's thousands of them at once
            # were the tick's largest peak (about 50 MiB for 4,000)
            for start in range(0, len(new), MESSAGES_AT_ONCE):
                chunk = new[start : start + MESSAGES_AT_ONCE]
                messages = [
                    DigestMessage(
                        digest.category, digest.story_keys,
                        state.render(digest, language, zone) if digest.stories
                        else as_payload(empty_digest_text(digest.category, language), None),
                    )
                    for _, digest, language, zone in chunk
                ]  # fmt: skip
                ids = self.deliveries.add_digest_messages(messages, state.now, connection)
                del messages
                message_ids = state.message_ids
                for (number, _, _, _), digest_id in zip(chunk, ids, strict=True):
                    message_ids[number] = digest_id
        ids_of = state.message_ids
        rows = [(u, c, s, ids_of[number]) for u, c, s, number in out.rows]
        return self.deliveries.enqueue_digest_rows(rows, state.now, connection)

    def _decide(self, reader: Reader, state: _Tick) -> DueDecision:
        """``decide`` for the reader; readers with equal inputs share one (a pure function)."""
        pause = effective_pause(reader)
        key = (
            reader.delivery_minutes, reader.timezone, reader.quiet_start, reader.quiet_end,
            reader.next_due_at, pause,
        )  # fmt: skip
        found = state.decisions.get(key)
        if found is None:
            found = state.decisions[key] = decide(
                schedule_of(reader), reader.next_due_at, state.now, paused_until=pause,
                grace=self.grace,
            )  # fmt: skip
        return found

    def _compose(
        self,
        sending: Sequence[tuple[Reader, str]],
        state: _Tick,
        received: Mapping[int, Mapping[str, frozenset[int]]],
        mutes: Mapping[int, MuteSet],
        out: _Outbox,
        report: TickReport,
    ) -> None:
        """Append one outbox row per category of each reader (empty digests per their choice),
        ``(reader, slot key)`` as ``decide`` chose, ``received`` and ``mutes`` by reader id.

        Mutes are part of what makes digests equal: muted sources leave the selection (its own
        ranking, shared by readers who muted the same), muted words join the digest's key. A
        reader who muted nothing has the plain key, shared with everyone like them.

        This runs for every reader of a tick, so it does per reader and category only look-ups
        with keys whose hashes are cached or cheap (strings, frozensets, ids of what the tick
        keeps): equal readers rarely meet in one batch (their histories differ), so grouping
        them first saved nothing."""
        catalog, digests, messages = self.catalog, state.digests, state.messages
        message_ids = state.message_ids
        local_day, new, rows = state.renderer.local_day, out.messages, out.rows
        counts = report.categories
        empty = 0
        for reader, slot_key in sending:
            selection = state.selection_of(reader, catalog)
            muted = mutes.get(reader.id, NO_MUTES) if mutes else NO_MUTES
            if muted.sources:
                selection = state.shared(without_sources(selection, muted.sources))
            words = muted.words
            size = min(max(reader.stories_per_digest, MIN_STORIES), MAX_STORIES)
            language = reader.ui_language
            zone = reader.timezone or "UTC"
            day = local_day(language, zone)  # all a zone changes
            say = reader.empty_digest == "say"
            got = received[reader.id]
            slot_texts = state.slot_text(slot_key)
            user_id, chat_id = reader.id, reader.chat_id
            for category in reader.categories:
                already = got.get(category, _NONE)
                # selections are shared (``state.shared``) and kept: an id is one selection
                digest_key: tuple[object, ...] = (id(selection), category, already, size)
                if words:
                    digest_key += (words,)
                digest = digests.get(digest_key)
                if digest is None:
                    stories = (
                        ()
                        if selection.empty
                        else state.stream(selection, category).fresh(already, size, words)
                    )
                    digest = digests[digest_key] = Digest(category=category, stories=stories)
                if not digest.stories and not say:
                    empty += 1
                    continue
                message_key = (id(digest), language, day)
                number = messages.get(message_key)
                if number is None:
                    number = messages[message_key] = len(message_ids)
                    message_ids.append(0)
                    new.append((number, digest, language, zone))
                text = slot_texts.get(category)
                if text is None:
                    text = slot_texts[category] = f"{category}@{slot_key}"
                rows.append((user_id, chat_id, text, number))
                counts[category] = counts.get(category, 0) + 1
        report.empty += empty


_NONE: frozenset[int] = frozenset()


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Leave every object alive before the tick out of the collector's passes while it runs,
    and make no passes while it runs.

    A tick allocates millions of small objects, which sets off full collections, and each one
    walked the whole heap: the bot's own import-time objects, the Related index, the ingest's
    caches (about 30 % of the ranking's CPU). Frozen, they are skipped; afterwards they go
    back to the oldest generation, so cycles among them are still found by later passes.

    The tick freezes again after each batch: what a batch leaves alive (rankings, digests,
    the renderer's caches, the histories) is the tick's own state, kept until it ends, and
    grows to millions of objects at 100,000 readers, and each full pass walked all of it
    again (15 passes, 3.0 s of a 100,000-reader tick's CPU; frozen per batch: 4 passes,
    0.1 s).

    The young passes went the same way: about 2,400 of them in a 100,000-reader tick, 0.7 s
    of CPU, each walking what the batch had just allocated, nearly all of it kept (the
    tick's caches) or freed by its reference count. A batch leaves no cyclic garbage (a gen-0
    and gen-1 collection after each batch of a 100,000-reader tick found none), so the
    collector is off while the tick runs: the passes found nothing to free. Garbage without
    cycles is freed as ever; a cycle made meanwhile (by the tick or another thread) waits for
    the first pass after the tick. The collector is on again afterwards if it was before."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


_TRIM = _malloc_trim()


def _release_free_memory() -> None:
    """Give the C heap's free pages back to the system after a tick (a few ms).

    The tick's strings, lists and dicts over 512 bytes come from the C allocator (from the
    thread's own arena when a worker thread runs the tick); freed, they stay resident until
    something reuses them: about 13 MiB after bench.memory's tick, run in process. Python's
    own small-object arenas go back by themselves once empty."""
    if _TRIM is not None:
        _TRIM(0)


def _titles(articles: ArticleStore, ids: list[int]) -> dict[int, tuple[str, str]]:
    """Title and summary of these articles (muted words are looked for in them)."""
    return {i: (t[1], t[2]) for i, t in articles.texts_of(ids).items()}


def _with_text(row: ArticleRow, text: tuple[str, str, str, str | None]) -> ArticleRow:
    url, title, summary, image_url = text
    return replace(row, url=url, title=title, summary=summary, image_url=image_url)


@dataclass
class _Outbox:
    """What one batch writes: its new shared messages (their numbers, see ``_Tick.messages``;
    the digest, its language and a timezone of its local day; rendered once the batch's
    texts are read) and one row per digest (user id, chat id, slot text, message number)."""

    messages: list[tuple[int, Digest, str, str]] = field(default_factory=list)
    rows: list[tuple[int, int, str, int]] = field(default_factory=list)
