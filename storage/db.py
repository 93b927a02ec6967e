"""Engine, sessions and schema upgrades.

SQLite is the default because a reader should be able to run the bot with nothing else installed;
PostgreSQL is the same code behind another URL. SQLite gets WAL (readers never wait for the writer)
and foreign keys (so deleting a user deletes their preferences), both of which are off by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, create_engine

from storage.errors import ConfigurationError, MigrationError

if TYPE_CHECKING:
    from alembic.config import Config

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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_REVISION = re.compile(r"^revision(?:\s*:[^=\n]*)?\s*=\s*['\"]([\w-]+)['\"]\s*$", re.M)
_DOWN_REVISION = re.compile(
    r"^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|['\"]([\w-]+)['\"])\s*$", re.M
)


@cache
def head_revision() -> str | None:
    """The newest bundled revision, read from the version files without importing Alembic;
    None if that is not plain (no file, a file whose revisions are not one literal each, a
    merge, several heads): then :func:`migrate` always asks Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _at_head(engine: Engine) -> bool:
    """Whether the database's schema is already at :func:`head_revision` (one plain query)."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [version for (version,) in versions] == [head]


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision (idempotent; run at every start).

    A schema already at head (every start but the first after an upgrade) is one query:
    Alembic, its migration scripts and Mako (about 9 MiB resident, ``python -m bench.memory``)
    are imported only when there is something to upgrade."""
    try:
        if _at_head(engine):
            return
        from alembic import command

        config = alembic_config(engine.url.render_as_string(hide_password=False))
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
