"""The tick's shared messages: one per digest, UI language and local day (the header's date is
all a timezone changes), each exactly what ``digest_message`` renders for its readers."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

import push.tick
from digest.catalog import Catalog
from digest.compose import Digest
from digest.rank import RankedStory
from push.tick import DigestScheduler
from storage.articles import ArticleStore
from storage.deliveries import DeliveryStore
from storage.tables import DigestPayload
from storage.users import UserStore
from tests.integration.test_tick_mutes import NOW, reader, story
from views.digest import as_payload, digest_message

ZONES = {1: "UTC", 2: "America/New_York", 3: "Europe/Berlin", 4: "Pacific/Kiritimati"}
LOCAL_NOW = {1: 12 * 60, 2: 7 * 60, 3: 13 * 60, 4: 2 * 60}  # minutes after local midnight


@pytest.mark.parametrize("at_once", [1, push.tick.MESSAGES_AT_ONCE])
def test_readers_on_the_same_local_day_share_one_message(
    engine: Engine, catalog: Catalog, at_once: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when a batch's messages are rendered and stored one per statement."""
    monkeypatch.setattr(push.tick, "MESSAGES_AT_ONCE", at_once)
    us = [s.id for s in catalog.sources if s.offered and "US" in s.countries and s.language == "en"]
    articles = ArticleStore(engine)
    rows = articles.upsert(
        us[0], [story("a", "Senate passes the budget", 1), story("b", "Storm & <watch>", 2)], NOW
    ).new
    articles.set_clusters({r.id: r.id for r in rows})
    users, deliveries = UserStore(engine), DeliveryStore(engine)
    for user_id, zone in ZONES.items():
        reader(users, user_id, (us[0],))
        users.set_timezone(user_id, zone)
        users.set_delivery_minutes(user_id, [LOCAL_NOW[user_id]])
        users.set_next_due(user_id, NOW - timedelta(seconds=30))
    report = DigestScheduler(users, articles, deliveries, catalog).tick(NOW)
    assert report.enqueued == 4
    # 12:00 UTC is December 3 in New York, Berlin and London, already December 4 in Kiritimati
    assert report.messages == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DigestPayload)).scalar_one() == 2
    got = {u: deliveries.for_user(u)[0] for u in ZONES}
    assert got[1].digest_id == got[2].digest_id == got[3].digest_id != got[4].digest_id
    texts = {r.id: r for r in articles.window(NOW - timedelta(days=1), texts=True)[0]}
    shown = Digest("national", tuple(RankedStory(texts[r.id], (), 0.0) for r in rows))
    for user_id, zone in ZONES.items():
        text, keyboard = digest_message(shown, catalog, NOW, "en", zone)
        assert got[user_id].payload == as_payload(text, keyboard)


def test_a_tick_of_several_batches_leaves_nothing_frozen(engine: Engine, catalog: Catalog) -> None:
    """The tick keeps what each batch leaves alive out of the collector's passes while it
    runs (``gc.freeze``) and hands everything back when it ends, whatever the batches."""
    us = [s.id for s in catalog.sources if s.offered and "US" in s.countries and s.language == "en"]
    articles = ArticleStore(engine)
    articles.upsert(us[0], [story("a", "Senate passes the budget", 1)], NOW)
    users, deliveries = UserStore(engine), DeliveryStore(engine)
    for user_id in range(1, 6):
        reader(users, user_id, (us[0],))
        users.set_delivery_minutes(user_id, [12 * 60])
        users.set_next_due(user_id, NOW - timedelta(seconds=30))
    frozen = gc.get_freeze_count()
    scheduler = DigestScheduler(users, articles, deliveries, catalog, batch_size=2)
    assert scheduler.tick(NOW).enqueued == 5
    assert gc.get_freeze_count() == frozen == 0


