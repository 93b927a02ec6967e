"""The outbox and leases: idempotent enqueue, claims never shared, terminal states, counts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, inspect, select
from sqlalchemy.engine import Engine

from storage.db import make_engine
from storage.deliveries import DeliveryStore, DigestHistory, DigestItem, DigestMessage, OutboxItem
from storage.id_lists import ids_value, in_ids
from storage.leases import LeaseStore
from storage.tables import DigestPayload, User
from storage.users import UserStore

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def item(user: int, slot: str = "2026-11-25T07:00/national", kind: str = "digest") -> OutboxItem:
    payload = {"method": "sendMessage", "text": f"<b>news for {user}</b>", "parse_mode": "HTML"}
    return OutboxItem(user, user, kind, slot, payload)


@pytest.fixture
def store(engine: Engine) -> DeliveryStore:
    users = UserStore(engine)
    for user_id in range(1, 6):
        users.ensure(user_id, user_id, f"u{user_id}", "en")
    return DeliveryStore(engine)


def test_enqueue_is_idempotent_per_slot(store: DeliveryStore) -> None:
    first = [item(1), item(2), item(1, "2026-11-25T07:00/sports"), item(1)]
    assert store.enqueue(first, T0) == 3  # the repeated slot inside one call is skipped too
    assert store.enqueue([item(1), item(2), item(3)], T0) == 1
    assert store.counts()["pending"] == 4
    row = store.for_user(1)[0]
    assert row.payload["text"] == "<b>news for 1</b>"
    assert row.status == "pending" and row.attempts == 0 and row.next_attempt_at == T0


def test_delivered_articles_are_recorded_once_and_pruned(store: DeliveryStore) -> None:
    delivered = [(1, "national", 10), (1, "national", 11), (1, "sports", 10), (2, "national", 10)]
    store.enqueue([item(1)], T0, delivered + [(1, "national", 10)])
    store.enqueue([item(1)], T0 + timedelta(days=1), [(1, "national", 12), (1, "national", 11)])
    assert store.delivered_article_ids_many([1], "national")[1] == {10, 11, 12}
    many = store.delivered_article_ids_many([1, 2, 3], "national")
    assert many == {1: {10, 11, 12}, 2: {10}, 3: set()}
    assert store.prune_delivered_articles(T0 + timedelta(hours=1)) == 4
    assert store.delivered_article_ids_many([1], "national")[1] == {12}


def test_claim_takes_due_rows_oldest_first_and_counts_attempts(store: DeliveryStore) -> None:
    store.enqueue([item(2)], T0 + timedelta(minutes=1))  # not due yet at T0
    store.enqueue([item(1), item(3)], T0)
    got = store.claim("w1", T0, limit=10)
    assert [r.user_id for r in got] == [1, 3]
    assert {(r.status, r.claimed_by, r.attempts, r.claimed_at) for r in got} == {
        ("sending", "w1", 1, T0)
    }
    assert store.claim("w2", T0, limit=10) == []
    assert [r.user_id for r in store.claim("w2", T0 + timedelta(minutes=1), limit=10)] == [2]


def test_stale_in_flight_rows_are_claimed_again(store: DeliveryStore) -> None:
    store.enqueue([item(1), item(2)], T0)
    assert len(store.claim("crashed", T0, limit=10)) == 2
    assert store.claim("w2", T0 + timedelta(minutes=1), limit=10) == []
    again = store.claim("w2", T0 + timedelta(minutes=3), limit=1)
    assert [(r.user_id, r.claimed_by, r.attempts) for r in again] == [(1, "w2", 2)]


def test_two_engines_in_threads_never_claim_the_same_row(engine: Engine, db_url: str) -> None:
    users = UserStore(engine)
    for user_id in range(1, 41):
        users.ensure(user_id, user_id, None, "en")
    items = [item(u, f"slot-{s}") for u in range(1, 41) for s in range(5)]
    assert DeliveryStore(engine).enqueue(items, T0) == 200
    other = make_engine(db_url)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str, eng: Engine) -> None:
        store = DeliveryStore(eng)
        try:
            start.wait()
            while rows := store.claim(name, T0, limit=7):
                claimed[name].extend(r.id for r in rows)
                time.sleep(0.002)  # as a sender would between claims: lets the other one in
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=a) for a in (("a", engine), ("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    other.dispose()
    assert errors == []
    every = claimed["a"] + claimed["b"]
    assert [i for i, n in Counter(every).items() if n > 1] == []
    assert len(every) == 200
    assert claimed["a"] and claimed["b"], "both workers should have got some rows"


def test_outcomes_and_blocking_cancels_the_readers_other_pushes(store: DeliveryStore) -> None:
    store.enqueue([item(1, f"s{i}") for i in range(4)] + [item(2), item(3)], T0)
    rows = {(r.user_id, r.slot_key): r for r in store.claim("w", T0, limit=4)}
    store.mark_sent_many([(rows[(1, "s0")].id, 777)], T0)
    store.mark_retry(rows[(1, "s1")].id, "Bad Gateway", T0 + timedelta(seconds=2))
    assert store.mark_blocked(1, rows[(1, "s2")].id, "Forbidden: bot was blocked", T0) == 2
    by_slot = {r.slot_key: r for r in store.for_user(1)}
    assert by_slot["s0"].status == "sent" and by_slot["s0"].message_id == 777
    assert by_slot["s0"].sent_at == T0
    assert by_slot["s1"].status == "cancelled"  # it was back to pending, then cancelled
    assert by_slot["s2"].status == "blocked" and "blocked" in (by_slot["s2"].last_error or "")
    assert by_slot["s3"].status == "cancelled"  # in flight with another worker: cancelled too
    store.mark_retry(by_slot["s3"].id, "late answer", T0)  # must not bring it back
    assert store.get(by_slot["s3"].id).status == "cancelled"  # type: ignore[union-attr]
    assert [r.status for r in store.for_user(2) + store.for_user(3)] == ["pending", "pending"]


def test_retry_failure_and_counts(store: DeliveryStore) -> None:
    store.enqueue([item(1), item(2)], T0)
    store.enqueue([item(3, kind="broadcast")], T0 + timedelta(hours=1))
    one, two = store.claim("w", T0, limit=2)
    store.mark_retry(one.id, "Timed out", T0 + timedelta(seconds=4))
    store.mark_failed(two.id, "x" * 500, T0)
    failed = store.get(two.id)
    assert failed is not None and failed.status == "failed" and len(failed.last_error or "") == 300
    assert store.claim("w", T0 + timedelta(seconds=3), limit=5) == []
    assert [r.id for r in store.claim("w", T0 + timedelta(seconds=4), limit=5)] == [one.id]
    assert store.counts(kind="digest") == {
        "pending": 0, "sending": 1, "sent": 0, "failed": 1, "blocked": 0, "cancelled": 0
    }  # fmt: skip
    assert store.counts(since=T0 + timedelta(minutes=30))["pending"] == 1
    assert store.pending_count() == 2


def test_broadcast_counts_and_cancellation(store: DeliveryStore) -> None:
    items = [
        OutboxItem(u, u, "broadcast", "b:9", {"method": "sendMessage", "text": "hi"}, 9)
        for u in (1, 2, 3, 4)
    ]
    assert store.enqueue(items + [item(5)], T0) == 5
    first = store.claim("w", T0, limit=1)[0]
    store.mark_sent_many([(first.id, 5)], T0)
    store.claim("w", T0, limit=1)  # one in flight when the admin cancels
    assert store.cancel_broadcast(9, T0) == 2
    live = store.counts(broadcast_id=9)
    assert (live["sent"], live["sending"], live["cancelled"], live["pending"]) == (1, 1, 2, 0)
    assert store.counts(kind="digest")["pending"] == 1


def test_lease_is_exclusive_renewable_and_expires(engine: Engine) -> None:
    leases, ttl = LeaseStore(engine), timedelta(seconds=30)
    assert leases.holder("scheduler", T0) is None
    assert leases.acquire("scheduler", "host-a:1", T0, ttl)
    assert not leases.acquire("scheduler", "host-b:2", T0 + timedelta(seconds=10), ttl)
    assert leases.acquire("scheduler", "host-a:1", T0 + timedelta(seconds=20), ttl)  # renewed
    assert not leases.acquire("scheduler", "host-b:2", T0 + timedelta(seconds=45), ttl)
    assert leases.holder("scheduler", T0 + timedelta(seconds=45)) == "host-a:1"
    assert leases.holder("scheduler", T0 + timedelta(seconds=50)) is None  # expired
    assert leases.acquire("scheduler", "host-b:2", T0 + timedelta(seconds=50), ttl)
    leases.release("scheduler", "host-a:1")  # not the holder any more: no effect
    assert leases.holder("scheduler", T0 + timedelta(seconds=51)) == "host-b:2"
    leases.release("scheduler", "host-b:2")
    assert leases.acquire("scheduler", "host-a:1", T0 + timedelta(seconds=52), ttl)


def test_a_deadline_lease_is_only_ever_extended(engine: Engine) -> None:
    leases = LeaseStore(engine)
    assert leases.until("flood-gate", T0) is None
    leases.hold_until("flood-gate", "host-a:1", T0 + timedelta(seconds=30))
    leases.hold_until("flood-gate", "host-b:2", T0 + timedelta(seconds=10))  # shorter: ignored
    assert leases.until("flood-gate", T0) == T0 + timedelta(seconds=30)
    leases.hold_until("flood-gate", "host-b:2", T0 + timedelta(seconds=40))
    assert leases.until("flood-gate", T0 + timedelta(seconds=35)) == T0 + timedelta(seconds=40)
    assert leases.until("flood-gate", T0 + timedelta(seconds=40)) is None  # over


def test_only_one_of_two_processes_gets_the_lease(engine: Engine, db_url: str) -> None:
    engines = [engine, make_engine(db_url)]
    results: dict[str, bool] = {}
    start = threading.Barrier(2)

    def take(name: str, eng: Engine) -> None:
        start.wait()
        results[name] = LeaseStore(eng).acquire("scheduler", name, T0, timedelta(seconds=30))

    threads = [threading.Thread(target=take, args=(f"p{i}", e)) for i, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    engines[1].dispose()
    assert sorted(results.values()) == [False, True]
    winner = next(name for name, won in results.items() if won)
    assert LeaseStore(engine).holder("scheduler", T0) == winner


def test_a_new_pusher_requeues_rows_orphaned_by_other_workers(store: DeliveryStore) -> None:
    store.enqueue([item(1), item(2), item(3)], T0)
    store.claim("dead", T0, limit=2)
    store.claim("me", T0, limit=1)
    later = T0 + timedelta(seconds=35)
    assert store.requeue_orphans("me", later, expired_before=later - timedelta(seconds=30)) == 2
    again = store.claim("me", later, limit=10)  # due now, not in 2 minutes
    assert sorted(r.user_id for r in again) == [1, 2]
    assert {r.attempts for r in again} == {2}
    assert store.for_user(3)[0].status == "sending"  # its own in-flight row is left alone


def test_claims_confirmed_by_a_live_worker_are_never_requeued(store: DeliveryStore) -> None:
    store.enqueue([item(u) for u in (1, 2, 3, 4)], T0)
    ids = {r.user_id: r.id for r in store.claim("alive", T0, limit=3)}
    # the live worker confirms two of its rows 25 s later; the third (say its release failed
    # and it forgot it) is no longer confirmed
    assert store.touch_claims("alive", [ids[1], ids[2]], T0 + timedelta(seconds=25)) == 2
    assert store.touch_claims("someone else", [ids[3]], T0 + timedelta(seconds=25)) == 0
    at = T0 + timedelta(seconds=40)
    assert store.requeue_orphans("new", at, expired_before=at - timedelta(seconds=30)) == 1
    assert [r.status for u in (1, 2, 3) for r in store.for_user(u)] == [
        "sending", "sending", "pending"
    ]  # fmt: skip
    # a late outcome of the expired claim does not touch the row once another worker has it
    taken = next(r for r in store.claim("new", at, limit=2) if r.user_id == 3)
    store.mark_retry(taken.id, "late answer", at, worker="alive")
    store.mark_failed(taken.id, "late answer", at, worker="alive")
    assert store.get(taken.id).status == "sending"  # type: ignore[union-attr]


def test_a_dead_workers_rows_come_back_at_once(store: DeliveryStore) -> None:
    store.enqueue([item(1), item(2), item(3)], T0)
    store.claim("host:1:dead", T0, limit=1)
    store.claim("host:2:alive", T0, limit=1)
    at = T0 + timedelta(seconds=1)  # long before either claim expires
    expired = at - timedelta(seconds=30)
    assert store.requeue_orphans("me", at, expired_before=expired, dead="host:1:dead") == 1
    assert [store.for_user(u)[0].status for u in (1, 2)] == ["pending", "sending"]


def test_a_dead_holders_lease_is_taken_over_once(engine: Engine) -> None:
    leases, ttl = LeaseStore(engine), timedelta(seconds=30)
    assert leases.acquire("scheduler", "host:1:aa", T0, ttl)
    assert leases.take_over("scheduler", "host:1:aa", "host:2:bb", T0, ttl)
    assert not leases.take_over("scheduler", "host:1:aa", "host:3:cc", T0, ttl)
    assert leases.holder("scheduler", T0) == "host:2:bb"


def test_received_digests_agree_with_received_many_and_are_shared(
    store: DeliveryStore, engine: Engine
) -> None:
    """The tick's history read (digest ids, keys read once per tick) says what the per-row
    read says, and readers who got the same digests share one mapping."""
    messages = [
        DigestMessage("national", (11, 12), {"text": "a"}),
        DigestMessage("sports", (21,), {"text": "b"}),
        DigestMessage("national", (13,), {"text": "c"}),
    ]
    rows = [
        DigestItem(1, 1, "national@s1", 0), DigestItem(1, 1, "sports@s1", 1),
        DigestItem(2, 2, "national@s1", 0), DigestItem(2, 2, "sports@s1", 1),
        DigestItem(3, 3, "national@s1", 2), DigestItem(4, 4, "national@s1", 0),
    ]  # fmt: skip
    assert store.enqueue_digests(messages, rows, T0) == 6
    store.enqueue([], T0, [(4, "national", 99)])  # an explicit record counts too
    store.enqueue_digests(messages, [DigestItem(3, 3, "national@old", 0)], T0 - timedelta(days=9))
    since = T0 - timedelta(days=6)
    history = DigestHistory()
    with engine.connect() as conn:
        got = store.received_digests([1, 2, 3, 4, 5], since, conn, history)
    expected = store.received_many([1, 2, 3, 4, 5], since)
    assert {u: {c: set(k) for c, k in m.items()} for u, m in got.items()} == expected
    assert expected[1] == {"national": {11, 12}, "sports": {21}}
    assert expected[3] == {"national": {13}} and expected[5] == {}
    assert expected[4] == {"national": {11, 12, 99}}
    assert got[1] is got[2]  # same digests, one mapping
    # the tick forgets its readers' maps after each batch: the next batch reads the same
    history.forget_readers()
    with engine.connect() as conn:
        again = store.received_digests([2, 1, 3, 4, 5], since, conn, history)
    assert again == got and again[1] is again[2] and again[1] is not got[1]
    assert again[1]["national"] is got[1]["national"]  # the digests' contents stay shared


def test_digest_writes_keep_parameter_order_across_batches(
    store: DeliveryStore, engine: Engine
) -> None:
    """The tick's two bulk writes (one statement each on the raw driver): message ids come
    back in the order the messages were given, batch after batch and with a deleted message
    in between; a payload given as JSON text is stored as it is; outbox rows count only the
    slots that were new, and read back like any other digest row."""
    first = [DigestMessage("national", (i, i + 1), {"text": f"m{i}"}) for i in range(3)]
    with engine.begin() as conn:
        ids = store.add_digest_messages(first, T0, conn)
        assert store.enqueue_digest_rows([(1, 1, "national@s", ids[2])], T0, conn) == 1
    with engine.begin() as conn:
        conn.execute(delete(DigestPayload).where(DigestPayload.id == ids[1]))  # type: ignore[arg-type]
    second = [
        DigestMessage("sports", (7,), '{"method": "sendMessage", "text": "as text"}'),
        DigestMessage("business", (), {"text": "\u00e9t\u00e9 \u0928\u092e"}),
    ]
    with engine.begin() as conn:
        more = store.add_digest_messages(second, T0 + timedelta(minutes=1), conn)
        rows = [(1, 1, "national@s", more[0]), (2, 2, "sports@s", more[0]),
                (2, 2, "business@s", more[1]), (3, 3, "national@s", ids[0])]  # fmt: skip
        assert store.enqueue_digest_rows(rows, T0 + timedelta(minutes=1), conn) == 3
    assert len(set(ids + more)) == 5
    got = {(r.user_id, r.slot_key): r for u in (1, 2, 3) for r in store.for_user(u)}
    assert got[(1, "national@s")].payload == {"text": "m2"}  # the first write stays
    assert got[(1, "national@s")].next_attempt_at == T0
    assert got[(2, "sports@s")].payload == {"method": "sendMessage", "text": "as text"}
    assert got[(2, "business@s")].payload == {"text": "\u00e9t\u00e9 \u0928\u092e"}
    assert got[(3, "national@s")].payload == {"text": "m0"}
    business = got[(2, "business@s")]
    assert business.status == "pending" and business.attempts == 0 and business.kind == "digest"
    assert business.created_at == business.next_attempt_at == T0 + timedelta(minutes=1)
    received = store.received_many([1, 2, 3], T0 - timedelta(days=1))
    assert received[1] == {"national": {2, 3}} and received[3] == {"national": {0, 1}}
    assert received[2] == {"sports": {7}, "business": set()}
    assert [r.id for r in store.claim("w", T0 + timedelta(minutes=2), 10)]  # claimable


@pytest.mark.parametrize("count", [0, 1, 3000])
def test_in_ids_selects_exactly_the_listed_ids(engine: Engine, count: int) -> None:
    """One parameter for the whole list, on SQLite and PostgreSQL alike."""
    users = UserStore(engine)
    for user_id in (7, 8, 9):
        users.ensure(user_id, user_id, None, "en")
    wanted = [8, *range(100_000, 100_000 + count - 1)][:count]
    table = User.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        query = select(table.c.id).where(in_ids(conn, table.c.id)).order_by(table.c.id)
        found = conn.execute(query, {"ids": ids_value(conn, wanted)}).scalars().all()
    assert found == ([8] if count else [])


def test_broadcast_index_holds_broadcast_rows_only(engine: Engine) -> None:
    """Digest rows (no broadcast) write no entry in the broadcast index: it is partial."""
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("deliveries")}
    options = indexes["ix_deliveries_broadcast_id"].get("dialect_options", {})
    where = options.get(f"{engine.dialect.name}_where")
    assert where is not None, "every digest row wrote a NULL into the broadcast index"
    assert " ".join(str(where).lower().replace("(", "").replace(")", "").split()) == (
        "broadcast_id is not null"
    )


# The outbox's lookups, as ``DeliveryStore`` and ``BroadcastStore`` make them, and the index
# each must use (a parameter, as the statements bind it: PostgreSQL's generic plan too).
_LOOKUPS = [
    ("SELECT id FROM deliveries WHERE broadcast_id = {p} AND status = 'pending'",
     "ix_deliveries_broadcast_id"),
    ("SELECT count(*) FROM deliveries WHERE broadcast_id = {p}", "ix_deliveries_broadcast_id"),
    ("SELECT next_attempt_at, id FROM deliveries WHERE status = 'pending' AND "
     "next_attempt_at <= {t} ORDER BY next_attempt_at, id LIMIT 50",
     "ix_deliveries_status_next_attempt"),
    ("SELECT user_id, digest_id FROM deliveries WHERE user_id = {p} AND kind = 'digest' "
     "AND created_at >= {t}", "uq_deliveries_user_kind_slot"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "index"), _LOOKUPS)
def test_outbox_lookups_use_their_index(engine: Engine, query: str, index: str) -> None:
    """The sender's claims, the broadcast lookups and the tick's history read each find their
    rows through an index (the broadcast one partial), on both backends."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: use one if usable
            statement = query.format(p="$1", t="$2")
            conn.exec_driver_sql(f"PREPARE lookup(bigint, timestamp) AS {statement}")
            explained = conn.exec_driver_sql("EXPLAIN EXECUTE lookup(7, '2026-11-25 07:00')")
            plan = " ".join(row[0] for row in explained)
            conn.exec_driver_sql("DEALLOCATE lookup")
            conn.rollback()
        else:
            statement = query.format(p=":p", t=":t")
            explained = conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", {"p": 7, "t": "2026-11-25 07:00:00.000000"}
            )
            plan = " ".join(str(row[-1]) for row in explained)
    uq_sqlite = "sqlite_autoindex_deliveries_1"  # SQLite names the unique constraint's index so
    assert index in plan or (index == "uq_deliveries_user_kind_slot" and uq_sqlite in plan), plan


def test_digest_rows_written_twice_in_one_transaction_are_new_once(
    store: DeliveryStore, engine: Engine
) -> None:
    """The outbox rows' bulk write (PostgreSQL: COPY to a staging table, then one INSERT that
    skips known slots) counts only new slots, also when called again in the same transaction,
    and stores slot keys exactly as given."""
    odd = "national@2026-11-25T07:00Z\t\\N\n\u00e9"  # COPY's separators and escapes, verbatim
    with engine.begin() as conn:
        (digest,) = store.add_digest_messages([DigestMessage("national", (1,), "{}")], T0, conn)
        first = [(1, 1, odd, digest), (2, 2, "national@s", digest)]
        assert store.enqueue_digest_rows(first, T0, conn) == 2
        again = [(2, 2, "national@s", digest), (3, 3, "national@s", digest)]
        assert store.enqueue_digest_rows(again, T0, conn) == 1
    with engine.begin() as conn:  # a tick run twice: nothing new
        assert store.enqueue_digest_rows(first + again, T0, conn) == 0
    assert [r.slot_key for r in store.for_user(1)] == [odd]
    assert [len(store.for_user(u)) for u in (1, 2, 3)] == [1, 1, 1]
