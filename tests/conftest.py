"""Shared fixtures: a migrated database on SQLite, and on PostgreSQL if TEST_DATABASE_URL is set.

Migrating from nothing costs 0.5-1 s per test (eight Alembic revisions), and some 400 tests take
a database, so each backend is migrated once per session and every test starts from a copy: the
SQLite file is copied, the PostgreSQL tables are emptied. ``blank_db_url`` is the unmigrated
database for the tests about migrating itself.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Connection, Engine

from digest.catalog import Catalog, load_catalog
from storage.db import make_engine, migrate
from storage.search_index import TABLE as SEARCH_TABLE
from storage.tables import metadata


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (``test_gw0``, ...),
    created on first use, because every test empties the schema it runs on."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))  # name: ours, not input
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


PG_URL = _worker_database(os.environ.get("TEST_DATABASE_URL", ""))
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def reset_postgres(url: str) -> None:
    """Each PostgreSQL test starts from an empty schema, like each SQLite test's fresh file."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


_MIGRATED: dict[str, tuple[str, frozenset[str]]] = {}  # URL -> (revision, tables) at head


def _schema(connection: Connection) -> tuple[str, frozenset[str]]:
    tables = frozenset(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
    )
    revision = ""
    if "alembic_version" in tables:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return revision, tables


def migrated_postgres(url: str) -> None:
    """The schema at head with no rows: emptied (sequences restarted) when it is still the one
    this session migrated and holds only the models' tables, else dropped and migrated again
    (a test may have downgraded it)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            schema = _schema(connection)
            # the search index is no model (``storage.search_index``): its rows go with their
            # articles' (a cascading foreign key)
            models = {t.name for t in metadata.sorted_tables} | {"alembic_version", SEARCH_TABLE}
            if schema == _MIGRATED.get(url) and schema[1] == models:
                # DELETE, not TRUNCATE: on a few rows it is several times faster. Children
                # first (the models' dependency order, reversed); then every sequence from 1.
                for table in reversed(metadata.sorted_tables):
                    connection.execute(table.delete())
                connection.execute(
                    text(
                        "SELECT setval(format('%I', sequencename)::regclass, 1, false) "
                        "FROM pg_sequences WHERE schemaname = 'public'"
                    )
                )
                return
        reset_postgres(url)
        migrate(engine)
        with engine.connect() as connection:
            _MIGRATED[url] = _schema(connection)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, checkpointed so the file is complete."""
    path = tmp_path_factory.mktemp("template") / "newsbot.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


def database_url(backend: str, tmp_path: Path) -> str:
    """An empty, unmigrated database."""
    if backend == "postgresql":
        reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'newsbot.db'}"


@pytest.fixture
def scale_out_db_url(tmp_path: Path) -> str:
    """One database for the long multi-process runs: PostgreSQL, the scale-out backend, when
    TEST_DATABASE_URL is set, else SQLite (each backend's own tests already run on both)."""
    return database_url(BACKENDS[-1], tmp_path)


@pytest.fixture(params=BACKENDS)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database (not yet migrated) on each backend under test."""
    return database_url(request.param, tmp_path)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a database at the newest schema revision with no rows, on each backend under
    test (migrating it again is a no-op, as at every start of the bot)."""
    if request.param == "postgresql":
        migrated_postgres(PG_URL)
        return PG_URL
    template = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "newsbot.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on each backend under test."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
