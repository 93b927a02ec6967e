"""``users.preferences`` (the five preference tables as one text, which the digest tick's claim
reads instead of aggregating them) stays equal to a fresh computation after every write, is
backfilled by its migration, and a reader whose text is missing still reads right."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from newsbot_testing.seeding import OtherCountry, insert_readers
from newsbot_testing.seeding import Reader as Seeded
from storage.db import alembic_config, make_engine, migrate
from storage.due_readers import PG_PREFERENCES, SQLITE_PREFERENCES
from storage.readers import Reader
from storage.tables import User, UserCategory, UserCountry, UserLanguage, UserSource
from storage.users import UserStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
_FRESH = "SELECT d.id, d.preferences, {} FROM users AS d ORDER BY d.id"


def _stored_and_fresh(engine: Engine) -> list[tuple[int, str | None, str]]:
    """Every user's stored text next to the text computed from the tables now."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        expression = SQLITE_PREFERENCES if sqlite else PG_PREFERENCES
        rows = conn.execute(text(_FRESH.format(expression))).all()  # constant text
    return [(uid, stored, fresh) for uid, stored, fresh in rows]


def _assert_true(engine: Engine, users: UserStore, step: str) -> None:
    """Every user's text equals a fresh computation, and the reader it decodes to (the claim's
    read) equals the reader read table by table."""
    for uid, stored, fresh in _stored_and_fresh(engine):
        assert stored == fresh, (step, uid)
        with users.lock(uid) as held:
            assert held.readers == [users.get(uid)], (step, uid)


def _steps(users: UserStore) -> list[tuple[str, Callable[[], object]]]:
    return [
        ("ensure", lambda: users.ensure(1, 1, "Ada", "en")),
        ("ensure other", lambda: users.ensure(2, 2, None, "de")),
        ("primary country", lambda: users.set_primary_country(1, "CA")),
        ("other country", lambda: users.toggle_other_country(1, "US")),
        ("third country", lambda: users.toggle_other_country(1, "IN")),
        ("primary as other", lambda: users.toggle_other_country(1, "CA")),
        ("primary language", lambda: users.set_primary_language(1, "CA", "fr")),
        ("other language", lambda: users.toggle_other_language(1, "CA", "en")),
        ("language elsewhere", lambda: users.set_primary_language(1, "IN", "hi")),
        ("new primary language", lambda: users.set_primary_language(1, "CA", "en")),
        ("primary source", lambda: users.set_primary_source(1, "CA", "radio-canada")),
        ("other source", lambda: users.toggle_other_source(1, "CA", "cbc")),
        ("odd source id", lambda: users.toggle_other_source(1, "CA", "a,b c:d")),
        ("source elsewhere", lambda: users.set_primary_source(1, "IN", "ndtv")),
        ("source removed", lambda: users.toggle_other_source(1, "CA", "cbc")),
        ("keep sources", lambda: users.keep_sources(1, "CA", ["radio-canada"])),
        ("language removed", lambda: users.toggle_other_language(1, "CA", "fr")),
        ("categories", lambda: users.set_categories(1, ["sports", "business", "all"])),
        ("minutes", lambda: users.set_delivery_minutes(1, [1260, 420, 0])),
        ("other's choices", lambda: users.set_primary_country(2, "DE")),
        ("country removed", lambda: users.toggle_other_country(1, "US")),
        ("categories emptied", lambda: users.set_categories(1, [])),
        ("minutes emptied", lambda: users.set_delivery_minutes(1, [])),
        ("primary country changed", lambda: users.set_primary_country(1, "IN")),
        ("returning user", lambda: users.ensure(1, 1, "Ada", "en")),
        ("deleted", lambda: users.delete(2)),
    ]


def test_every_setter_keeps_the_text_true(engine: Engine) -> None:
    users = UserStore(engine)
    for step, write in _steps(users):
        write()
        _assert_true(engine, users, step)
    assert [uid for uid, _, _ in _stored_and_fresh(engine)] == [1]


def test_equal_choices_made_in_another_order_are_one_text(engine: Engine) -> None:
    """The decoder decodes a text once: equal preferences must be equal text, however and in
    whatever order they were chosen."""
    users = UserStore(engine)
    for uid in (1, 2):
        users.ensure(uid, uid, None, "en")
        users.set_primary_country(uid, "CA")
    users.toggle_other_country(1, "IN")
    users.toggle_other_source(1, "CA", "cbc")
    users.toggle_other_source(1, "CA", "ctv")
    users.set_categories(1, ["sports", "all"])
    users.set_delivery_minutes(1, [420, 0])
    users.set_delivery_minutes(2, [0, 420])
    users.set_categories(2, ["all", "sports"])
    users.toggle_other_source(2, "CA", "ctv")
    users.toggle_other_source(2, "CA", "cbc")
    users.toggle_other_country(2, "IN")
    (_, first, _), (_, second, _) = _stored_and_fresh(engine)
    assert first == second and first is not None


