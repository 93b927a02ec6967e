"""Query errors leave the store facades as StorageError subclasses, wrapped with ``from e``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.deliveries import DeliveryStore
from storage.errors import ConflictError, QueryError, StorageError, UnavailableError
from storage.users import UserStore


def test_a_failed_write_is_an_unavailable_error_with_the_driver_error_kept(
    engine: Engine,
) -> None:
    users = UserStore(engine)
    users.ensure(1, 1, "Ada", "en")
    full = Exception("database or disk is full")

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            raise OperationalError(statement, {}, full)

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        with pytest.raises(StorageError) as caught:
            users.set_timezone(1, "Europe/Berlin")
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    error = caught.value
    assert isinstance(error, UnavailableError) and isinstance(error, QueryError)
    assert isinstance(error.__cause__, OperationalError) and error.orig is full
    assert str(error) == "UserStore.set_timezone: database or disk is full"
    assert users.get(1).timezone != "Europe/Berlin"  # type: ignore[union-attr]


def test_a_refused_row_is_a_conflict_error(engine: Engine) -> None:
    deliveries = DeliveryStore(engine)

    def collide(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            raise IntegrityError(statement, {}, Exception("FOREIGN KEY constraint failed"))

    event.listen(engine, "before_cursor_execute", collide)
    try:
        with pytest.raises(ConflictError, match="prune_delivered_articles") as caught:
            deliveries.prune_delivered_articles(datetime.now(UTC))
    finally:
        event.remove(engine, "before_cursor_execute", collide)
    assert isinstance(caught.value.__cause__, IntegrityError)
