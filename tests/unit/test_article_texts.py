"""The full-story cache: round trips, upsert, length limits, pruning, and its migration."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from storage.article_texts import ArticleTextRow, ArticleTextStore
from storage.db import alembic_config

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PARAGRAPHS = ("First paragraph — with “quotes”.", "Zweiter Absatz: Grüße.", "第三段。")


def ok_row(article_id: int = 1, fetched_at: datetime = T0, **changes: object) -> ArticleTextRow:
    values: dict[str, object] = {
        "article_id": article_id,
        "status": "ok",
        "reason": None,
        "title": "Night trains return",
        "author": "Tomas Lindqvist",
        "published_at": datetime(2024, 6, 11, 8, 45, tzinfo=timezone(timedelta(hours=2))),
        "paragraphs": PARAGRAPHS,
        "final_url": "https://news.example/trains",
        "fetched_at": fetched_at,
    }
    values.update(changes)
    return ArticleTextRow(**values)  # type: ignore[arg-type]


def failed_row(article_id: int = 1, reason: str = "timeout", **changes: object) -> ArticleTextRow:
    failure: dict[str, object] = {"status": "failed", "reason": reason, "title": "", "author": None}
    failure.update(published_at=None, paragraphs=(), **changes)
    fetched_at = failure.pop("fetched_at", T0)
    assert isinstance(fetched_at, datetime)
    return ok_row(article_id, fetched_at, **failure)


@pytest.fixture
def store(engine: Engine) -> ArticleTextStore:
    return ArticleTextStore(engine)


def test_missing_text_is_none(store: ArticleTextStore) -> None:
    assert store.get(1) is None


def test_round_trip_keeps_order_unicode_and_utc(store: ArticleTextStore) -> None:
    store.put(ok_row())
    row = store.get(1)
    assert row is not None and row.ok
    assert row.paragraphs == PARAGRAPHS
    assert row.published_at == datetime(2024, 6, 11, 6, 45, tzinfo=UTC)
    assert row.published_at.utcoffset() == timedelta(0)
    assert row.fetched_at == T0 and row.fetched_at.tzinfo is not None
    assert (row.title, row.author, row.final_url) == (
        "Night trains return",
        "Tomas Lindqvist",
        "https://news.example/trains",
    )


def test_failure_round_trip(store: ArticleTextStore) -> None:
    store.put(failed_row(reason="not_found"))
    row = store.get(1)
    assert row is not None and not row.ok
    assert (row.status, row.reason, row.paragraphs, row.published_at) == (
        "failed",
        "not_found",
        (),
        None,
    )


def test_put_replaces_the_row(store: ArticleTextStore) -> None:
    store.put(failed_row(fetched_at=T0))
    store.put(ok_row(fetched_at=T0 + timedelta(hours=1), paragraphs=("Only this one.",)))
    row = store.get(1)
    assert row is not None
    assert (row.status, row.reason, row.paragraphs) == ("ok", None, ("Only this one.",))
    assert row.fetched_at == T0 + timedelta(hours=1)
    store.put(failed_row(reason="paywalled", fetched_at=T0 + timedelta(hours=2)))
    again = store.get(1)
    assert again is not None and (again.status, again.paragraphs) == ("failed", ())


def test_rows_are_independent_and_need_no_article(store: ArticleTextStore) -> None:
    # No foreign key: texts may be written for any id and pruned in any order.
    store.put(ok_row(2**40))
    store.put(failed_row(7))
    first, second = store.get(2**40), store.get(7)
    assert first is not None and first.ok
    assert second is not None and second.reason == "timeout"


def test_page_strings_are_cut_to_fit_the_columns(store: ArticleTextStore) -> None:
    # PostgreSQL refuses an over-long VARCHAR; a page's title is not ours to trust.
    long = ok_row(title="T" * 900, author="A" * 400, final_url="https://x.example/" + "p" * 3000)
    store.put(long)
    row = store.get(1)
    assert row is not None
    assert (len(row.title), len(row.author or ""), len(row.final_url)) == (500, 200, 2048)
    store.put(failed_row(reason="r" * 50))
    failed = store.get(1)
    assert failed is not None and failed.reason == "r" * 32


def test_naive_times_are_taken_as_utc(store: ArticleTextStore) -> None:
    store.put(ok_row(fetched_at=T0.replace(tzinfo=None), published_at=None))
    row = store.get(1)
    assert row is not None and row.fetched_at == T0 and row.published_at is None


def test_unknown_status_is_refused(store: ArticleTextStore) -> None:
    with pytest.raises(ValueError, match="status"):
        store.put(ok_row(status="maybe"))
    assert store.get(1) is None


def test_prune_deletes_rows_fetched_before_the_cutoff(store: ArticleTextStore) -> None:
    for article_id, age in ((1, 10), (2, 5), (3, 1)):
        store.put(ok_row(article_id, fetched_at=T0 - timedelta(days=age)))
    assert store.prune(T0 - timedelta(days=3)) == 2
    assert [store.get(i) is not None for i in (1, 2, 3)] == [False, False, True]
    assert store.prune(T0 - timedelta(days=3)) == 0


def test_concurrent_puts_of_one_article_all_succeed(store: ArticleTextStore) -> None:
    """Two processes may store the same text at once: the upsert never hits a duplicate key."""
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def put(n: int) -> None:
        start.wait()
        try:
            store.put(ok_row(fetched_at=T0 + timedelta(seconds=n)))
        except BaseException as e:  # collected, asserted below
            errors.append(e)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    row = store.get(1)
    assert row is not None and row.paragraphs == PARAGRAPHS


def test_migration_0004_downgrades_and_upgrades(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert "article_texts" not in inspect(engine).get_table_names()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert "article_texts" in inspect(engine).get_table_names()
    ArticleTextStore(engine).put(ok_row())