def _insert_the_old_way(engine: Engine, uid: int, due: datetime) -> None:
    """A set-up reader written straight into the tables (as code that predates the column, or
    a test's bulk insert, does): no preferences text."""
    with engine.begin() as conn:
        conn.execute(insert(User), [{
            "id": uid, "chat_id": uid, "ui_language": "en", "timezone": "UTC",
            "flow_mode": "settings", "setup_complete": True, "active": True, "paused": False,
            "next_due_at": due, "stories_per_digest": 5, "empty_digest": "skip",
        }])  # fmt: skip
        conn.execute(insert(UserCountry), [
            {"user_id": uid, "country": "US", "is_primary": False, "position": 1},
            {"user_id": uid, "country": "CA", "is_primary": True, "position": 0},
        ])  # fmt: skip
        conn.execute(insert(UserLanguage), [
            {"user_id": uid, "country": "CA", "language": "fr", "is_primary": False},
            {"user_id": uid, "country": "CA", "language": "en", "is_primary": True},
            {"user_id": uid, "country": "US", "language": "en", "is_primary": True},
        ])  # fmt: skip
        conn.execute(insert(UserSource), [
            {"user_id": uid, "country": "CA", "source_id": "radio-canada", "is_primary": False},
            {"user_id": uid, "country": "CA", "source_id": "cbc", "is_primary": True},
        ])  # fmt: skip
        conn.execute(insert(UserCategory), [
            {"user_id": uid, "category": c} for c in ("sports", "national")
        ])  # fmt: skip


def _claimed(users: UserStore) -> list[Reader]:
    with users.claim_due(NOW, 100) as batch:
        return batch.readers


def test_a_reader_without_a_text_is_read_from_the_tables(engine: Engine) -> None:
    users = UserStore(engine)
    _insert_the_old_way(engine, 7, NOW - timedelta(minutes=1))
    assert _stored_and_fresh(engine)[0][1] is None
    (reader,) = _claimed(users)
    assert reader == users.get(7)
    canada = reader.country("CA")
    assert canada is not None and canada.languages == ("en", "fr")
    assert canada.sources == ("cbc", "radio-canada")
    assert reader.other_countries == ("US",) and reader.categories == ("national", "sports")
    with users.lock(7) as held:
        assert held.readers == [reader]
    users.set_categories(7, ["all"])  # any setter computes the whole text
    _assert_true(engine, users, "after a setter")


def test_the_claim_reads_the_stored_text(engine: Engine) -> None:
    """What makes the claim cheap, and why every write must refresh the text: a reader is read
    as their text says, not from the tables."""
    users = UserStore(engine)
    users.ensure(1, 1, None, "en")
    users.set_primary_country(1, "CA")
    users.set_setup_complete(1)
    users.set_next_due(1, NOW - timedelta(minutes=1))
    users.ensure(2, 2, None, "en")
    users.set_primary_country(2, "DE")
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET preferences = (SELECT preferences FROM users "
                          "WHERE id = 2) WHERE id = 1"))  # fmt: skip
    (reader,) = _claimed(users)
    assert reader.primary_country == "DE"


def test_bulk_seeded_readers_have_their_text(engine: Engine) -> None:
    readers = [
        Seeded(uid, "IN", "en", ("ndtv", "the-hindu"), ("sports", "national"), (420, 60),
               other_languages=("hi",), others=(OtherCountry("US", ("en",), ("cnn",)),))
        for uid in (3, 4)
    ] + [Seeded(5, "CA", "fr")]  # fmt: skip
    with engine.begin() as conn:
        insert_readers(conn, readers, NOW)
    users = UserStore(engine)
    _assert_true(engine, users, "seeded")
    stored = [s for _, s, _ in _stored_and_fresh(engine)]
    assert stored[0] == stored[1] != stored[2]


def test_the_migration_backfills_readers_written_before_it(blank_db_url: str) -> None:
    engine = make_engine(blank_db_url)
    config = alembic_config(blank_db_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0012")
    # the old schema, no preferences column yet: the model's inserts name only given columns
    _insert_the_old_way(engine, 1, NOW - timedelta(minutes=1))
    _insert_the_old_way(engine, 2, NOW - timedelta(minutes=2))
    with engine.begin() as conn:  # set up, due, but nothing chosen
        conn.execute(insert(User), [{
            "id": 3, "chat_id": 3, "flow_mode": "settings", "setup_complete": True,
            "active": True, "paused": False, "next_due_at": NOW - timedelta(minutes=3),
        }])  # fmt: skip
    migrate(engine)  # up to head from 0012: the column, backfilled
    users = UserStore(engine)
    _assert_true(engine, users, "backfilled")
    assert all(stored is not None for _, stored, _ in _stored_and_fresh(engine))
    claimed = _claimed(users)
    assert [r.id for r in claimed] == [3, 2, 1] and claimed == [users.get(u) for u in (3, 2, 1)]
    with engine.begin() as connection:  # and down again: the column goes, the rows stay
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM user_languages")).scalar_one()
    assert kept == 6
    engine.dispose()
