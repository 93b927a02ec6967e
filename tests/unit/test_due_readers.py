"""The digest tick's reads per batch (one statement for the due readers with their preferences,
one aggregate per reader for what they received) say exactly what the per-row reads say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage.deliveries import DeliveryStore, DigestHistory, DigestItem, DigestMessage
from storage.users import UserStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _reader(
    users: UserStore, uid: int, countries: list[tuple[str, list[str], list[str]]], **flags: object
) -> None:
    """A set-up reader: countries (the first primary) with languages and sources (the first of
    each primary, the others added in the order given), then ``flags``."""
    users.ensure(uid, uid * 10, f"R{uid}", str(flags.pop("ui", "en")))
    for position, (code, languages, sources) in enumerate(countries):
        if position == 0:
            users.set_primary_country(uid, code)
        else:
            users.toggle_other_country(uid, code)
        for i, language in enumerate(languages):
            if i == 0:
                users.set_primary_language(uid, code, language)
            else:
                users.toggle_other_language(uid, code, language)
        for i, source in enumerate(sources):
            if i == 0:
                users.set_primary_source(uid, code, source)
            else:
                users.toggle_other_source(uid, code, source)
    users.set_categories(uid, flags.pop("categories", ["national"]))  # type: ignore[arg-type]
    users.set_delivery_minutes(uid, flags.pop("minutes", [420]))  # type: ignore[arg-type]
    users.set_timezone(uid, str(flags.pop("zone", "UTC")))
    users.set_setup_complete(uid, bool(flags.pop("setup", True)))
    users.set_next_due(uid, flags.pop("due", NOW - timedelta(minutes=5)))  # type: ignore[arg-type]
    assert not flags, flags


def _population(users: UserStore) -> list[int]:
    """Readers of every shape the tick meets; returns the ids due at NOW, oldest due first."""
    early = NOW - timedelta(hours=3)
    # several countries, second languages, several sources added out of sorted order, ids with
    # the characters a naive encoding would trip on
    _reader(
        users, 5, [("CA", ["fr", "en"], ["radio-canada", "cbc", "a,b c:d"]),
                   ("WORLD", ["en"], ["reuters", "bbc-world", "ap"]), ("IN", ["hi", "en"], [])],
        categories=["sports", "business", "all", "national"], minutes=[1260, 420, 0],
        zone="America/Toronto", ui="fr",
    )  # fmt: skip
    _reader(users, 3, [("US", ["en"], ["cnn", "apnews"])], due=early)
    _reader(users, 4, [("US", ["en"], ["cnn", "apnews"])], due=early)  # same choices as 3
    _reader(users, 9, [("DE", ["de", "en"], ["zeit", "spiegel", "dw-en"])], categories=["all"])
    _reader(users, 2, [("QA", ["ar"], ["aljazeera-ar"])])
    users.set_paused(2, True, NOW + timedelta(days=2))
    _reader(users, 8, [("CN", ["zh"], ["xinhua"])])
    users.set_paused(8, True)  # indefinitely
    users.set_quiet_hours(8, 1320, 420)
    users.set_stories_per_digest(8, 10)
    users.set_empty_digest(8, "say")
    _reader(users, 11, [("IN", ["en"], [])], categories=[], minutes=[])  # little chosen
    _reader(users, 6, [("US", ["en"], ["cnn"])], due=NOW + timedelta(minutes=1))  # not due
    _reader(users, 7, [("US", ["en"], ["cnn"])], due=None)  # no schedule
    _reader(users, 10, [("US", ["en"], ["cnn"])], setup=False)  # still in setup
    _reader(users, 12, [("US", ["en"], ["cnn"])])
    users.set_active(12, False)  # blocked the bot
    users.ensure(1, 1, None, "en")  # never set up
    return [3, 4, 2, 5, 8, 9, 11]


def test_a_claimed_batch_holds_what_get_reads(engine: Engine) -> None:
    """Every field and every preference, in the same order, as the per-table reads give
    them; only due readers, oldest due first (ties by id), at most ``limit``."""
    users = UserStore(engine)
    due = _population(users)
    expected = [users.get(uid) for uid in due]
    with users.claim_due(NOW, 100) as batch:
        assert batch.readers == expected
        assert [r.id for r in batch.readers] == due
        # times in datetime.UTC itself, as the ORM reads give them (not psycopg's session zone)
        times = [t for r in batch.readers for t in (r.next_due_at, r.paused_until) if t]
        assert len(times) == 8 and all(t.tzinfo is UTC for t in times)
    five = next(r for r in expected if r is not None and r.id == 5)
    assert [(c.code, c.languages, c.sources) for c in five.countries] == [
        ("CA", ("fr", "en"), ("radio-canada", "a,b c:d", "cbc")),
        ("WORLD", ("en",), ("reuters", "ap", "bbc-world")),
        ("IN", ("hi", "en"), ()),
    ]
    assert five.categories == ("all", "business", "national", "sports")
    assert five.delivery_minutes == (0, 420, 1260)
    with users.claim_due(NOW, 3) as batch:
        assert [r.id for r in batch.readers] == due[:3]


def test_equal_choices_are_one_shared_tuple(engine: Engine) -> None:
    """100,000 readers hold a few thousand distinct preference tuples, not 100,000 copies."""
    users = UserStore(engine)
    _population(users)
    with users.claim_due(NOW, 100) as batch:
        by_id = {r.id: r for r in batch.readers}
    assert by_id[3].countries is by_id[4].countries
    assert by_id[3].categories is by_id[2].categories
    assert by_id[3].delivery_minutes is by_id[4].delivery_minutes


def test_a_locked_reader_is_read_like_a_claimed_one(engine: Engine) -> None:
    users = UserStore(engine)
    _population(users)
    for uid in (5, 8, 10, 1):
        with users.lock(uid) as held:
            assert held.readers == [users.get(uid)]
    with users.lock(404) as held:
        assert held.readers == []


def test_received_digests_say_what_the_row_by_row_read_says(engine: Engine) -> None:
    """Several digests in one category add up; digests before ``since`` and digests whose
    message is gone count for nothing; equal stories are one shared set."""
    store, users = DeliveryStore(engine), UserStore(engine)
    for uid in range(1, 6):
        users.ensure(uid, uid, None, "en")
    messages = [
        DigestMessage("national", (11, 12), {"text": "a"}),
        DigestMessage("national", (11, 12), {"text": "a, in German"}),
        DigestMessage("national", (13,), {"text": "b"}),
        DigestMessage("sports", (21,), {"text": "c"}),
        DigestMessage("sports", (22,), {"text": "gone"}),
    ]
    rows = [
        DigestItem(1, 1, "national@s1", 0), DigestItem(1, 1, "national@s2", 2),
        DigestItem(1, 1, "sports@s1", 3), DigestItem(2, 2, "national@s1", 1),
        DigestItem(3, 3, "sports@s1", 4), DigestItem(4, 4, "national@s1", 0),
    ]  # fmt: skip
    assert store.enqueue_digests(messages, rows, NOW) == 6
    store.enqueue_digests(messages, [DigestItem(4, 4, "sports@old", 3)], NOW - timedelta(days=9))
    with engine.begin() as conn:  # a pruned message: its rows deliver nothing to skip
        conn.execute(
            text(
                "DELETE FROM digest_payloads WHERE id = (SELECT digest_id FROM deliveries "
                "WHERE user_id = 3)"
            )
        )
    since = NOW - timedelta(days=6)
    history = DigestHistory()
    with engine.connect() as conn:
        got = store.received_digests([1, 2, 3, 4, 5, 4], since, conn, history)
    expected = store.received_many([1, 2, 3, 4, 5], since)
    assert {u: {c: set(k) for c, k in m.items()} for u, m in got.items()} == expected
    assert expected[1] == {"national": {11, 12, 13}, "sports": {21}}
    assert expected[3] == {} and expected[5] == {}
    assert got[2]["national"] is got[4]["national"]  # same stories in two languages
