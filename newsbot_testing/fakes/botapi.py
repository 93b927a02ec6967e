"""A strict, in-memory fake of the Telegram Bot API, served over real HTTP on 127.0.0.1.

Why real HTTP: the same fake must serve an in-process python-telegram-bot ``Bot`` /
``Application`` and a ``newsbot run`` subprocess, and it should exercise PTB's own request
encoding.  Why strict: every rule Telegram enforces at runtime (HTML parse errors, length
limits, button limits, "message is not modified", answering a callback twice, ...) is
something the bot can get wrong in production, so the fake refuses with Telegram's status
code and wording instead of quietly accepting.

Typical use::

    with FakeBotAPI() as fake:
        # point the bot at it: Bot(fake.token, base_url=fake.base_url) in-process, or
        # ApplicationBuilder().token(fake.token).base_url(fake.base_url), or a subprocess
        fake.user_sends_command(42, "/start")
        fake.wait_for(lambda: fake.last_message(42) is not None)
        assert fake.last_message(42).text == "Welcome!"
        assert not fake.errors and not fake.unanswered_callbacks()

``wait_for`` blocks the calling thread: from a test that runs the bot in the same event loop
use ``await fake.wait_for_async(...)`` instead, or the loop never gets to serve the bot.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import random
import re
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from newsbot_testing.fakes.htmlcheck import (
    HtmlParseError,
    ParsedText,
    parse_html,
    strip_text,
    utf16_len,
)
from newsbot_testing.fakes.inline import InlineSide
from newsbot_testing.fakes.spec import (
    ApiError,
    UploadedFile,
    bad_request,
    command_scope_key,
    decode_params,
    find_method,
    parse_body,
    validate_commands,
    validate_reply_markup,
)
from newsbot_testing.fakes.webhooks import WebhookSide

DEFAULT_TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"
# Telegram sends every update type except these three unless allowed_updates asks for them.
NOT_SENT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/]*)")
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
# Flood control applies to what users see: new messages and edits.
RATE_LIMITED = frozenset({
    "sendMessage", "sendPhoto", "copyMessage", "editMessageText", "editMessageCaption",
    "editMessageReplyMarkup",
})  # fmt: skip
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})  # fmt: skip
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF", b"BM")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


@dataclass(frozen=True)
class Call:
    """One request the fake answered; ``at`` is ``time.monotonic()`` when it was answered."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any]
    status: int
    at: float


@dataclass
class Message:
    """A message in a chat as it currently is; ``text`` is what the user sees (tags removed,
    entities decoded, caption for photos), ``html`` the markup exactly as the bot sent it."""

    message_id: int
    chat_id: int
    text: str
    html: str | None
    reply_markup: dict[str, Any] | None
    buttons: list[list[dict[str, Any]]]
    deleted: bool = False
    edits: int = 0
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "text"  # "text" or "photo"
    photo: list[dict[str, Any]] | None = None
    from_bot: bool = True
    date: int = 0
    edit_date: int | None = None


