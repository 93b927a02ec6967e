"""UserStore keeps each answer, cascades deletes and never mixes users up."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

import storage.users as users_module
from storage.db import make_engine, migrate
from storage.search_index import include_name
from storage.tables import metadata
from storage.users import UserStore


def test_new_user_has_no_preferences(engine: Engine) -> None:
    users = UserStore(engine)
    reader = users.ensure(7, 7, "Ada", "de")
    assert reader.ui_language == "de"
    assert reader.primary_country is None
    assert not reader.setup_complete
    assert reader.active and not reader.paused


def test_preferences_round_trip(engine: Engine) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, "Ada", "en")
    users.set_primary_country(1, "CA")
    assert users.toggle_other_country(1, "US") is True
    users.set_primary_language(1, "CA", "fr")
    users.toggle_other_language(1, "CA", "en")
    users.set_primary_source(1, "CA", "radio-canada")
    users.toggle_other_source(1, "CA", "cbc")
    users.set_categories(1, ["sports", "business", "sports"])
    users.set_delivery_minutes(1, [1260, 420, 420])
    users.set_timezone(1, "America/Toronto")
    reader = users.get(1)
    assert reader is not None
    assert reader.primary_country == "CA"
    assert reader.other_countries == ("US",)
    canada = reader.country("CA")
    assert canada is not None
    assert canada.languages == ("fr", "en")
    assert canada.sources == ("radio-canada", "cbc")
    assert reader.categories == ("business", "sports")
    assert reader.delivery_minutes == (420, 1260)
    assert reader.timezone == "America/Toronto"


def test_new_primary_demotes_old_one_but_keeps_it(engine: Engine) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, None, "en")
    users.set_primary_country(1, "IN")
    users.set_primary_language(1, "IN", "en")
    users.set_primary_language(1, "IN", "hi")
    india = users.get(1).country("IN")  # type: ignore[union-attr]
    assert india is not None and india.languages == ("hi", "en")


def test_changing_primary_country_drops_the_old_ones_choices(engine: Engine) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, None, "en")
    users.set_primary_country(1, "CA")
    users.set_primary_language(1, "CA", "fr")
    users.set_primary_country(1, "DE")
    reader = users.get(1)
    assert reader is not None
    assert [c.code for c in reader.countries] == ["DE"]
    assert reader.countries[0].languages == ()


def test_toggling_primary_as_other_is_a_no_op(engine: Engine) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, None, "en")
    users.set_primary_country(1, "QA")
    assert users.toggle_other_country(1, "QA") is True
    assert users.get(1).primary_country == "QA"  # type: ignore[union-attr]


def test_delete_removes_every_row_of_that_user_only(engine: Engine) -> None:
    users = UserStore(engine)
    for uid in (1, 2):
        users.ensure(uid, uid, None, "en")
        users.set_primary_country(uid, "CA")
        users.set_primary_language(uid, "CA", "en")
        users.set_primary_source(uid, "CA", "cbc")
        users.set_categories(uid, ["all"])
        users.set_delivery_minutes(uid, [480])
    assert users.delete(1) is True
    assert users.get(1) is None
    assert users.delete(1) is False
    with engine.connect() as connection:
        for table in ("user_countries", "user_languages", "user_sources", "user_categories"):
            owners = connection.execute(text(f"SELECT DISTINCT user_id FROM {table}")).all()  # noqa: S608 - fixed table names
            assert [row[0] for row in owners] == [2]
    assert users.get(2) is not None


def test_keep_sources_drops_the_rest(engine: Engine) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, None, "en")
    users.set_primary_country(1, "CA")
    users.set_primary_source(1, "CA", "cbc")
    users.toggle_other_source(1, "CA", "radio-canada")
    users.keep_sources(1, "CA", ["cbc"])
    assert users.get(1).country("CA").sources == ("cbc",)  # type: ignore[union-attr]


def test_count_is_one_sql_count_not_a_load_of_every_id(engine: Engine) -> None:
    users = UserStore(engine)
    for uid in (1, 2, 3):
        users.ensure(uid, uid, None, "en")
    users.delete(2)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert users.count() == 2
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1 and "count(" in statements[0], statements


def test_returning_user_is_active_again(engine: Engine) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, None, "en")
    users.set_active(1, False)
    assert users.ensure(1, 1, "Ada", "en").active


def test_migrations_are_idempotent_and_match_the_models(blank_db_url: str) -> None:
    engine = make_engine(blank_db_url)
    migrate(engine)  # from nothing
    migrate(engine)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        drift = compare_metadata(context, metadata)
    engine.dispose()
    assert len(versions) == 1
    assert drift == [], "storage/tables.py changed without a migration"


def test_big_telegram_ids_fit(engine: Engine) -> None:
    users = UserStore(engine)
    big = 7_999_999_999
    users.ensure(big, big, None, "en")
    assert users.get(big) is not None


@pytest.mark.parametrize("update_from", [True, False], ids=["one-statement", "old-sqlite"])
def test_next_due_times_are_stored_as_one_by_one_writes_store_them(
    engine: Engine, update_from: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's next due times, shared or distinct, aware in any zone or None, are stored
    exactly as ``set_next_due`` (a Core UPDATE) stores each: one statement (on PostgreSQL
    shared times one per time; SQLite before 3.33 has no UPDATE ... FROM: one per time, or
    an executemany), in the caller's transaction, and readers not named keep theirs."""
    from datetime import UTC, datetime, timedelta, timezone

    if not update_from:
        if engine.dialect.name != "sqlite":
            pytest.skip("SQLite's fallback")
        monkeypatch.setattr(users_module, "_SQLITE_UPDATE_FROM", (99, 0, 0))
    users = UserStore(engine)
    for user_id in range(1, 71):
        users.ensure(user_id, user_id, None, "en")
    t0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    toronto = timezone(timedelta(hours=-5))
    users.set_next_due(30, t0)
    shared = {u: (t0 + timedelta(hours=u % 2) if u % 3 else None) for u in range(1, 25)}
    shared[24] = datetime(2026, 11, 25, 2, 0, tzinfo=toronto)  # t0, written in another zone
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with engine.begin() as conn:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            users.set_next_due_many(shared, conn)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    # PostgreSQL: an UPDATE per shared time; distinct times: one statement there too
    one = update_from and engine.dialect.name == "sqlite"
    assert len(statements) == (1 if one else 3)
    distinct = {u: t0 + timedelta(minutes=u) for u in range(25, 28)}
    statements.clear()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        users.set_next_due_many(distinct)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE")]) == 1
    for user_id in range(1, 31):
        got = users.get(user_id)
        assert got is not None
        expected = shared.get(user_id, distinct.get(user_id, t0 if user_id == 30 else None))
        assert got.next_due_at == expected, user_id
    # the stored values themselves (on SQLite, text) are what one-by-one writes leave
    for user_id, due in [*shared.items(), *distinct.items()]:
        users.set_next_due(40 + user_id, due)
    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT id, next_due_at FROM users")).all())
    for user_id in [*shared, *distinct]:
        assert stored[user_id] == stored[40 + user_id], user_id
