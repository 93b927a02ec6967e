"""/broadcast through the fake Bot API, with a clock the test moves (no sleeping).

The progress job runs when the test calls ``refresh`` (every 3 s of the test clock, as the
real job does), and the outbox drains when the test says so: every figure is then exact.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import col
from telegram import Chat, MessageEntity, Update
from telegram import Message as TgMessage
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from handlers.broadcast import Broadcasts
from newsbot_testing.fakes.botapi import FakeBotAPI, Message
from storage.broadcasts import Audience, BroadcastRow, BroadcastStore
from storage.tables import Delivery, User, UserCountry, UserLanguage
from tests.handlers.harness import ManualClock, RunningBot
from tests.handlers.user import TelegramUser
from views.broadcast import (
    CALLBACK_PATTERN,
    decode_audience,
    duration,
    encode_audience,
    payload_of,
)

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ADMIN, MALLORY = 4242, 6666
FIRST_READER = 100_000
EXPIRED = "This menu has expired — send /settings"
UNKNOWN = "I don't know that command. Send /help to see what I can do."
PROGRESS = re.compile(
    r"^Sent [\d,]+ / [\d,]+ · blocked [\d,]+ · failed [\d,]+ · "
    r"(about \d+ min left|less than a minute left)$"
)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def running(
    fake: FakeBotAPI, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningBot, Broadcasts]]:
    """The bot with the broadcast handlers, sending fast; Telegram refused nothing but 403s."""
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    monkeypatch.setenv("SEND_MAX_RATE", "1000")
    with RunningBot(fake, db_url, clock=clock) as bot:
        yield bot, broadcasts_of(bot)
        fake.wait_for(lambda: not fake.unanswered_callbacks(), message="every press answered")
    assert [c for c in fake.errors if c.status != 403] == [], fake.describe()


def broadcasts_of(bot: RunningBot) -> Broadcasts:
    """The app's own Broadcasts once bot/app.py wires it; until then built the way app.py
    will build it and registered ahead of the routes (group -1). Stopping after it keeps the
    routes' unknown-command and setup handlers from answering the same update."""
    assert bot.parts is not None
    wired = getattr(bot.parts, "broadcasts", None)
    if isinstance(wired, Broadcasts):
        return wired
    services = bot.services
    broadcasts = Broadcasts(
        BroadcastStore(services.engine), services.deliveries, services.catalog,
        services.settings.admin_ids, users=services.users,
        max_rate=getattr(services.settings, "broadcast_max_rate", 30.0),
        wake_sender=bot.pusher.drain, clock=bot.clock,
    )  # fmt: skip

    def final(callback: Any) -> Any:
        async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await callback(update, context)
            raise ApplicationHandlerStop

        return run

    async def add() -> None:
        assert bot.parts is not None
        private = filters.ChatType.PRIVATE
        bot.parts.application.add_handlers(
            [
                CommandHandler("broadcast", final(broadcasts.start_broadcast), filters=private),
                CallbackQueryHandler(
                    final(broadcasts.answer_broadcast_button), pattern=CALLBACK_PATTERN
                ),
            ],
            group=-1,
        )

    bot.call(add)
    return broadcasts


def seed_readers(
    engine: Engine, count: int, *, first: int = FIRST_READER, country: str = "CA",
    language: str = "en", ui: str = "en",
) -> list[int]:  # fmt: skip
    """``count`` set-up readers of one country and language, inserted in bulk."""
    ids = list(range(first, first + count))
    with engine.begin() as conn:
        conn.execute(insert(User), [
            {"id": uid, "chat_id": uid, "ui_language": ui, "flow_mode": "settings",
             "setup_complete": True, "active": True, "paused": False, "stories_per_digest": 5,
             "empty_digest": "skip", "created_at": START, "updated_at": START}
            for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserCountry), [
            {"user_id": uid, "country": country, "is_primary": True, "position": 0} for uid in ids
        ])  # fmt: skip
        conn.execute(insert(UserLanguage), [
            {"user_id": uid, "country": country, "language": language, "is_primary": True}
            for uid in ids
        ])  # fmt: skip
    return ids