@dataclass
class _PendingCallback:
    query: dict[str, Any]
    created: float
    answer: dict[str, Any] | None = None
    answered_at: float | None = None


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _Bucket:
    """Token bucket: ``rate`` requests per second, bursts of up to max(1, rate)."""

    rate: float
    tokens: float
    stamp: float

    def wait(self, now: float) -> float:
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class FakeBotAPI(WebhookSide, InlineSide):
    """The fake server plus everything tests need to drive it and inspect what the bot did.
    The webhook side (setWebhook, delivery by POST) is in ``newsbot_testing.fakes.webhooks``,
    inline mode (inline queries, answerInlineQuery) in ``newsbot_testing.fakes.inline``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "newsbot_test_bot",
        first_update_id: int = 700_000_001,
    ) -> None:
        """``first_update_id``: where update ids start. Telegram's keep rising across a bot's
        restarts; a fake that starts again at the same id on a database that recorded it
        (the sandbox's file) would see its updates dropped as already handled."""
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.base_url = ""
        self.base_file_url = ""
        self.strict_html = True  # see newsbot_testing.fakes.htmlcheck: a bare "&" is an error
        self.callback_answer_timeout = 15.0
        # Time for flood control and callback expiry; tests may swap in a controllable clock.
        self.clock: Callable[[], float] = time.monotonic
        self.calls: list[Call] = []
        self.errors: list[Call] = []
        self.updates: list[dict[str, Any]] = []  # every update generated, delivered or not
        self.dropped_updates: list[dict[str, Any]] = []  # excluded by allowed_updates
        self.long_polls_waiting = 0  # getUpdates requests currently blocked in long polling
        self._cond = threading.Condition(threading.RLock())
        self._closing = False
        self._users: dict[int, dict[str, Any]] = {}
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, Message]] = {}
        self._pending: list[dict[str, Any]] = []
        self._update_seq = first_update_id - 1
        self._allowed_updates: list[str] | None = None
        self._callbacks: dict[str, _PendingCallback] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._files: dict[str, bytes] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._chat_rate: float | None = None
        self._global_rate: float | None = None
        self._paid_rate: float | None = None
        self._buckets: dict[int | str | None, _Bucket] = {}
        # Fault switches (delay_answers, fail_randomly).
        self._answer_delay = 0.0
        self._delayed_methods: frozenset[str] = frozenset()
        self._random_failure: tuple[float, frozenset[str], random.Random] | None = None
        self._random_status = 502
        self._slow_requests: dict[str, list[float]] = {}  # hold_next_requests: method -> delays
        # Flood windows opened by a 429: chat id (None: the whole bot) → (opened, ends), on
        # ``self.clock``. Requests inside one are recorded in ``inside_retry_after``, except
        # those arriving within ``early_retry_grace`` of the 429: they were already on the wire.
        self._flood_windows: dict[int | None, tuple[float, float]] = {}
        self.early_retry_grace = 0.25
        self.inside_retry_after: list[Call] = []
        # Called with every Call as it is recorded, under the fake's lock (keep them cheap, never
        # block): the sandbox's chat page learns of each send, edit and answer this way.
        self.observers: list[Callable[[Call], None]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._init_webhooks()
        self._init_inline()

    def __repr__(self) -> str:  # never show the token
        return f"<FakeBotAPI {self.base_url or 'not started'}>"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on an ephemeral port; ``base_url`` is valid from now on."""
        self._closing = False
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        port = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self.base_file_url = f"http://127.0.0.1:{port}/file/bot"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-botapi",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; pending long polls return at once with no updates."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._stop_webhook_delivery()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeBotAPI:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- simulating users ------------------------------------------------------------------

    def user_sends_text(
        self, user_id: int, text: str, *, first_name: str = "Ada", language_code: str = "en"
    ) -> dict[str, Any]:
        """Queue a private text message from the user; returns the Update as queued."""
        return self._user_message(user_id, text, None, first_name, language_code)

    def user_sends_command(
        self,
        user_id: int,
        command: str,
        args: str = "",
        *,
        first_name: str = "Ada",
        language_code: str = "en",
    ) -> dict[str, Any]:
        """Queue ``/command args`` with the bot_command entity Telegram attaches."""
        command = "/" + command.lstrip("/")
        text = f"{command} {args}" if args else command
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
        return self._user_message(user_id, text, [entity], first_name, language_code)

    def user_presses_button(
        self, user_id: int, message_id: int, callback_data: str | bytes, *, forge: bool = False
    ) -> dict[str, Any]:
        """Queue a callback_query for a button under a message the bot sent to this user.

        Without ``forge`` the message must exist, be the bot's, not be deleted, and carry a
        button with exactly this ``callback_data`` -- otherwise the test (or the bot) is wrong
        and this raises AssertionError.  ``forge=True`` sends anything, as a malicious client
        could: bytes are mapped 1:1 to characters (latin-1), and a missing message is echoed as
        an inaccessible one (``date`` 0), as Telegram does for old messages.
        """
        data = (
            callback_data.decode("latin-1") if isinstance(callback_data, bytes) else callback_data
        )
        with self._cond:
            message = self._messages.get(user_id, {}).get(message_id)
            if not forge:
                self._check_pressable(user_id, message_id, message, data)
            self._users.setdefault(user_id, {"first_name": "Ada", "language_code": "en"})
            if message is not None and message.from_bot and not message.deleted:
                echoed = self._message_json(message)
            else:
                echoed = {"chat": self._chat_json(user_id), "message_id": message_id, "date": 0}
            query_id = f"{self.bot_id}{len(self._callbacks) + 1:010d}"
            query: dict[str, Any] = {
                "id": query_id,
                "from": self._user_json(user_id),
                "message": echoed,
                "chat_instance": f"{user_id * 31 + self.bot_id}",
                "data": data,
            }
            self._callbacks[query_id] = _PendingCallback(query, self.clock())
            return self._queue_update("callback_query", query)

    def add_users(self, user_ids: Iterable[int], *, first_name: str = "Reader") -> None:
        """Users who started the bot earlier (their chats exist), without queueing updates:
        for fan-out tests with hundreds of readers set up directly in the database."""
        with self._cond:
            for user_id in user_ids:
                self._users.setdefault(user_id, {"first_name": first_name, "language_code": "en"})

    def block_bot(self, user_id: int) -> None:
        """From now on every send/edit to this chat gets 403, as after the user blocks the bot."""
        with self._cond:
            self._blocked.add(user_id)

    def unblock_bot(self, user_id: int) -> None:
        with self._cond:
            self._blocked.discard(user_id)

    def user_blocks_bot(self, user_id: int) -> dict[str, Any]:
        """The user blocks the bot, as Telegram reports it: sends get 403 from now on, and a
        ``my_chat_member`` update (member → kicked) is queued; like every update type, it is
        delivered only if the bot's ``allowed_updates`` (when given) lists it."""
        with self._cond:
            self._blocked.add(user_id)
            return self._member_update(user_id, "member", "kicked")

    def user_unblocks_bot(self, user_id: int) -> dict[str, Any]:
        """The user unblocks the bot: a ``my_chat_member`` update (kicked → member)."""
        with self._cond:
            self._blocked.discard(user_id)
            return self._member_update(user_id, "kicked", "member")

    def _member_update(self, user_id: int, old: str, new: str) -> dict[str, Any]:
        """A ChatMemberUpdated for the bot in the user's private chat."""
        self._users.setdefault(user_id, {"first_name": "Ada", "language_code": "en"})

        def member(status: str) -> dict[str, Any]:
            extra = {"until_date": 0} if status == "kicked" else {}  # 0: banned for good
            return {"user": self._bot_json(), "status": status, **extra}

        change = {
            "chat": self._chat_json(user_id),
            "from": self._user_json(user_id),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        return self._queue_update("my_chat_member", change)

    def set_rate_limit(
        self,
        per_chat_per_second: float | None,
        global_per_second: float | None,
        paid_per_second: float | None = 1000.0,
    ) -> None:
        """Enable Telegram-style flood control on sends and edits (None switches a limit off).

        As on Telegram, messages sent with ``allow_paid_broadcast`` are not counted against
        ``global_per_second`` but against their own ``paid_per_second`` (1,000/s); the per-chat
        limit holds for both. Limits are token buckets over ``self.clock``: a test that must
        not depend on the machine's speed can set ``fake.clock`` to a function it controls."""
        with self._cond:
            self._chat_rate, self._global_rate = per_chat_per_second, global_per_second
            self._paid_rate = paid_per_second
            self._buckets.clear()
            self._flood_windows.clear()

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``count`` calls to ``method`` with this error, before any checks."""
        with self._cond:
            self._failures.setdefault(method, []).append(
                _Failure(status, description, retry_after, count)
            )

    def delay_answers(self, seconds: float, methods: Iterable[str] = RATE_LIMITED) -> None:
        """Answer calls to ``methods`` ``seconds`` late, as a busy Telegram does: the call takes
        effect at once (the message is delivered), only its answer waits. 0 switches it off."""
        with self._cond:
            self._answer_delay, self._delayed_methods = seconds, frozenset(methods)

    def hold_next_requests(self, method: str, seconds: float, count: int = 1) -> None:
        """Let the next ``count`` calls to ``method`` take effect ``seconds`` late, as a
        request on a slow connection does: a call sent after it can overtake it."""
        with self._cond:
            self._slow_requests.setdefault(method, []).extend([seconds] * count)

    def request_delay(self, method: str) -> float:
        """How long this call to ``method`` is held before it takes effect (one use each)."""
        with self._cond:
            delays = self._slow_requests.get(method)
            return delays.pop(0) if delays else 0.0

    def fail_randomly(
        self,
        fraction: float,
        methods: Iterable[str] = ("sendMessage",),
        *,
        status: int = 502,
        seed: int = 14,
    ) -> None:
        """Answer about ``fraction`` of the calls to ``methods`` with a 5xx (nothing delivered),
        drawn from a seeded generator. 0 switches it off."""
        with self._cond:
            self._random_failure = (
                (fraction, frozenset(methods), random.Random(seed)) if fraction else None
            )
            self._random_status = status

    # -- assertions ------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self.calls if call.method == method]

    def chat_messages(self, chat_id: int) -> list[Message]:
        """Snapshots of the bot's messages in the chat, oldest first, deleted ones included."""
        with self._cond:
            chat = self._messages.get(chat_id, {})
            return [copy.deepcopy(m) for m in chat.values() if m.from_bot]

    def chat_history(self, chat_id: int) -> list[Message]:
        """Snapshots of every message in the chat, the user's too, oldest first."""
        with self._cond:
            return [copy.deepcopy(m) for m in self._messages.get(chat_id, {}).values()]

    def message(self, chat_id: int, message_id: int) -> Message | None:
        """A snapshot of one message of the chat (the user's or the bot's), or None."""
        with self._cond:
            found = self._messages.get(chat_id, {}).get(message_id)
            return copy.deepcopy(found) if found is not None else None

    def callback_query(self, query_id: str) -> dict[str, Any] | None:
        """The callback_query object a press created (answered or not), or None."""
        with self._cond:
            pending = self._callbacks.get(query_id)
            return copy.deepcopy(pending.query) if pending is not None else None

    def file_bytes(self, file_id: str) -> bytes | None:
        """The bytes of a photo the bot uploaded (None for unknown ids and URL photos)."""
        with self._cond:
            return self._files.get(file_id) or None

    def last_message(self, chat_id: int) -> Message | None:
        """The bot's most recent message in the chat (check ``.deleted`` if that matters)."""
        messages = self.chat_messages(chat_id)
        return messages[-1] if messages else None

    def slowest_callback_answer(self) -> float:
        """Seconds (on ``self.clock``) from the slowest answered press to its answer."""
        with self._cond:
            return max(
                (p.answered_at - p.created for p in self._callbacks.values() if p.answered_at),
                default=0.0,
            )

    def unanswered_callbacks(self) -> list[dict[str, Any]]:
        """callback_query objects the bot has not answered with answerCallbackQuery."""
        with self._cond:
            return [copy.deepcopy(p.query) for p in self._callbacks.values() if p.answer is None]

    def commands(
        self, language_code: str = "", scope: dict[str, Any] | None = None
    ) -> list[dict[str, str]]:
        """The command list set for this (scope, language), exactly as getMyCommands returns it."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        with self._cond:
            return copy.deepcopy(self._commands.get(key, []))

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any] | None:
        with self._cond:
            return copy.deepcopy(self._menu_buttons.get(chat_id))

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10.0, message: str = ""
    ) -> None:
        """Block until ``predicate()`` is true; re-checked on every request the fake answers
        (and every 50 ms, for predicates about other state).  On timeout, AssertionError with
        the recent calls, so a failing test says what the bot did instead.  The predicate runs
        under the fake's lock, so keep it cheap and never wait inside it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = f": {message}" if message else ""
                    raise AssertionError(
                        f"condition not met within {timeout}s{what}\n{self.describe()}"
                    )
                self._cond.wait(min(remaining, 0.05))

    def wait_for_call(
        self,
        method: str,
        *,
        after: int = 0,
        timeout: float = 10.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> Call:
        """The first call to ``method`` at index >= ``after`` that matches ``predicate``."""
        found: list[Call] = []

        def seen() -> bool:
            found.extend(
                c
                for c in self.calls[after:]
                if c.method == method and (predicate is None or predicate(c))
            )
            return bool(found)

        self.wait_for(seen, timeout, f"a call to {method} (index >= {after})")
        return found[0]

    async def wait_for_async(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - enforced by wait_for in the worker thread
    ) -> None:
        """``wait_for`` without blocking the event loop the bot under test may be running on."""
        await asyncio.to_thread(self.wait_for, predicate, timeout)

    async def wait_for_call_async(
        self,
        method: str,
        *,
        after: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109 - enforced by wait_for in the worker thread
        predicate: Callable[[Call], bool] | None = None,
    ) -> Call:
        """``wait_for_call`` without blocking the event loop."""
        return await asyncio.to_thread(
            lambda: self.wait_for_call(method, after=after, timeout=timeout, predicate=predicate)
        )

    def describe(self, last: int = 20) -> str:
        """Human-readable recent history for failure messages (params shortened)."""
        with self._cond:
            lines = [f"last {min(last, len(self.calls))} of {len(self.calls)} calls:"]
            start = max(0, len(self.calls) - last)
            for index, call in enumerate(self.calls[start:], start):
                error = f"{call.status} {call.response.get('description')}"
                outcome = "ok" if call.status == 200 else error
                params = repr(call.params)
                params = params if len(params) <= 160 else params[:157] + "..."
                lines.append(f"  #{index} {call.method} -> {outcome} {params}")
            lines.append(f"pending updates: {len(self._pending)}")
            lines.append(f"updates dropped by allowed_updates: {len(self.dropped_updates)}")
            lines.append(f"unanswered callbacks: {len(self.unanswered_callbacks())}")
            if self._webhook is not None or self.webhook_deliveries:
                lines.append(self._describe_webhook())
            return "\n".join(lines)

    # -- internals shared with the method implementations ----------------------------------

    def _user_message(
        self,
        user_id: int,
        text: str,
        entities: list[dict[str, Any]] | None,
        first_name: str,
        language_code: str,
    ) -> dict[str, Any]:
        with self._cond:
            self._users[user_id] = {"first_name": first_name, "language_code": language_code}
            self._blocked.discard(user_id)  # a user who writes to the bot has unblocked it
            message = self._store(
                user_id, text=text, html=None, from_bot=False, entities=entities or []
            )
            payload = {
                "message_id": message.message_id,
                "from": self._user_json(user_id),
                "chat": self._chat_json(user_id),
                "date": message.date,
                "text": text,
            }
            if entities:
                payload["entities"] = entities
            return self._queue_update("message", payload)

    def _check_pressable(
        self, user_id: int, message_id: int, message: Message | None, data: str
    ) -> None:
        if message is None or not message.from_bot or message.deleted:
            state = "deleted" if message is not None and message.deleted else "not one the bot sent"
            raise AssertionError(f"message {message_id} in chat {user_id} is {state}")
        offered = [b.get("callback_data") for row in message.buttons for b in row]
        if data not in offered:
            raise AssertionError(
                f"message {message_id} has no button with {data!r}; it offers {offered}"
            )

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._update_seq += 1
        update = {"update_id": self._update_seq, kind: payload}
        allowed = self._allowed_updates
        delivered = kind in allowed if allowed else kind not in NOT_SENT_BY_DEFAULT
        self.updates.append(update)
        (self._pending if delivered else self.dropped_updates).append(update)
        self._cond.notify_all()
        return copy.deepcopy(update)

    def _handle(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Serve one HTTP request (called on a server thread)."""
        url = urlsplit(path)
        match = _PATH.fullmatch(url.path)
        if match is None:
            return 404, dict(_NOT_FOUND)
        spec = find_method(match["method"])
        name = spec.name if spec else match["method"]
        params: dict[str, Any] = {}
        with self._cond:
            try:
                if match["token"] != self.token:
                    raise ApiError(401, "Unauthorized")
                if spec is None:
                    raise ApiError(404, "Not Found")
                params = decode_params(spec, parse_body(content_type, body, url.query))
                self._scripted_failure(name, params)
                self._random_failure_for(name)
                self._rate_limit(name, params)
                outcome: Any = getattr(self, f"_api_{name}")(params)
            except ApiError as error:
                outcome = error
            return self._record(name, params, outcome)

    def answer_delay(self, method: str) -> float:
        """How late the answer to ``method`` goes out (``delay_answers``)."""
        spec = find_method(method)
        with self._cond:
            name = spec.name if spec else method
            return self._answer_delay if name in self._delayed_methods else 0.0

    def _random_failure_for(self, method: str) -> None:
        if self._random_failure is None:
            return
        fraction, methods, rng = self._random_failure
        if method in methods and rng.random() < fraction:
            raise ApiError(self._random_status, "Bad Gateway" if self._random_status == 502
                           else "Internal Server Error")  # fmt: skip

    def _record(
        self, method: str, params: dict[str, Any], outcome: Any
    ) -> tuple[int, dict[str, Any]]:
        if isinstance(outcome, ApiError):
            status, response = outcome.status, outcome.payload()
        else:
            status, response = 200, {"ok": True, "result": outcome}
        call = Call(method, params, response, status, time.monotonic())
        self.calls.append(call)
        if status != 200:
            self.errors.append(call)
        for observer in self.observers:
            observer(call)
        self._cond.notify_all()
        return status, response

    def _scripted_failure(self, method: str, params: dict[str, Any]) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        chat = params.get("chat_id")
        if failure.status == 429 and failure.retry_after and isinstance(chat, int):
            now = self.clock()  # a real 429's window
            self._flood_windows[chat] = (now, now + failure.retry_after)
        raise ApiError(failure.status, failure.description, failure.retry_after)

    def _rate_limit(self, method: str, params: dict[str, Any]) -> None:
        if method not in RATE_LIMITED:
            return
        now = self.clock()
        self._refuse_inside_window(method, params, now)
        limits: list[tuple[int | str | None, float]] = []
        if params.get("allow_paid_broadcast") in (True, "true", "True"):
            if self._paid_rate and (self._global_rate or self._chat_rate):
                limits.append(("paid", self._paid_rate))
        elif self._global_rate:
            limits.append((None, self._global_rate))
        if self._chat_rate and isinstance(params.get("chat_id"), int):
            limits.append((params["chat_id"], self._chat_rate))
        buckets = [
            self._buckets.setdefault(key, _Bucket(rate, max(1.0, rate), now))
            for key, rate in limits
        ]
        waits = [bucket.wait(now) for bucket in buckets]
        wait = max(waits, default=0.0)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            for (key, _rate), each in zip(limits, waits, strict=True):
                if each > 0:  # a paid budget exceeded closes the bot's window, as the free one
                    self._flood_windows[key if isinstance(key, int) else None] = (
                        now,
                        now + seconds,
                    )
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        for bucket in buckets:
            bucket.tokens -= 1

    def _refuse_inside_window(self, method: str, params: dict[str, Any], now: float) -> None:
        """Requests inside a 429's retry_after window (that chat's, or every chat's for the
        global limit) are recorded in ``inside_retry_after``, so tests can assert a client never
        sends there; with flood control on (``set_rate_limit``) they get 429 again, with the
        time left, as on Telegram."""
        chat = params.get("chat_id")
        keys: list[int | None] = [None, chat] if isinstance(chat, int) else [None]
        windows = [self._flood_windows[key] for key in keys if key in self._flood_windows]
        left = max((end - now for _opened, end in windows), default=0.0)
        on_the_wire = all(now <= opened + self.early_retry_grace for opened, _end in windows)
        if left > 0 and not on_the_wire:
            self.inside_retry_after.append(Call(method, params, {}, 429, time.monotonic()))
        if left > 0 and (self._chat_rate or self._global_rate):
            seconds = max(1, math.ceil(left))
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)

    # -- Bot API methods: each takes decoded params and returns the "result" or raises ---------

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long polling: confirm by ``offset``, then wait up to ``timeout`` s for an update."""
        self._refuse_while_webhook_set()
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"]) or None
        offset = params.get("offset")
        if isinstance(offset, int) and offset < 0:
            self._pending = self._pending[offset:]
        elif isinstance(offset, int):
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        deadline = time.monotonic() + max(0, int(params.get("timeout", 0)))
        self.long_polls_waiting += 1
        self._cond.notify_all()
        try:
            while not self._pending and not self._closing and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
        finally:
            self.long_polls_waiting -= 1
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        return copy.deepcopy(self._pending[:limit])

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self._webhook_deleted()
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _api_logOut(self, params: dict[str, Any]) -> bool:
        return True

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = validate_commands(params["commands"])
        key = command_scope_key(params.get("scope"), params.get("language_code"))
        scope = params.get("scope") or {}
        if "chat_id" in scope:  # like Telegram: a chat scope needs a chat the bot knows
            self._chat(scope["chat_id"], sending=False)
        if commands:
            self._commands[key] = commands
        else:
            self._commands.pop(key, None)
        return True

    def _api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(
            command_scope_key(params.get("scope"), params.get("language_code")), None
        )
        return True

    def _api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        key = command_scope_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    def _api_setChatMenuButton(self, params: dict[str, Any]) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self._chat(chat_id, sending=False)
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "commands",
            "web_app",
            "default",
        ):
            raise bad_request("can't parse menu button JSON object")
        self._menu_buttons[chat_id] = button
        return True

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"], sending=True)
        parsed = self._render(params["text"], params, caption=False)
        markup = validate_reply_markup(params.get("reply_markup"), inline_only=False)
        message = self._store(
            chat, text=parsed.text, html=params["text"], entities=list(parsed.entities)
        )
        self._apply_markup(message, markup)
        message.parse_mode = params.get("parse_mode")
        return self._message_json(message)

    def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"], sending=True)
        sizes = self._photo_sizes(params["photo"])
        caption = params.get("caption")
        parsed = self._render(caption or "", params, caption=True)
        markup = validate_reply_markup(params.get("reply_markup"), inline_only=False)
        message = self._store(chat, text=parsed.text, html=caption, entities=list(parsed.entities))
        message.kind, message.photo, message.parse_mode = "photo", sizes, params.get("parse_mode")
        self._apply_markup(message, markup)
        return self._message_json(message)

    def _api_copyMessage(self, params: dict[str, Any]) -> dict[str, int]:
        """A copy without a link to the original: text and entities, or the photo with its
        caption (replaced if ``caption`` is given). Answers a MessageId, as Telegram does."""
        source_chat = self._chat(params["from_chat_id"], sending=False)
        source = self._messages.get(source_chat, {}).get(params["message_id"])
        if source is None or source.deleted:
            raise bad_request("message to copy not found")
        chat = self._chat(params["chat_id"], sending=True)
        text, html, entities = source.text, source.html, list(source.entities)
        parse_mode = source.parse_mode
        if source.kind != "text" and "caption" in params:
            parsed = self._render(params["caption"] or "", params, caption=True)
            text, html, entities = parsed.text, params["caption"], list(parsed.entities)
            parse_mode = params.get("parse_mode")
        markup = validate_reply_markup(params.get("reply_markup"), inline_only=False)
        message = self._store(chat, text=text, html=html, entities=copy.deepcopy(entities))
        message.kind, message.photo = source.kind, copy.deepcopy(source.photo)
        message.parse_mode = parse_mode
        self._apply_markup(message, markup)
        return {"message_id": message.message_id}

    def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._edit_target(params)
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        parsed = self._render(params["text"], params, caption=False)
        return self._edit(message, parsed, params["text"], params)

    def _api_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._edit_target(params)
        if message.kind != "photo":
            raise bad_request("there is no caption in the message to edit")
        parsed = self._render(params.get("caption") or "", params, caption=True)
        return self._edit(message, parsed, params.get("caption"), params)

    def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._edit_target(params)
        current = ParsedText(message.text, tuple(message.entities))
        return self._edit(message, current, message.html, params)

    def _api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params["chat_id"], sending=False)
        message = self._messages[chat].get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        message.deleted = True
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        """Each query can be answered once, within ``callback_answer_timeout`` seconds."""
        pending = self._callbacks.get(params["callback_query_id"])
        age = self.clock() - pending.created if pending else 0.0
        expired = age > self.callback_answer_timeout
        if pending is None or pending.answer is not None or expired:
            raise bad_request(_QUERY_INVALID)
        if len(params.get("text") or "") > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        pending.answer = params
        pending.answered_at = self.clock()
        return True

    def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._chat(params["chat_id"], sending=True)
        if params["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # -- helpers for the methods -------------------------------------------------------------

    def _chat(self, chat_id: Any, *, sending: bool) -> int:
        """A chat exists once its user wrote to the bot; sending into it needs them unblocked."""
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise bad_request("chat not found")
        if sending and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _render(self, raw: str, params: dict[str, Any], *, caption: bool) -> ParsedText:
        """What the recipient will see, after Telegram's parse_mode handling and limits."""
        mode = (params.get("parse_mode") or "").lower()
        if mode == "html":
            try:
                parsed = parse_html(raw, strict=self.strict_html)
            except HtmlParseError as error:
                raise bad_request(f"can't parse entities: {error.detail}") from None
        elif mode in ("markdown", "markdownv2"):
            raise bad_request(f"can't parse entities: the fake only implements HTML, not {mode}")
        elif mode:
            raise bad_request("unsupported parse_mode")
        else:
            entities = params.get("caption_entities" if caption else "entities") or []
            parsed = ParsedText(raw, tuple(entities))
        parsed = strip_text(parsed)
        if caption and utf16_len(parsed.text) > 1024:
            raise bad_request("message caption is too long")
        if not caption and not parsed.text:
            raise bad_request("message text is empty")
        if not caption and utf16_len(parsed.text) > 4096:
            raise bad_request("message is too long")
        return parsed

    def _edit_target(self, params: dict[str, Any]) -> Message:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the fake has no inline mode
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self._chat(params["chat_id"], sending=True)
        message = self._messages[chat].get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _edit(
        self, message: Message, parsed: ParsedText, html: str | None, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply an edit.  Leaving out reply_markup removes the keyboard, as on Telegram."""
        markup = validate_reply_markup(params.get("reply_markup"), inline_only=True)
        same_content = (parsed.text, parsed.entities) == (message.text, tuple(message.entities))
        if same_content and markup == message.reply_markup:
            raise bad_request(_NOT_MODIFIED)
        message.text, message.entities, message.html = parsed.text, list(parsed.entities), html
        if "parse_mode" in params or "text" in params or "caption" in params:
            message.parse_mode = params.get("parse_mode")
        self._apply_markup(message, markup)
        message.edits += 1
        message.edit_date = int(time.time())
        return self._message_json(message)

    def _photo_sizes(self, photo: Any) -> list[dict[str, Any]]:
        """Accept an upload that looks like an image, a URL, or a file_id this fake issued."""
        if isinstance(photo, UploadedFile):
            if not photo.data:
                raise bad_request("file must be non-empty")
            if not photo.data.startswith(_IMAGE_MAGIC):
                raise bad_request("IMAGE_PROCESS_FAILED")
            file_id = f"AgAC-fake-{len(self._files) + 1}"
            self._files[file_id] = photo.data
        elif isinstance(photo, str) and re.match(r"https?://[^\s/]+\.[^\s]+$", photo):
            file_id = f"AgAC-fake-{len(self._files) + 1}"
            self._files[file_id] = b""
        elif isinstance(photo, str) and photo in self._files:
            file_id = photo
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        size = len(self._files[file_id])
        thumb = f"{file_id}-s"
        return [
            {"file_id": thumb, "file_unique_id": thumb, "width": 90, "height": 60},
            {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 533}
            | {"file_size": size},
        ]

    def _store(
        self,
        chat_id: int,
        *,
        text: str,
        html: str | None,
        entities: list[dict[str, Any]],
        from_bot: bool = True,
    ) -> Message:
        """Add a message; ids are per chat and shared by both sides, as in private chats."""
        chat = self._messages.setdefault(chat_id, {})
        message_id = max(chat, default=0) + 1
        message = Message(
            message_id, chat_id, text, html, None, [], entities=entities, from_bot=from_bot,
            date=int(time.time()),
        )  # fmt: skip
        chat[message_id] = message
        return message

    @staticmethod
    def _apply_markup(message: Message, markup: dict[str, Any] | None) -> None:
        message.reply_markup = copy.deepcopy(markup)
        rows = (markup or {}).get("inline_keyboard") or []
        message.buttons = copy.deepcopy(rows)

    def _message_json(self, message: Message) -> dict[str, Any]:
        """The Message object as Telegram returns it (and echoes it in callback queries)."""
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self._bot_json() if message.from_bot else self._user_json(message.chat_id),
            "chat": self._chat_json(message.chat_id),
            "date": message.date,
        }
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        text_key, entities_key = "text", "entities"
        if message.kind == "photo":
            text_key, entities_key = "caption", "caption_entities"
            data["photo"] = copy.deepcopy(message.photo)
        if message.text or message.kind == "text":
            data[text_key] = message.text
        if message.entities:
            data[entities_key] = copy.deepcopy(message.entities)
        if message.reply_markup is not None and "inline_keyboard" in message.reply_markup:
            # Telegram echoes inline keyboards only: a Message's reply_markup is never a reply
            # keyboard (PTB would fail to read one).
            data["reply_markup"] = copy.deepcopy(message.reply_markup)
        return data

    def _bot_json(self) -> dict[str, Any]:
        name = "NewsBot Test"
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": name,
            "username": self.bot_username,
        }

    def _user_json(self, user_id: int) -> dict[str, Any]:
        user = self._users[user_id]
        return {"id": user_id, "is_bot": False, **user}

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": self._users[chat_id]["first_name"]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a bot answers a burst of
    # updates at once (then PTB times out after 5 s); Telegram's servers accept them.
    request_queue_size = 128
    fake: FakeBotAPI

    def server_bind(self) -> None:
        """Skip HTTPServer's ``socket.getfqdn`` lookup, which can take a DNS timeout."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection: nothing to clean up when a client goes away."""

    server: _Server

    def do_POST(self) -> None:
        content_type = self.headers.get("Content-Type", "")
        called = _PATH.fullmatch(urlsplit(self.path).path)
        if called is not None and (held := self.server.fake.request_delay(called["method"])):
            time.sleep(held)  # a slow request: it takes effect late
        status, payload = self.server.fake._handle(self.path, content_type, self._body())
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        method = _PATH.fullmatch(urlsplit(self.path).path)
        if method is not None and (delay := self.server.fake.answer_delay(method["method"])):
            time.sleep(delay)  # the call took effect; only the answer is late
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a cancelled long poll)

    do_GET = do_POST

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines contain the bot token."""
