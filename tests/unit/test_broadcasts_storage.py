"""BroadcastStore on SQLite and PostgreSQL: audiences, draft → done, one sending at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage.broadcasts import KIND, Audience, BroadcastStore
from storage.db import alembic_config
from storage.deliveries import DeliveryStore
from storage.tables import Broadcast, Delivery, User, UserCountry, UserLanguage

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TICK = timedelta(seconds=0.5)
TEXT = {"method": "sendMessage", "text": "<b>Hello</b>", "parse_mode": "HTML"}


def add_reader(
    engine: Engine,
    uid: int,
    follows: dict[str, tuple[str, ...]],
    *,
    ui: str = "en",
    active: bool = True,
    setup_complete: bool = True,
    paused: bool = False,
    paused_until: datetime | None = None,
) -> None:
    """A reader following ``follows`` (country -> languages; the first country is primary)."""
    with engine.begin() as conn:
        conn.execute(insert(User), [{
            "id": uid, "chat_id": uid + 1_000_000, "ui_language": ui, "flow_mode": "settings",
            "setup_complete": setup_complete, "active": active, "paused": paused,
            "paused_until": paused_until, "stories_per_digest": 5, "empty_digest": "skip",
            "created_at": NOW, "updated_at": NOW,
        }])  # fmt: skip
        for position, (country, languages) in enumerate(follows.items()):
            conn.execute(insert(UserCountry), [{"user_id": uid, "country": country,
                                                "is_primary": position == 0,
                                                "position": position}])  # fmt: skip
            for index, language in enumerate(languages):
                conn.execute(insert(UserLanguage), [{"user_id": uid, "country": country,
                                                     "language": language,
                                                     "is_primary": index == 0}])  # fmt: skip


@pytest.fixture
def store(engine: Engine) -> BroadcastStore:
    return BroadcastStore(engine)


@pytest.fixture
def readers(engine: Engine) -> None:
    add_reader(engine, 1, {"CA": ("en",)})
    add_reader(engine, 2, {"CA": ("fr", "en"), "IN": ("hi",)}, ui="fr")
    add_reader(engine, 3, {"DE": ("de",)}, ui="de")
    add_reader(engine, 4, {"CA": ("en",)}, active=False)  # blocked the bot
    add_reader(engine, 5, {"CA": ("en",)}, paused=True)  # until they resume
    add_reader(engine, 6, {"CA": ("en",)}, paused=True, paused_until=NOW - timedelta(hours=1))
    add_reader(engine, 7, {"CA": ("en",)}, paused=True, paused_until=NOW + timedelta(hours=1))
    add_reader(engine, 8, {"CA": ("en",)}, setup_complete=False)


def recipients(store: BroadcastStore, engine: Engine, audience: Audience) -> list[int]:
    """Who gets outbox rows when a broadcast to ``audience`` starts (then it is finished)."""
    draft = store.create_draft(9, 9, "en", TEXT, NOW)
    store.confirm(draft.id, audience)
    assert store.start_next(NOW, TICK) is not None
    store.finish(draft.id, NOW)
    rows = select(Delivery.user_id).where(col(Delivery.broadcast_id) == draft.id)
    with engine.connect() as conn:
        return sorted(conn.execute(rows).scalars())


@pytest.mark.usefixtures("readers")
@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (Audience("all"), [1, 2, 3, 6]),
        (Audience("country", "CA"), [1, 2, 6]),
        (Audience("country", "IN"), [2]),  # another country of the reader counts too
        (Audience("country", "QA"), []),
        (Audience("language", "en"), [1, 2, 6]),  # a non-primary language counts too
        (Audience("language", "hi"), [2]),
        (Audience("language", "de"), [3]),
        (Audience("ui_language", "fr"), [2]),
        (Audience("ui_language", "en"), [1, 6]),
    ],
)
def test_segments_select_exactly_the_reachable_readers(
    store: BroadcastStore, engine: Engine, audience: Audience, expected: list[int]
) -> None:
    assert recipients(store, engine, audience) == expected
    assert store.audience_count(audience, NOW) == len(expected)


@pytest.mark.usefixtures("readers")
def test_breakdowns_count_each_reader_once_per_value(store: BroadcastStore) -> None:
    assert store.audience_breakdown("country", NOW) == {"CA": 3, "IN": 1, "DE": 1}
    assert store.audience_breakdown("language", NOW) == {"en": 3, "fr": 1, "hi": 1, "de": 1}
    assert store.audience_breakdown("ui_language", NOW) == {"en": 2, "fr": 1, "de": 1}
    with pytest.raises(ValueError):
        store.audience_breakdown("all", NOW)


def test_audience_is_validated() -> None:
    for kind, value in [("all", "x"), ("country", None), ("source", "cbc")]:
        with pytest.raises(ValueError):
            Audience(kind, value)


@pytest.mark.usefixtures("readers")
def test_confirm_then_start_writes_one_staggered_row_per_reader(
    store: BroadcastStore, engine: Engine
) -> None:
    draft = store.create_draft(9, 9, "en", TEXT, NOW)
    assert draft.status == "draft" and draft.payload == TEXT and draft.created_at == NOW
    deliveries = DeliveryStore(engine)
    assert deliveries.counts(broadcast_id=draft.id)["pending"] == 0, "nothing before Confirm"
    assert store.confirm(draft.id, Audience("country", "CA"))
    assert not store.confirm(draft.id, Audience("all")), "a second confirm changes nothing"
    started = store.start_next(NOW, TICK, {"allow_paid_broadcast": True})
    assert started is not None and started.status == "sending" and started.total == 3
    assert started.started_at == NOW and started.audience == Audience("country", "CA")
    rows = [r for uid in (1, 2, 6) for r in deliveries.for_user(uid)]
    assert [r.next_attempt_at for r in rows] == [NOW, NOW + TICK, NOW + 2 * TICK]
    assert {(r.kind, r.slot_key, r.broadcast_id) for r in rows} == {(KIND, f"b{draft.id}", 1)}
    assert rows[0].chat_id == 1_000_001
    assert rows[0].payload == {**TEXT, "allow_paid_broadcast": True}
    assert store.start_next(NOW, TICK) is None, "nothing else is queued"


@pytest.mark.usefixtures("readers")
def test_broadcasts_queue_up_behind_each_other(store: BroadcastStore, engine: Engine) -> None:
    first, second = (store.create_draft(9, 9, "en", TEXT, NOW) for _ in range(2))
    store.confirm(first.id, Audience("all"))
    store.confirm(second.id, Audience("language", "de"))
    assert store.start_next(NOW, TICK) is not None
    assert store.start_next(NOW, TICK) is None, "the second waits while the first is sending"
    assert store.get(second.id).status == "queued"  # type: ignore[union-attr]
    assert store.finish(first.id, NOW)
    started = store.start_next(NOW, TICK)
    assert started is not None and started.id == second.id and started.total == 1
    with engine.begin() as conn, pytest.raises(IntegrityError):
        # Even a writer that skips the check cannot make a second broadcast "sending".
        conn.execute(
            update(Broadcast).where(col(Broadcast.id) == first.id).values(status="sending")
        )


@pytest.mark.usefixtures("readers")
def test_cancel_queued_sending_and_drafts(store: BroadcastStore, engine: Engine) -> None:
    sending, queued, draft = (store.create_draft(9, 9, "en", TEXT, NOW) for _ in range(3))
    store.confirm(sending.id, Audience("all"))
    store.confirm(queued.id, Audience("all"))
    store.start_next(NOW, TICK)
    assert not store.cancel(draft.id, NOW), "a draft is discarded, not cancelled"
    assert store.cancel(queued.id, NOW) and store.cancel(sending.id, NOW)
    assert not store.cancel(sending.id, NOW)
    queued_row, sending_row = store.get(queued.id), store.get(sending.id)
    assert queued_row is not None and queued_row.finished_at == NOW, "no rows: over at once"
    assert sending_row is not None and sending_row.finished_at is None, "rows may be in flight"
    assert DeliveryStore(engine).cancel_broadcast(sending.id, NOW) == 4
    assert store.finish(sending.id, NOW) and not store.finish(sending.id, NOW)
    assert store.discard(draft.id, NOW) and not store.discard(draft.id, NOW)
    discarded = store.get(draft.id)
    assert discarded is not None and discarded.reported_at == NOW
    assert [r.id for r in store.unfinished()] == [sending.id, queued.id]


def test_progress_text_is_compare_and_set(store: BroadcastStore) -> None:
    draft = store.create_draft(9, 9, "en", TEXT, NOW)
    store.set_progress_message(draft.id, 77, None)
    assert store.swap_progress_text(draft.id, None, "Sent 1 / 3")
    assert not store.swap_progress_text(draft.id, None, "Sent 1 / 3"), "lost the race"
    assert store.swap_progress_text(draft.id, "Sent 1 / 3", "Sent 2 / 3")
    row = store.get(draft.id)
    assert row is not None and (row.progress_message_id, row.progress_text) == (77, "Sent 2 / 3")


@pytest.mark.usefixtures("readers")
def test_failure_reasons_most_common_first(store: BroadcastStore, engine: Engine) -> None:
    draft = store.create_draft(9, 9, "en", TEXT, NOW)
    store.confirm(draft.id, Audience("all"))
    store.start_next(NOW, TICK)
    deliveries = DeliveryStore(engine)
    rows = deliveries.claim("w", NOW + timedelta(seconds=5), 10)
    for row, reason in zip(rows, ["too long", "bad", "too long"], strict=False):
        deliveries.mark_failed(row.id, reason, NOW)
    assert store.failure_reasons(draft.id) == [("too long", 2), ("bad", 1)]
    assert store.failure_reasons(draft.id, limit=1) == [("too long", 2)]


def test_migration_0005_downgrades_and_upgrades(engine: Engine) -> None:
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert "broadcasts" not in inspect(engine).get_table_names()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    BroadcastStore(engine).create_draft(9, 9, "en", TEXT, NOW)
