"""What the chat page shows, learned from the fake Bot API as the bot calls it.

The fake keeps the chats (it is the one implementation of Telegram's rules, shared with the
tests); the hub turns each recorded call into a small JSON event for the pages that listen
(server-sent events): a message sent, edited or deleted, a callback answer (a toast), the
command menu changing, a request the fake refused. It also knows the simulated users and acts
for them (typing, pressing), so both sides of every chat go through the fake.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import asdict, dataclass
from typing import Any

from digest.clock import Clock, utcnow
from newsbot_testing.fakes.botapi import Call, FakeBotAPI, Message

# Simulated admins take ids from this range (the sandbox adds them all to ADMIN_IDS, which the
# bot reads once at start), readers from READER_IDS.
ADMIN_IDS = range(9001, 9100)
READER_IDS = range(1001, 9000)
_SENDS = frozenset({"sendMessage", "sendPhoto"})
_EDITS = frozenset({"editMessageText", "editMessageCaption", "editMessageReplyMarkup"})


@dataclass(frozen=True)
class SimUser:
    """A simulated Telegram user: what Telegram would tell the bot about them."""

    id: int
    name: str
    language: str
    admin: bool


DEFAULT_USERS = (
    SimUser(ADMIN_IDS[0], "Ada", "en", admin=True),
    SimUser(READER_IDS[0], "Ben", "en", admin=False),
    SimUser(READER_IDS[1], "Chloé", "fr", admin=False),
)


class Hub:
    """Simulated users, their actions on the fake, and the event stream for the pages."""

    def __init__(
        self, fake: FakeBotAPI, users: tuple[SimUser, ...] = DEFAULT_USERS, clock: Clock = utcnow
    ) -> None:
        self.fake = fake
        self.clock = clock
        # When each message was sent by the sandbox's clock (the fake stamps wall-clock time).
        self._dates: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self._users: dict[int, SimUser] = {user.id: user for user in users}
        self._listeners: list[queue.SimpleQueue[str | None]] = []
        self._previews: dict[tuple[int, int], dict[str, Any]] = {}
        fake.observers.append(self._on_call)

    # -- users -------------------------------------------------------------------------------

    @property
    def users(self) -> list[SimUser]:
        with self._lock:
            return list(self._users.values())

    def add_user(self, name: str, language: str, admin: bool) -> SimUser:
        """A new simulated user; admins get an id from ``ADMIN_IDS`` (the bot's admins)."""
        name = name.strip()[:64] or "Reader"
        language = language.strip().lower()[:8] or "en"
        with self._lock:
            pool = ADMIN_IDS if admin else READER_IDS
            free = next((i for i in pool if i not in self._users), None)
            if free is None:
                raise ValueError("no more simulated users of that kind")
            user = SimUser(free, name, language, admin)
            self._users[user.id] = user
        self._publish("users", {"users": [asdict(u) for u in self.users]})
        return user

    def user(self, user_id: int) -> SimUser:
        with self._lock:
            found = self._users.get(user_id)
        if found is None:
            raise KeyError(f"no simulated user {user_id}")
        return found

    # -- acting for a user -------------------------------------------------------------------

    def send(self, user_id: int, text: str) -> dict[str, Any]:
        """The user sends text; a leading ``/word`` is a command, as Telegram marks it."""
        user = self.user(user_id)
        text = text.strip()
        if not text:
            raise ValueError("empty message")
        who = {"first_name": user.name, "language_code": user.language}
        if text.startswith("/") and len(text) > 1:
            command, _, args = text.partition(" ")
            update = self.fake.user_sends_command(user.id, command, args.strip(), **who)
        else:
            update = self.fake.user_sends_text(user.id, text, **who)
        self._dates[(user.id, update["message"]["message_id"])] = int(self.clock().timestamp())
        shown = self.message_json(user.id, update["message"]["message_id"])
        self._publish("message", shown)
        return shown

    def press(self, user_id: int, message_id: int, data: str) -> None:
        """The user presses an inline button (the fake checks the message offers it)."""
        user = self.user(user_id)
        self.fake.user_presses_button(user.id, message_id, data)

    # -- what the page shows -----------------------------------------------------------------

    def history(self, user_id: int) -> list[dict[str, Any]]:
        return [self._json(m) for m in self.fake.chat_history(user_id)]

    def commands(self, language: str) -> list[dict[str, str]]:
        """The menu Telegram shows this user: their language's list, else the default one."""
        return self.fake.commands(language) or self.fake.commands()

    def message_json(self, chat_id: int, message_id: int) -> dict[str, Any]:
        message = self.fake.message(chat_id, message_id)
        if message is None:
            return {"chat_id": chat_id, "message_id": message_id, "deleted": True}
        return self._json(message)

    def _json(self, message: Message) -> dict[str, Any]:
        """Everything the page needs to draw one message; the HTML is the bot's, verbatim (the
        page renders it through an allowlist, never as markup)."""
        markup = message.reply_markup or {}
        photo = None
        if message.kind == "photo" and message.photo:
            photo = "/file/" + message.photo[-1]["file_id"]
        html = message.html if (message.parse_mode or "").lower() == "html" else None
        return {
            "chat_id": message.chat_id,
            "message_id": message.message_id,
            "from_bot": message.from_bot,
            "kind": message.kind,
            "text": message.text,
            "html": html,
            "photo": photo,
            "inline_keyboard": markup.get("inline_keyboard") or [],
            "reply_keyboard": markup.get("keyboard"),
            "remove_keyboard": bool(markup.get("remove_keyboard")),
            "edits": message.edits,
            "deleted": message.deleted,
            "date": self._dates.get((message.chat_id, message.message_id), message.date),
            "preview": self._previews.get((message.chat_id, message.message_id)),
        }

    # -- events ------------------------------------------------------------------------------

    def listen(self) -> queue.SimpleQueue[str | None]:
        """A queue of SSE frames for one page; ``None`` means the sandbox is stopping."""
        listener: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        with self._lock:
            self._listeners.append(listener)
        return listener

    def unlisten(self, listener: queue.SimpleQueue[str | None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def close(self) -> None:
        with self._lock:
            for listener in self._listeners:
                listener.put(None)
            self._listeners.clear()

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self._publish(kind, data)

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        frame = f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        with self._lock:
            for listener in self._listeners:
                listener.put(frame)

    def _on_call(self, call: Call) -> None:
        """Runs on the fake's server thread, under its lock: look, queue, return."""
        params, method = call.params, call.method
        if call.status != 200:
            if method != "getUpdates":
                description = str(call.response.get("description", ""))
                refusal = {"method": method, "chat_id": params.get("chat_id"),
                           "status": call.status, "description": description}  # fmt: skip
                self._publish("refused", refusal)
            return
        result = call.response.get("result")
        chat_id, message_id = None, None
        if method in _SENDS or (method in _EDITS and isinstance(result, dict)):
            assert isinstance(result, dict)
            chat_id, message_id = result["chat"]["id"], result["message_id"]
            if method in _SENDS:
                self._dates[(chat_id, message_id)] = int(self.clock().timestamp())
            if method == "sendMessage" or "link_preview_options" in params:
                self._previews[(chat_id, message_id)] = _preview(params)
        elif method == "copyMessage" and isinstance(result, dict):
            chat_id, message_id = params["chat_id"], result["message_id"]
            self._dates[(chat_id, message_id)] = int(self.clock().timestamp())
        elif method == "deleteMessage":
            chat_id, message_id = params["chat_id"], params["message_id"]
        elif method == "answerCallbackQuery":
            query = self.fake.callback_query(str(params["callback_query_id"])) or {}
            user = (query.get("from") or {}).get("id")
            toast = {"chat_id": user, "text": params.get("text") or "",
                     "show_alert": bool(params.get("show_alert"))}  # fmt: skip
            self._publish("toast", toast)
        elif method in ("setMyCommands", "deleteMyCommands"):
            self._publish("commands", {"language": params.get("language_code") or ""})
        if chat_id is not None and message_id is not None:
            self._publish("message", self.message_json(chat_id, message_id))


def _preview(params: dict[str, Any]) -> dict[str, Any]:
    """How the bot asked for the link preview (Telegram shows one by default)."""
    options = params.get("link_preview_options") or {}
    return {
        "disabled": bool(options.get("is_disabled")),
        "url": options.get("url"),
        "above": bool(options.get("show_above_text")),
    }