def readers(bot: RunningBot, fake: FakeBotAPI, count: int, **kwargs: Any) -> list[int]:
    ids = seed_readers(bot.services.engine, count, **kwargs)
    fake.add_users(ids)
    return ids


def admin_sends(fake: FakeBotAPI, text: str, entities: list[dict[str, Any]]) -> None:
    """A command with formatting (the fake's helpers send plain text only)."""
    fake._user_message(ADMIN, text, entities, "Admin", "en")


def admin_replies(fake: FakeBotAPI, kind: str, caption: str) -> None:
    """The admin's own photo or document in their chat, then /broadcast as a reply to it."""
    with fake._cond:
        fake._users.setdefault(ADMIN, {"first_name": "Admin", "language_code": "en"})
        source = fake._store(ADMIN, text=caption, html=None, entities=[], from_bot=False)
        source.kind = kind
        payload: dict[str, Any] = {"message_id": source.message_id, "date": source.date,
                                   "chat": fake._chat_json(ADMIN), "caption": caption,
                                   "from": fake._user_json(ADMIN)}  # fmt: skip
        if kind == "photo":
            fake._files["AgAC-admin-photo"] = b"\x89PNG\r\n\x1a\n"
            source.photo = fake._photo_sizes("AgAC-admin-photo")
            payload["photo"] = source.photo
        else:
            payload["document"] = {"file_id": "BQAC-doc", "file_unique_id": "doc-1"}
        command = fake._store(ADMIN, text="/broadcast", html=None, entities=[], from_bot=False)
        fake._queue_update("message", {
            "message_id": command.message_id, "date": command.date, "text": "/broadcast",
            "chat": fake._chat_json(ADMIN), "from": fake._user_json(ADMIN),
            "entities": [{"type": "bot_command", "offset": 0, "length": 10}],
            "reply_to_message": payload,
        })  # fmt: skip


def menu(fake: FakeBotAPI, admin: TelegramUser) -> Message:
    """The audience menu that follows a preview (it is the chat's newest message)."""

    def shown() -> bool:
        last = fake.last_message(ADMIN)
        return last is not None and "Who to?" in last.text

    fake.wait_for(shown, message="the audience menu")
    return admin.last()


def drive(
    bot: RunningBot, broadcasts: Broadcasts, clock: ManualClock, broadcast_id: int,
    steps: int = 60,
) -> BroadcastRow:  # fmt: skip
    """Every 3 s of the test clock: send everything due by then, then one progress tick;
    until the broadcast's report is on screen."""
    assert bot.parts is not None
    app_bot = bot.parts.application.bot
    for _ in range(steps):
        clock.advance(seconds=3)
        drain_due(bot, clock)
        bot.call(lambda: broadcasts.refresh(app_bot))
        row = broadcasts.store.get(broadcast_id)
        assert row is not None
        if row.reported_at is not None:
            return row
    raise AssertionError(f"broadcast {broadcast_id} did not finish: {row}")