def test_the_collector_makes_no_passes_during_a_tick_and_is_as_before_after(
    engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No collection runs while the tick composes (its young passes found nothing to free and
    cost 0.7 s of a 100,000-reader tick); the collector is on or off afterwards as it was."""
    us = [s.id for s in catalog.sources if s.offered and "US" in s.countries and s.language == "en"]
    articles = ArticleStore(engine)
    articles.upsert(us[0], [story("a", "Senate passes the budget", 1)], NOW)
    users, deliveries = UserStore(engine), DeliveryStore(engine)
    for user_id in range(1, 6):
        reader(users, user_id, (us[0],))
        users.set_delivery_minutes(user_id, [12 * 60])
        users.set_next_due(user_id, NOW - timedelta(seconds=30))
    passes: list[int] = []
    batches: list[bool] = []  # whether a batch is running
    batch = push.tick.DigestScheduler._batch

    def in_batch(*args: Any) -> None:
        batches.append(True)
        try:
            batch(*args)
        finally:
            batches.append(False)

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and batches and batches[-1]:
            passes.append(info["generation"])

    monkeypatch.setattr(push.tick.DigestScheduler, "_batch", in_batch)

    threshold = gc.get_threshold()
    scheduler = DigestScheduler(users, articles, deliveries, catalog, batch_size=2)
    gc.callbacks.append(count)
    gc.set_threshold(1)  # a pass at every allocation of a container, were it on
    try:
        assert scheduler.tick(NOW).enqueued == 5
        assert gc.isenabled()
        assert passes == [] and batches.count(True) == 3
        gc.disable()
        scheduler.tick(NOW + timedelta(days=1))
        assert not gc.isenabled()
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(count)
        gc.enable()


def test_a_tick_leaves_no_garbage_for_the_collector(
    engine: Engine, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick's state (its ranking index, rankings, rendered caches: tens of MiB at scale)
    is freed when ``tick`` returns, without waiting for a collection: nothing holds it in a
    cycle (the index held the state through a bound method, so it lived until the
    collector's next full pass)."""
    us = [s.id for s in catalog.sources if s.offered and "US" in s.countries and s.language == "en"]
    articles = ArticleStore(engine)
    articles.upsert(us[0], [story("a", "Senate passes the budget", 1)], NOW)
    users = UserStore(engine)
    reader(users, 1, (us[0],))
    states: list[weakref.ref[object]] = []
    index_of = push.tick._Tick.stream

    def stream(self: push.tick._Tick, *args: object) -> object:
        found = index_of(self, *args)  # type: ignore[arg-type]
        states.extend([weakref.ref(self), weakref.ref(self._index)])
        return found

    monkeypatch.setattr(push.tick._Tick, "stream", stream)
    scheduler = DigestScheduler(users, articles, DeliveryStore(engine), catalog)
    gc.collect()
    gc.disable()
    try:
        assert scheduler.tick(NOW).enqueued == 1
        assert states and all(ref() is None for ref in states)
    finally:
        gc.enable()


def test_readers_find_their_selection_by_their_keys_identity_and_equal_keys_share_it(
    engine: Engine, catalog: Catalog
) -> None:
    """The tick finds a reader's selection by the identity of its key (``selection_key``),
    so equal keys that are distinct objects must still meet in one shared selection, and a
    different key must not be taken for a key that was there before."""
    us = [s.id for s in catalog.sources if s.offered and "US" in s.countries and s.language == "en"]
    users = UserStore(engine)
    reader(users, 1, (us[0],))
    reader(users, 2, (us[1],))
    first, other = users.get(1), users.get(2)
    assert first is not None and other is not None
    twin = replace(first, id=3, countries=tuple(replace(c) for c in first.countries))
    assert twin.countries == first.countries and twin.countries is not first.countries
    state = push.tick._Tick(ArticleStore(engine), catalog, NOW)
    chosen = state.selection_of(first, catalog)
    assert state.selection_of(twin, catalog) is chosen
    assert state.selection_of(first, catalog) is chosen
    theirs = state.selection_of(other, catalog)
    assert theirs is not chosen and theirs.source_ids == frozenset({us[1]})
    assert chosen.source_ids == frozenset({us[0]})
