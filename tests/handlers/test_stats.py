"""/stats through the fake Bot API: admins get the figures and a PNG chart, others nothing new."""

from __future__ import annotations

import io
import json
import logging
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler, ContextTypes

from handlers.stats import StatsHandler, print_stats, stats_text
from newsbot_testing.fakes.botapi import FakeBotAPI
from newsbot_testing.fakes.spec import UploadedFile
from storage.stats import (
    BroadcastCounts,
    FeedHealth,
    FeedProblem,
    ReaderCounts,
    Stats,
    StatsStore,
)
from storage.tables import Delivery, FeedState, User, UserCategory, UserCountry, UserLanguage
from tests.handlers.harness import RunningBot
from tests.handlers.user import TelegramUser

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
EVE = 3003  # not an admin


def register_stats(bot: RunningBot, admins: set[int]) -> None:
    """Add /stats ahead of the routes table (group -1), as bot/routes.py will list it.

    Stopping after it keeps the routes' unknown-command handler in group 0 from answering too.
    """
    services = bot.services
    handler = StatsHandler(
        StatsStore(services.engine), services.users, frozenset(admins),
        refresh=timedelta(minutes=15), clock=lambda: T0,
    )  # fmt: skip

    async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await handler.show_stats(update, context)
        raise ApplicationHandlerStop

    async def add() -> None:
        assert bot.parts is not None
        bot.parts.application.add_handler(CommandHandler("stats", stats), group=-1)

    bot.call(add)


def seed(engine: Engine) -> None:
    """1,210 readers (1,205 active, 3 paused, 2 blocked, 5 new this week), 1,140 digests sent
    (1,100 today, 40 yesterday) and three feeds, one of them failing."""
    base = [_user(10_000 + i, days_ago=10) for i in range(1_200)]
    new = [_user(20_000 + i, days_ago=1) for i in range(5)]
    paused = [_user(30_000 + i, days_ago=10, paused=True) for i in range(3)]
    blocked = [_user(40_000 + i, days_ago=10, active=False) for i in range(2)]
    users = base + new + paused + blocked
    ids = [u["id"] for u in users]
    canada = {u["id"] for u in base[1_000:]}
    sent = [_digest(uid, T0 - timedelta(hours=1)) for uid in ids[:1_100]]
    sent += [_digest(uid, T0 - timedelta(hours=20)) for uid in ids[1_100:1_140]]
    with engine.begin() as conn:
        conn.execute(insert(User), users)
        conn.execute(insert(UserCountry), [
            {"user_id": i, "country": "CA" if i in canada else "IN", "is_primary": True}
            for i in ids
        ])  # fmt: skip
        conn.execute(insert(UserLanguage), [
            {"user_id": i, "country": "CA" if i in canada else "IN", "language": "en",
             "is_primary": True}
            for i in ids
        ])  # fmt: skip
        conn.execute(
            insert(UserCategory),
            [{"user_id": i, "category": "national"} for i in ids]
            + [{"user_id": i, "category": "sports"} for i in ids[:250]],
        )
        conn.execute(insert(Delivery), sent)
        conn.execute(insert(FeedState), [
            _feed("alpha", failures=0, success=T0),
            _feed("beta", failures=0, success=T0),
            _feed("gamma", failures=4, success=None, error="HTTP <500> & worse"),
        ])  # fmt: skip


def _user(user_id: int, days_ago: int, paused: bool = False, active: bool = True) -> dict[str, Any]:
    # Every row names every column: an executemany takes its column list from the first row.
    return {"id": user_id, "chat_id": user_id, "setup_complete": True, "paused": paused,
            "active": active, "created_at": T0 - timedelta(days=days_ago)}  # fmt: skip


def _digest(user_id: int, sent_at: datetime) -> dict[str, Any]:
    return {"user_id": user_id, "chat_id": user_id, "kind": "digest", "slot_key": "s",
            "payload": {}, "status": "sent", "sent_at": sent_at}  # fmt: skip


def _feed(
    name: str, failures: int, success: datetime | None, error: str | None = None
) -> dict[str, Any]:
    return {"source_id": name, "url": f"https://{name}.example/rss?a=1&b=2", "category": "national",
            "consecutive_failures": failures, "last_success_at": success, "last_fetch_at": T0,
            "last_error": error, "next_fetch_at": T0 + timedelta(minutes=5)}  # fmt: skip


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_admin_gets_the_figures_then_the_chart(
    bot: RunningBot, fake: FakeBotAPI, ada: TelegramUser
) -> None:
    seed(bot.services.engine)
    register_stats(bot, {ada.id})
    mark = len(fake.calls)
    ada.send("/stats")
    photo_call = fake.wait_for_call("sendPhoto", after=mark, timeout=30)
    text, photo = fake.chat_messages(ada.id)
    lines = text.text.splitlines()
    for expected in (
        "Total: 1,210", "Active: 1,205", "Paused: 3", "Blocked: 2", "Setting up: 0",
        "New this week: 5", "India 1,008 · Canada 200", "English 1,208",
        "National 1,208 · Sports 250", "Today: 1,100", "Yesterday: 40", "Broadcasts: 0",
        "Feeds: 3", "OK: 2", "Failing: 1", "Backing off: 0", "Never fetched: 0",
        "• gamma: 4 failures, last success never", "   https://gamma.example/rss?a=1&b=2",
        "   HTTP <500> & worse",
    ):  # fmt: skip
        assert expected in lines, f"{expected!r} not in\n{text.text}"
    assert "<b>Readers</b>" in (text.html or "") and "&lt;500&gt;" in (text.html or "")
    assert len(text.text) < 4096
    assert photo.kind == "photo" and photo.message_id > text.message_id
    assert photo.text == "New readers and digests sent per day, last 30 days (UTC)"
    upload = photo_call.params["photo"]
    assert isinstance(upload, UploadedFile)
    assert png_size(upload.data) == (1200, 800) and len(upload.data) > 10_000
    assert [c.params["action"] for c in fake.calls_to("sendChatAction")] == [
        "typing", "upload_photo",
    ]  # fmt: skip


