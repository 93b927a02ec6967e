"""Engine, sessions and schema upgrades.

SQLite is the default because a reader should be able to run the bot with nothing else installed;
PostgreSQL is the same code behind another URL. SQLite gets WAL (readers never wait for the writer)
and foreign keys (so deleting a user deletes their preferences), both of which are off by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, create_engine

from storage.errors import ConfigurationError, MigrationError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATE_LOCK = 0x6E657773  # "news": the advisory lock key that serialises schema upgrades


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Build an engine for ``url``; ConfigurationError with a one-line reason if unusable."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigurationError(f"DATABASE_URL is not a valid SQLAlchemy URL: {e}") from e
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our bundled migrations; no alembic.ini on disk needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision (idempotent; run at every start)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Processes starting together (receivers, workers) upgrade one at a time; the
                # lock ends with this transaction, and the later ones find the schema at head.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as e:
        raise MigrationError(
            f"could not upgrade the database schema: {e.__class__.__name__}"
        ) from e


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