def drain_due(bot: RunningBot, clock: ManualClock) -> None:
    """Drain until no outbox row is due at the test clock (a drain that folds into one already
    running returns at once, so look at the outbox rather than at the drain)."""
    due = (
        select(func.count())
        .select_from(Delivery)
        .where(
            or_(
                col(Delivery.status) == "sending",
                and_(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= clock.now),
            )
        )
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        bot.call(bot.pusher.drain)
        with bot.services.engine.connect() as conn:
            if not conn.execute(due).scalar_one():
                return
        time.sleep(0.02)
    raise AssertionError("the outbox did not drain")


def received(fake: FakeBotAPI, method: str = "sendMessage") -> Counter[int]:
    """Messages Telegram accepted per reader chat."""
    return Counter(
        int(c.params["chat_id"])
        for c in fake.calls_to(method)
        if c.status == 200 and int(c.params["chat_id"]) >= FIRST_READER
    )


def confirm_everyone(fake: FakeBotAPI, admin: TelegramUser, text: str = "/broadcast Hi") -> int:
    admin.send(text)
    admin.press("Everyone", menu(fake, admin))
    admin.press("Confirm")
    return int(admin.menu().buttons[0][0]["callback_data"].split("|")[1][1:])


# -------------------------------------------------------------------------------- tests
def test_only_admins_can_broadcast_and_forged_buttons_do_nothing(
    running: tuple[RunningBot, Broadcasts], fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    bot, broadcasts = running
    caplog.set_level(logging.WARNING, logger="handlers.broadcast")
    readers(bot, fake, 3)
    mallory = TelegramUser(fake, MALLORY, "Mallory")
    assert mallory.send("/frobnicate").text == UNKNOWN
    assert mallory.send("/broadcast Free money at evil.example").text == UNKNOWN
    admin = TelegramUser(fake, ADMIN, "Admin")
    assert "followed by the message" in admin.send("/broadcast").text
    admin.send("/broadcast Hello")
    draft_menu = menu(fake, admin)
    step = draft_menu.buttons[0][0]["callback_data"].split("|")[1]
    bid = int(step[1:])
    for data in (f"1|{step}|y|a", f"1|{step}|p|a", f"1|{step}|n|", f"1|{step}|x|"):
        assert mallory.press_data(draft_menu.message_id, data) == EXPIRED
    row = broadcasts.store.get(bid)
    assert row is not None and row.status == "draft"
    # The admin's own forged or stale presses: wrong message, bad audience, garbage.
    assert admin.press_data(draft_menu.message_id + 5, f"1|{step}|y|a") == EXPIRED
    assert admin.press_data(draft_menu.message_id, f"1|{step}|y|c:XX") == EXPIRED
    assert admin.press_data(draft_menu.message_id, f"1|{step}|y|") == EXPIRED
    assert admin.press_data(draft_menu.message_id, "1|B99999|y|a") == EXPIRED
    assert received(fake) == Counter(), "nothing goes out before Confirm"
    admin.press("Everyone", draft_menu)
    admin.press("Confirm")
    assert mallory.press_data(draft_menu.message_id, f"1|{step}|x|") == EXPIRED
    row = broadcasts.store.get(bid)
    assert row is not None and row.status == "sending", "Mallory could not cancel it"
    refusals = [r.getMessage() for r in caplog.records if r.name == "handlers.broadcast"]
    assert (
        refusals
        == [f"/broadcast refused: user {MALLORY} is not an admin"]
        + [f"a broadcast button refused: user {MALLORY} is not an admin"] * 5
    )
    assert "evil.example" not in caplog.text


def test_two_thousand_readers_five_percent_blocked(
    running: tuple[RunningBot, Broadcasts], fake: FakeBotAPI, clock: ManualClock
) -> None:
    bot, broadcasts = running
    ids = readers(bot, fake, 2_000)
    blocked = set(ids[::20])
    for uid in blocked:
        fake.block_bot(uid)
    admin = TelegramUser(fake, ADMIN, "Admin")
    bold = {"type": "bold", "offset": 11, "length": 3}
    admin_sends(fake, "/broadcast Big news & more", [
        {"type": "bot_command", "offset": 0, "length": 10}, bold,
    ])  # fmt: skip
    choose = menu(fake, admin)
    preview = fake.chat_messages(ADMIN)[-2]
    assert preview.html == "<b>Big</b> news &amp; more" and not preview.buttons
    assert "📣 Everyone (2,000)" in admin.labels(choose)
    asked = admin.press("Everyone", choose)
    assert asked.text.startswith("Send to 2,000 readers (everyone)?")
    # From here on Telegram's per-chat limit (1 message/s, no burst) is enforced on the test
    # clock: the progress edits must keep to it on their own.
    fake.clock = lambda: clock.now.timestamp()
    fake.set_rate_limit(per_chat_per_second=1, global_per_second=None)
    line = admin.press("Confirm")
    assert line.message_id == choose.message_id, "the confirm message becomes the progress line"
    assert PROGRESS.match(line.text.splitlines()[1]), line.text
    bid = int(line.buttons[0][0]["callback_data"].split("|")[1][1:])
    row = drive(bot, broadcasts, clock, bid)
    # Every reader who had not blocked the bot got it exactly once; blocked ones were tried once.
    got = received(fake)
    assert set(got) == set(ids) - blocked and set(got.values()) == {1}
    refused = Counter(int(c.params["chat_id"]) for c in fake.errors if c.status == 403)
    assert set(refused) == blocked and set(refused.values()) == {1}
    assert {m.html for uid in ids[1:4] for m in fake.chat_messages(uid)} == {preview.html}
    # The report's figures are exact; progress edits were never refused (no "not modified",
    # no 429) and each one changed the line.
    report = fake.chat_messages(ADMIN)[-1]
    took = duration(row.finished_at - row.started_at, lambda s: s)  # type: ignore[operator]
    assert report.text.splitlines() == [
        f"✅ Broadcast #{bid} finished · everyone",
        "Sent 1,900 of 2,000 · blocked 100 · failed 0",
        f"Took {took}",
    ]
    assert not report.buttons and row.status == "done" and row.total == 2_000
    edits = [c for c in fake.calls_to("editMessageText") if c.params["chat_id"] == ADMIN]
    assert all(c.status == 200 for c in edits) and len(edits) >= 10
    lines = [c.params["text"] for c in edits]
    assert all(a != b for a, b in zip(lines, lines[1:], strict=False))
    # Blocked readers are inactive now: the next broadcast neither counts nor tries them.
    fake.set_rate_limit(None, None)  # the clock stands still from here: a burst is fine
    assert all(not bot.services.users.get(uid).active for uid in blocked)  # type: ignore[union-attr]
    admin.send("/broadcast Again")
    assert "📣 Everyone (1,900)" in admin.labels(menu(fake, admin))
    admin.press("Cancel")


def test_cancel_in_the_middle(
    running: tuple[RunningBot, Broadcasts], fake: FakeBotAPI, clock: ManualClock
) -> None:
    bot, broadcasts = running
    ids = readers(bot, fake, 300)
    admin = TelegramUser(fake, ADMIN, "Admin")
    bid = confirm_everyone(fake, admin)
    clock.advance(seconds=6)  # one due every 1/30 s: readers 0..180 are due by now
    drain_due(bot, clock)
    assert set(received(fake)) == set(ids[:181])
    # The Cancel press's own progress edit travels slowly: the report that the next progress
    # tick writes must still be the last word, not overtaken by that stale line.
    fake.hold_next_requests("editMessageText", 1.5)
    assert admin.press_for_toast("Cancel sending") == "Cancelled."
    row = drive(bot, broadcasts, clock, bid)
    assert row.status == "cancelled"
    assert fake.chat_messages(ADMIN)[-1].text.splitlines()[:2] == [
        f"✋ Broadcast #{bid} cancelled · everyone",
        "Sent 181 of 300 · blocked 0 · failed 0 · not sent 119",
    ]
    clock.advance(minutes=5)
    drain_due(bot, clock)
    assert received(fake) == Counter(ids[:181]), "nothing goes out after Cancel"


def test_segment_by_country_reaches_exactly_its_readers(
    running: tuple[RunningBot, Broadcasts], fake: FakeBotAPI, clock: ManualClock
) -> None:
    bot, broadcasts = running
    readers(bot, fake, 5, country="CA", language="en")
    germans = readers(bot, fake, 3, first=FIRST_READER + 100, country="DE", language="de")
    readers(bot, fake, 4, first=FIRST_READER + 200, country="IN", language="hi", ui="hi")
    admin = TelegramUser(fake, ADMIN, "Admin")
    admin.send("/broadcast Hallo")
    countries = admin.press("By country", menu(fake, admin))
    labels = admin.labels(countries)
    assert {"Canada · 5", "Germany · 3", "India · 4", "Qatar · 0"} <= set(labels)
    languages = admin.press("Back")
    languages = admin.press("By app language", languages)
    assert "Hindi · 4" in admin.labels(languages) and "English · 8" in admin.labels(languages)
    admin.press("Back")
    admin.press("By country")
    asked = admin.press("Germany")
    assert asked.text.startswith("Send to 3 readers (country: Germany)?")
    admin.press("Confirm")
    bid = int(admin.menu().buttons[0][0]["callback_data"].split("|")[1][1:])
    drive(bot, broadcasts, clock, bid)
    assert received(fake) == Counter(germans)
    assert "Sent 3 of 3" in fake.chat_messages(ADMIN)[-1].text


def test_two_broadcasts_queue_up_behind_each_other(
    running: tuple[RunningBot, Broadcasts], fake: FakeBotAPI, clock: ManualClock
) -> None:
    bot, broadcasts = running
    ids = readers(bot, fake, 60)
    admin = TelegramUser(fake, ADMIN, "Admin")
    first = confirm_everyone(fake, admin, "/broadcast First")
    second = confirm_everyone(fake, admin, "/broadcast Second")
    assert "Queued" in admin.menu().text
    # Two progress lines in one chat: still at most one edit per second there (test clock).
    fake.clock = lambda: clock.now.timestamp()
    fake.set_rate_limit(per_chat_per_second=1, global_per_second=None)
    second_row = drive(bot, broadcasts, clock, second)
    first_row = broadcasts.store.get(first)
    assert first_row is not None and first_row.finished_at is not None
    assert second_row.started_at is not None and second_row.started_at >= first_row.finished_at
    for uid in ids[:5]:
        assert [m.text for m in fake.chat_messages(uid)] == ["First", "Second"]
    assert received(fake) == Counter({uid: 2 for uid in ids})


def test_reply_to_a_photo_or_any_message(
    running: tuple[RunningBot, Broadcasts], fake: FakeBotAPI, clock: ManualClock
) -> None:
    bot, broadcasts = running
    ids = readers(bot, fake, 3)
    admin = TelegramUser(fake, ADMIN, "Admin")
    admin_replies(fake, "photo", "Look at <this> & that")
    admin.press("Everyone", menu(fake, admin))
    admin.press("Confirm")
    drive(bot, broadcasts, clock, 1)
    photos = [c for c in fake.calls_to("sendPhoto") if c.status == 200]
    assert len(photos) == 4, "the preview and three readers"
    assert {c.params["photo"] for c in photos} == {"AgAC-admin-photo"}
    assert {c.params["caption"] for c in photos} == {"Look at &lt;this&gt; &amp; that"}
    admin_replies(fake, "document", "Annual report")
    admin.press("Everyone", menu(fake, admin))
    admin.press("Confirm")
    drive(bot, broadcasts, clock, 2)
    copies = [c for c in fake.calls_to("copyMessage") if c.status == 200]
    assert len(copies) == 4 and {c.params["from_chat_id"] for c in copies} == {ADMIN}
    copied = fake.chat_messages(ids[0])[-1]
    assert (copied.kind, copied.text) == ("document", "Annual report")


# ------------------------------------------------------------------- pure view helpers
def command(text: str, *entities: MessageEntity) -> TgMessage:
    chat = Chat(ADMIN, Chat.PRIVATE)
    head = MessageEntity(MessageEntity.BOT_COMMAND, 0, len(text.split()[0]))
    return TgMessage(1, START, chat, text=text, entities=[head, *entities])


def test_text_after_the_command_keeps_its_formatting() -> None:
    # "👋" is two UTF-16 units: entity offsets after it must still line up.
    message = command(
        "/broadcast@newsbot_test_bot  Héllo 👋 <world> & more\n",
        MessageEntity(MessageEntity.BOLD, 29, 8),  # "Héllo 👋"
        MessageEntity(MessageEntity.ITALIC, 38, 7),  # "<world>"
        MessageEntity(MessageEntity.UNDERLINE, 0, 200),  # over the command and past the end
    )
    assert payload_of(message) == {
        "method": "sendMessage",
        "text": "<u><b>Héllo 👋</b> <i>&lt;world&gt;</i> &amp; more</u>",
        "parse_mode": "HTML",
    }
    assert payload_of(command("/broadcast   \n ")) is None


@pytest.mark.parametrize("arg", ["", "a:", "c", "c:", "x:CA", ":CA", "cc:CA", "u|en"])
def test_malformed_audience_arguments_decode_to_none(arg: str) -> None:
    assert decode_audience(arg) is None


def test_audience_arguments_round_trip() -> None:
    for audience in (Audience("all"), Audience("country", "WORLD"), Audience("ui_language", "zh")):
        assert decode_audience(encode_audience(audience)) == audience


def test_durations_read_naturally() -> None:
    assert [duration(timedelta(seconds=s), lambda t: t) for s in (12, 67, 7_500)] == [
        "12 s",
        "1 min 7 s",
        "2 h 5 min",
    ]