def test_numbers_follow_the_admins_language(
    bot: RunningBot, fake: FakeBotAPI, bob: TelegramUser
) -> None:
    seed(bot.services.engine)
    register_stats(bot, {bob.id})
    mark = len(fake.calls)
    bob.send("/stats")
    fake.wait_for_call("sendPhoto", after=mark, timeout=30)
    lines = fake.chat_messages(bob.id)[0].text.splitlines()
    assert "Gesamt: 1.210" in lines and "Heute: 1.100" in lines  # German words and separators


def test_stats_does_not_exist_for_others(
    bot: RunningBot, fake: FakeBotAPI, ada: TelegramUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="handlers.stats")
    register_stats(bot, {ada.id})
    eve = TelegramUser(fake, EVE, "Eve")
    unknown = eve.send("/frobnicate").text
    assert eve.send("/stats show me secret things").text == unknown
    eve.send("/help")  # the same reader's updates run in order: /stats has finished by now
    assert fake.calls_to("sendPhoto") == []
    assert not any(
        c.params.get("chat_id") in (EVE, str(EVE)) for c in fake.calls_to("sendChatAction")
    )
    refusals = [r.getMessage() for r in caplog.records if r.name == "handlers.stats"]
    assert refusals == [f"/stats refused: user {EVE} is not an admin"]
    assert "secret" not in caplog.text


def test_cli_prints_the_summary_or_one_json_object(engine: Engine) -> None:
    seed(engine)
    store, refresh = StatsStore(engine), timedelta(minutes=15)
    text, data = io.StringIO(), io.StringIO()
    assert print_stats(store, refresh=refresh, as_json=False, now=T0, out=text) == 0
    assert print_stats(store, refresh=refresh, as_json=True, now=T0, out=data) == 0
    assert "  Total: 1,210" in text.getvalue().splitlines()
    assert "<b>" not in text.getvalue()
    report = json.loads(data.getvalue().splitlines()[-1])
    assert report["readers"]["total"] == 1_210 and report["readers"]["paused"] == 3
    assert report["by_country"] == {"IN": 1_008, "CA": 200}
    assert (report["digests_today"], report["digests_yesterday"]) == (1_100, 40)
    assert report["feeds"]["worst"][0]["last_error"] == "HTTP <500> & worse"
    assert report["taken_at"] == "2026-11-25T10:00:00+00:00"
    assert report["daily"][-1] == {"day": "2026-11-25", "new_readers": 0, "digests_sent": 1_100}
    assert sum(day["new_readers"] for day in report["daily"]) == 1_210


def test_summary_fits_one_message_whatever_the_data() -> None:
    worst = tuple(
        FeedProblem(f"src{i}", "https://x.example/" + "p" * 2_000, "national", 9, None, "E" * 300)
        for i in range(5)
    )
    stats = Stats(
        taken_at=T0, readers=ReaderCounts(10**9, 10**9, 0, 0, 0, 0),
        by_country=tuple((f"X{i}", 1_000 - i) for i in range(200)),
        by_language=tuple((f"l{i}", 5) for i in range(200)),
        by_category=tuple((f"c{i}", 5) for i in range(200)),
        digests_today=0, digests_yesterday=0, broadcasts=BroadcastCounts(0, 0, 0, 0, 0),
        feeds=FeedHealth(5, 0, 5, 0, 0, worst), daily=(),
    )  # fmt: skip
    for language in ("en", "de", "hi", "ar", "zh", "fr"):
        text = stats_text(stats, language)
        assert len(text) <= 4096 and text.count("<b>") == text.count("</b>")
    english = stats_text(stats, "en")
    assert "Total: 1,000,000,000" in english
    assert "others " in english  # 190 countries summed up rather than listed
    assert "E" * 119 + "…" in english and "p" * 200 not in english


def test_feed_credentials_never_show(bot: RunningBot, fake: FakeBotAPI, ada: TelegramUser) -> None:
    """#14.9: a catalog feed URL with user:pass@ and ?token= once showed in full in /stats."""
    url = "https://reader:PASSSECRET@delta.example/rss?token=TOKSECRET&cat=world"
    with bot.services.engine.begin() as conn:
        row = _feed("delta", failures=2, success=None, error="HTTP 500")
        conn.execute(insert(FeedState), [{**row, "url": url}])
    register_stats(bot, {ada.id})
    mark = len(fake.calls)
    ada.send("/stats")
    fake.wait_for_call("sendPhoto", after=mark, timeout=30)
    text = fake.chat_messages(ada.id)[0].text
    assert "   https://***@delta.example/rss?token=***&cat=world" in text.splitlines()
    plain, data = io.StringIO(), io.StringIO()
    store, refresh = StatsStore(bot.services.engine), timedelta(minutes=15)
    print_stats(store, refresh=refresh, as_json=False, now=T0, out=plain)
    print_stats(store, refresh=refresh, as_json=True, now=T0, out=data)
    for shown in (text, plain.getvalue(), data.getvalue()):
        assert "SECRET" not in shown and "delta.example/rss" in shown
