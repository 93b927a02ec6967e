"""Readers and their preferences: the one place that reads or writes them.

Every method is one short transaction and returns plain data (``Reader``), so handlers never hold a
session across an ``await``. Each setup answer is written the moment it is given; that is what lets
a bot restarted mid-setup carry on at the same step.

Over 350 lines on purpose: the user row and its five preference tables are read and written
together, and keeping every transaction on them in one facade is what makes each answer one short
write.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Table, bindparam, delete, func, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from storage.db import session_scope
from storage.driver_rows import bound_time, fetch
from storage.due_readers import (
    PG_DUE,
    PG_ONE,
    SQLITE_DUE,
    SQLITE_ONE,
    ReaderDecoder,
    refresh_preferences,
)
from storage.errors import wraps_errors
from storage.id_lists import ids_value, in_ids
from storage.readers import CountryChoice, Reader
from storage.tables import (
    ALERT_KIND,
    Delivery,
    User,
    UserCategory,
    UserCountry,
    UserDeliveryTime,
    UserLanguage,
    UserSource,
    utcnow,
)

_Choice = TypeVar("_Choice", UserLanguage, UserSource)
_U: Table = User.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DueBatch:
    """Readers claimed for one transaction (see ``UserStore.claim_due``) and its connection,
    which the outbox writes of the same batch go through."""

    readers: list[Reader]
    connection: Connection


@wraps_errors
class UserStore:
    """Facade over the users and user_* tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader_decoder: ReaderDecoder | None = None

    # ----------------------------------------------------------------- reading
    def get(self, user_id: int) -> Reader | None:
        with Session(self._engine) as session:
            return _load_many(session, [user_id]).get(user_id)

    def due(self, now: datetime, limit: int = 500) -> list[Reader]:
        """Readers whose next digest is due: set up, active, ``next_due_at`` passed (indexed)."""
        with Session(self._engine) as session:
            ids = session.exec(
                select(User.id)
                .where(
                    col(User.next_due_at) <= now,
                    col(User.active),
                    col(User.setup_complete),
                )
                .order_by(col(User.next_due_at), col(User.id))
                .limit(limit)
            ).all()
            loaded = _load_many(session, list(ids))
            return [loaded[i] for i in ids if i in loaded]

    @contextmanager
    def claim_due(self, now: datetime, limit: int) -> Iterator[DueBatch]:
        """Up to ``limit`` due readers with their preferences, held for one transaction.

        The digest tick composes the batch and writes its outbox rows and next due times through
        ``batch.connection`` before the block ends, when all of it commits at once. On
        PostgreSQL the readers are locked ``FOR UPDATE SKIP LOCKED``: compose workers running
        side by side each take readers the others have not, and a reader is never composed
        twice. SQLite has one writer at a time: there the tick stays single-process.
        One statement per batch, whatever its size: each reader is one row carrying their
        preferences as one text column, which every setter here keeps true
        (``storage.due_readers``), read as driver tuples.
        """
        with self._engine.begin() as conn:
            statement = PG_DUE if conn.dialect.name == "postgresql" else SQLITE_DUE
            rows = fetch(conn, statement, (bound_time(conn.dialect, now), limit))
            yield DueBatch(self._decoder(conn).readers(rows), conn)

    @contextmanager
    def lock(self, user_id: int) -> Iterator[DueBatch]:
        """One reader, held like a claimed batch (waiting for a compose worker that holds
        them): /digest composes through it so it never races a tick for the same reader."""
        with self._engine.begin() as conn:
            statement = PG_ONE if conn.dialect.name == "postgresql" else SQLITE_ONE
            rows = fetch(conn, statement, (user_id,))
            yield DueBatch(self._decoder(conn).readers(rows), conn)

    def _decoder(self, conn: Connection) -> ReaderDecoder:
        """The store's decoder (its caches live as long as the store: one per process)."""
        if self._reader_decoder is None:
            self._reader_decoder = ReaderDecoder(conn.dialect)
        return self._reader_decoder

    def count(self) -> int:
        """How many users the bot knows (API, for operators and bench): counted in SQL."""
        with Session(self._engine) as session:
            return int(session.exec(select(func.count()).select_from(User)).one())

    # ---------------------------------------------------------------- identity
    def ensure(
        self, user_id: int, chat_id: int, first_name: str | None, ui_language: str
    ) -> Reader:
        """Create the user on first contact; a returning (maybe blocked) user is active again."""
        with session_scope(self._engine) as session:
            user = session.get(User, user_id)
            if user is None:
                user = User(
                    id=user_id, chat_id=chat_id, first_name=first_name, ui_language=ui_language
                )
            else:
                user.chat_id = chat_id
                user.first_name = first_name
                user.active = True
                user.updated_at = utcnow()
            session.add(user)
            _refresh(session, user_id)
        return self._must_get(user_id)

    def delete(self, user_id: int) -> bool:
        """Forget everything about the user. True if there was anything to forget."""
        with session_scope(self._engine) as session:
            for table in (UserCountry, UserLanguage, UserSource, UserCategory, UserDeliveryTime):
                session.execute(delete(table).where(col(table.user_id) == user_id))
            result = session.execute(delete(User).where(col(User.id) == user_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -------------------------------------------------------------- user flags
    def set_flow(
        self,
        user_id: int,
        step: str | None,
        *,
        mode: str | None = None,
        menu_message_id: int | None = None,
    ) -> None:
        """Remember where the user is in a menu flow (and which message holds that menu)."""
        values: dict[str, object] = {"flow_step": step, "updated_at": utcnow()}
        if mode is not None:
            values["flow_mode"] = mode
        if menu_message_id is not None:
            values["menu_message_id"] = menu_message_id
        self._update_user(user_id, values)

    def set_timezone(self, user_id: int, timezone: str) -> None:
        self._update_user(user_id, {"timezone": timezone})

    def set_setup_complete(self, user_id: int, complete: bool = True) -> None:
        self._update_user(user_id, {"setup_complete": complete})

    def set_paused(self, user_id: int, paused: bool, until: datetime | None = None) -> None:
        """Pause deliveries (until ``until``, or until resumed when None), or resume them.

        Pausing also cancels the reader's keyword alerts still waiting in the outbox (held
        until their quiet hours end): an alert is news of the moment, and a paused reader asked
        for silence. Digests already queued are due now and go out as usual."""
        values = {"paused": paused, "paused_until": until if paused else None}
        with session_scope(self._engine) as session:
            session.execute(update(User).where(col(User.id) == user_id).values(**values))
            if paused:
                session.execute(
                    update(Delivery)
                    .where(
                        col(Delivery.user_id) == user_id,
                        col(Delivery.kind) == ALERT_KIND,
                        col(Delivery.status) == "pending",
                    )
                    .values(status="cancelled", last_error="the reader paused deliveries")
                )

    def set_next_due(self, user_id: int, next_due_at: datetime | None) -> None:
        self._update_user(user_id, {"next_due_at": next_due_at})

    def set_next_due_many(
        self, next_due: Mapping[int, datetime | None], connection: Connection | None = None
    ) -> None:
        """Store the next due time of many readers, in ``connection``'s transaction when given
        (a claimed batch), else in a new one.

        One statement whatever the times (``_set_next_due``): the pairs are one parameter."""
        if not next_due:
            return
        if connection is not None:
            _set_next_due(connection, next_due)
            return
        with self._engine.begin() as conn:
            _set_next_due(conn, next_due)

    def set_quiet_hours(self, user_id: int, start: int | None, end: int | None) -> None:
        self._update_user(user_id, {"quiet_start": start, "quiet_end": end})

    def set_stories_per_digest(self, user_id: int, count: int) -> None:
        self._update_user(user_id, {"stories_per_digest": count})

    def set_empty_digest(self, user_id: int, behaviour: str) -> None:
        self._update_user(user_id, {"empty_digest": behaviour})

    def set_ui_language(self, user_id: int, language: str) -> None:
        """The interface language the reader chose in /settings (one of views.i18n's)."""
        self._update_user(user_id, {"ui_language": language})

    def set_active(self, user_id: int, active: bool) -> None:
        self._update_user(user_id, {"active": active})

    # --------------------------------------------------------------- countries
    def set_primary_country(self, user_id: int, country: str) -> None:
        """Make ``country`` primary; the old primary is dropped with its languages and sources."""
        with session_scope(self._engine) as session:
            old = session.exec(
                select(UserCountry).where(
                    UserCountry.user_id == user_id, col(UserCountry.is_primary)
                )
            ).first()
            if old is not None and old.country != country:
                _drop_countries(session, user_id, [old.country])
            existing = session.get(UserCountry, (user_id, country))
            if existing is None:
                session.add(UserCountry(user_id=user_id, country=country, is_primary=True))
            else:
                existing.is_primary = True
                existing.position = 0
                session.add(existing)
            _refresh(session, user_id)

    def toggle_other_country(self, user_id: int, country: str) -> bool:
        """Add or remove a secondary country. Returns True if it is now followed."""
        with session_scope(self._engine) as session:
            existing = session.get(UserCountry, (user_id, country))
            if existing is not None:
                if existing.is_primary:
                    return True
                _drop_countries(session, user_id, [country])
                _refresh(session, user_id)
                return False
            position = len(
                session.exec(select(UserCountry).where(UserCountry.user_id == user_id)).all()
            )
            session.add(UserCountry(user_id=user_id, country=country, position=position))
            _refresh(session, user_id)
            return True

    # --------------------------------------------------------------- languages
    def set_primary_language(self, user_id: int, country: str, language: str) -> None:
        with session_scope(self._engine) as session:
            _set_primary(session, UserLanguage, user_id, country, "language", language)
            _refresh(session, user_id)

    def toggle_other_language(self, user_id: int, country: str, language: str) -> bool:
        """Add or remove a secondary language; removing one also drops its sources elsewhere."""
        with session_scope(self._engine) as session:
            followed = _toggle(session, UserLanguage, user_id, country, "language", language)
            _refresh(session, user_id)
            return followed

    # ----------------------------------------------------------------- sources
    def set_primary_source(self, user_id: int, country: str, source_id: str) -> None:
        with session_scope(self._engine) as session:
            _set_primary(session, UserSource, user_id, country, "source_id", source_id)
            _refresh(session, user_id)

    def toggle_other_source(self, user_id: int, country: str, source_id: str) -> bool:
        with session_scope(self._engine) as session:
            followed = _toggle(session, UserSource, user_id, country, "source_id", source_id)
            _refresh(session, user_id)
            return followed

    def keep_sources(self, user_id: int, country: str, allowed: Iterable[str]) -> None:
        """Drop the country's sources that are no longer allowed (their language was removed)."""
        allowed_ids = list(allowed)
        with session_scope(self._engine) as session:
            session.execute(
                delete(UserSource).where(
                    col(UserSource.user_id) == user_id,
                    col(UserSource.country) == country,
                    col(UserSource.source_id).not_in(allowed_ids),
                )
            )
            _refresh(session, user_id)

    # ------------------------------------------------------ categories, times
    def set_categories(self, user_id: int, categories: Iterable[str]) -> None:
        with session_scope(self._engine) as session:
            session.execute(delete(UserCategory).where(col(UserCategory.user_id) == user_id))
            for category in dict.fromkeys(categories):
                session.add(UserCategory(user_id=user_id, category=category))
            _refresh(session, user_id)

    def set_delivery_minutes(self, user_id: int, minutes: Iterable[int]) -> None:
        with session_scope(self._engine) as session:
            session.execute(
                delete(UserDeliveryTime).where(col(UserDeliveryTime.user_id) == user_id)
            )
            for minute in sorted(set(minutes)):
                session.add(UserDeliveryTime(user_id=user_id, minute=minute))
            _refresh(session, user_id)

    # ----------------------------------------------------------------- helpers
    def _update_user(self, user_id: int, values: dict[str, object]) -> None:
        with session_scope(self._engine) as session:
            session.execute(update(User).where(col(User.id) == user_id).values(**values))

    def _must_get(self, user_id: int) -> Reader:
        reader = self.get(user_id)
        if reader is None:  # pragma: no cover - we just wrote it
            raise LookupError(user_id)
        return reader


# The next due times of a batch in ONE statement: (id, time) pairs joined to users as one
# parameter (a JSON object on SQLite, two arrays on PostgreSQL), rather than an executemany
# row per reader (100,000 readers a tick). SQLite: always (0.3-0.7 s of CPU for 100,000
# readers, where an UPDATE per shared time or an executemany took 0.5-1.3 s); PostgreSQL:
# when the times are mostly distinct (see ``_set_next_due``).
_SQLITE_NEXT_DUE = (
    "UPDATE users SET next_due_at = j.value FROM json_each(?) AS j "
    "WHERE users.id = CAST(j.key AS INTEGER)"
)
_PG_NEXT_DUE = (
    "UPDATE users SET next_due_at = v.due FROM unnest(%s::bigint[], %s::timestamptz[]) "
    "AS v(id, due) WHERE users.id = v.id"
)
_SQLITE_UPDATE_FROM = (3, 33, 0)  # the first SQLite with UPDATE ... FROM


def _set_next_due(conn: Connection, next_due: Mapping[int, datetime | None]) -> None:
    dialect = conn.dialect
    if dialect.name == "postgresql":
        # few distinct times: an UPDATE per time is cheaper for psycopg than an array of 2,000
        # times to adapt one by one (0.35 vs 0.55 s of CPU for 100,000 readers in 20 times a
        # batch); many: one statement (0.55 s, where an executemany took 1.6 s)
        if not _set_next_due_grouped(conn, next_due, distinct_ok=False):
            conn.exec_driver_sql(_PG_NEXT_DUE, (list(next_due), list(next_due.values())))
        return
    if dialect.dbapi is None or dialect.dbapi.sqlite_version_info < _SQLITE_UPDATE_FROM:
        _set_next_due_grouped(conn, next_due, distinct_ok=True)
        return
    # each distinct time as the column stores it (what Core's bind processing would write)
    process = _U.c.next_due_at.type.dialect_impl(dialect).bind_processor(dialect)
    stored = {due: process(due) if process else due for due in set(next_due.values())}
    pairs = json.dumps({uid: stored[due] for uid, due in next_due.items()})  # keys: text
    conn.exec_driver_sql(_SQLITE_NEXT_DUE, (pairs,))


def _set_next_due_grouped(
    conn: Connection, next_due: Mapping[int, datetime | None], *, distinct_ok: bool
) -> bool:
    """One UPDATE per distinct time (the ids one parameter) when times are shared; mostly
    distinct times are one executemany if ``distinct_ok``, else left to the caller (False)."""
    groups: dict[datetime | None, list[int]] = defaultdict(list)
    for uid, due in next_due.items():
        groups[due].append(uid)
    if len(groups) * 8 > len(next_due):  # mostly distinct times
        if not distinct_ok:
            return False
        statement = (
            _U.update().where(_U.c.id == bindparam("uid")).values(next_due_at=bindparam("due"))
        )
        conn.execute(statement, [{"uid": uid, "due": due} for uid, due in next_due.items()])
        return True
    statement = _U.update().where(in_ids(conn, _U.c.id)).values(next_due_at=bindparam("due"))
    for due, ids in groups.items():
        conn.execute(statement, {"due": due, "ids": ids_value(conn, ids)})
    return True


def _refresh(session: Session, user_id: int) -> None:
    """The user's preferences text recomputed from the rows just written (flushed first), in
    the setter's transaction: what the digest tick reads of them (``storage.due_readers``)."""
    session.flush()
    refresh_preferences(session.connection(), [user_id])


def _drop_countries(session: Session, user_id: int, countries: list[str]) -> None:
    for table in (UserCountry, UserLanguage, UserSource):
        session.execute(
            delete(table).where(col(table.user_id) == user_id, col(table.country).in_(countries))
        )


def _set_primary(
    session: Session,
    table: type[_Choice],
    user_id: int,
    country: str,
    field: str,
    value: str,
) -> None:
    """Demote the country's current primary (it stays as a secondary) and promote ``value``."""
    session.execute(
        update(table)
        .where(col(table.user_id) == user_id, col(table.country) == country)
        .values(is_primary=False)
    )
    existing = session.get(table, (user_id, country, value))
    if existing is None:
        session.add(table(user_id=user_id, country=country, is_primary=True, **{field: value}))
    else:
        existing.is_primary = True
        session.add(existing)


def _toggle(
    session: Session,
    table: type[_Choice],
    user_id: int,
    country: str,
    field: str,
    value: str,
) -> bool:
    existing = session.get(table, (user_id, country, value))
    if existing is None:
        session.add(table(user_id=user_id, country=country, is_primary=False, **{field: value}))
        return True
    if existing.is_primary:
        return True
    session.delete(existing)
    return False


def _load_many(session: Session, user_ids: list[int]) -> dict[int, Reader]:
    """Readers with their preferences in six queries, however many readers (fan-out loads
    thousands at once)."""
    if not user_ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(user_ids))).all()
    countries = session.exec(
        select(UserCountry)
        .where(col(UserCountry.user_id).in_(user_ids))
        .order_by(
            col(UserCountry.is_primary).desc(), col(UserCountry.position), col(UserCountry.country)
        )
    ).all()
    languages = session.exec(
        select(UserLanguage)
        .where(col(UserLanguage.user_id).in_(user_ids))
        .order_by(col(UserLanguage.is_primary).desc(), col(UserLanguage.language))
    ).all()
    sources = session.exec(
        select(UserSource)
        .where(col(UserSource.user_id).in_(user_ids))
        .order_by(col(UserSource.is_primary).desc(), col(UserSource.source_id))
    ).all()
    categories = session.exec(
        select(UserCategory.user_id, UserCategory.category)
        .where(col(UserCategory.user_id).in_(user_ids))
        .order_by(col(UserCategory.category))
    ).all()
    minutes = session.exec(
        select(UserDeliveryTime.user_id, UserDeliveryTime.minute)
        .where(col(UserDeliveryTime.user_id).in_(user_ids))
        .order_by(col(UserDeliveryTime.minute))
    ).all()
    langs_by: dict[tuple[int, str], list[str]] = defaultdict(list)
    for lang in languages:
        langs_by[(lang.user_id, lang.country)].append(lang.language)
    sources_by: dict[tuple[int, str], list[str]] = defaultdict(list)
    for src in sources:
        sources_by[(src.user_id, src.country)].append(src.source_id)
    countries_by: dict[int, list[CountryChoice]] = defaultdict(list)
    for c in countries:
        countries_by[c.user_id].append(
            CountryChoice(
                code=c.country,
                is_primary=c.is_primary,
                languages=tuple(langs_by[(c.user_id, c.country)]),
                sources=tuple(sources_by[(c.user_id, c.country)]),
            )
        )
    categories_by: dict[int, list[str]] = defaultdict(list)
    for user_id, category in categories:
        categories_by[user_id].append(category)
    minutes_by: dict[int, list[int]] = defaultdict(list)
    for user_id, minute in minutes:
        minutes_by[user_id].append(minute)
    return {
        user.id: Reader(
            id=user.id,
            chat_id=user.chat_id,
            first_name=user.first_name,
            ui_language=user.ui_language,
            timezone=user.timezone,
            flow_step=user.flow_step,
            flow_mode=user.flow_mode,
            menu_message_id=user.menu_message_id,
            setup_complete=user.setup_complete,
            active=user.active,
            paused=user.paused,
            paused_until=user.paused_until,
            next_due_at=user.next_due_at,
            quiet_start=user.quiet_start,
            quiet_end=user.quiet_end,
            stories_per_digest=user.stories_per_digest,
            empty_digest=user.empty_digest,
            countries=tuple(countries_by[user.id]),
            categories=tuple(categories_by[user.id]),
            delivery_minutes=tuple(minutes_by[user.id]),
        )
        for user in users
    }
