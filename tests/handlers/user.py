"""A Telegram user as tests see one: sends text, presses buttons by label, reads the screen."""

from __future__ import annotations

from typing import Any

from newsbot_testing.fakes.botapi import Call, FakeBotAPI, Message

SCREEN_CHANGES = ("sendMessage", "editMessageText")


class TelegramUser:
    """Acts on the fake and waits (on conditions, with timeouts) for the bot's visible reply."""

    def __init__(
        self, fake: FakeBotAPI, user_id: int, first_name: str, language_code: str = "en"
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.first_name = first_name
        self.language_code = language_code

    # ----------------------------------------------------------------- acting
    def send(self, text: str) -> Message:
        """Send a command or text and wait for the bot's next message or menu edit."""
        mark = len(self.fake.calls)
        if text.startswith("/"):
            command, _, args = text.partition(" ")
            self.fake.user_sends_command(
                self.id, command, args, first_name=self.first_name, language_code=self.language_code
            )
        else:
            self.fake.user_sends_text(
                self.id, text, first_name=self.first_name, language_code=self.language_code
            )
        self._wait_screen_change(mark)
        message = self.fake.last_message(self.id)
        assert message is not None
        return message

    def press(self, label: str, message: Message | None = None) -> Message:
        """Press the button whose text contains ``label`` and wait for the menu to change."""
        message = message or self.menu()
        mark, query_id = self._press(label, message)
        self._wait_answered(query_id, mark)
        self._wait_screen_change(mark)
        if any(c.method == "sendMessage" for c in self.fake.calls[mark:]):
            return self.last()
        return next(
            m for m in self.fake.chat_messages(self.id) if m.message_id == message.message_id
        )

    def press_for_toast(self, label: str, message: Message | None = None) -> str:
        """Press a button that should only answer with a toast; return the toast text."""
        mark, query_id = self._press(label, message)
        return str(self._wait_answered(query_id, mark).params.get("text", ""))

    def press_data(self, message_id: int, data: str | bytes) -> str:
        """Send arbitrary callback data for any message id, as a forged client could."""
        mark = len(self.fake.calls)
        update = self.fake.user_presses_button(self.id, message_id, data, forge=True)
        return str(self._wait_answered(update["callback_query"]["id"], mark).params.get("text", ""))

    # ---------------------------------------------------------------- reading
    def menu(self) -> Message:
        """The newest message of the bot that carries buttons (the live menu)."""
        for message in reversed(self.fake.chat_messages(self.id)):
            if message.buttons and not message.deleted:
                return message
        raise AssertionError(f"no menu in chat {self.id}\n{self.fake.describe()}")

    def last(self) -> Message:
        message = self.fake.last_message(self.id)
        assert message is not None
        return message

    @staticmethod
    def labels(message: Message) -> list[str]:
        return [str(b["text"]) for row in message.buttons for b in row]

    # -------------------------------------------------------------- internals
    def _press(self, label: str, message: Message | None) -> tuple[int, str]:
        message = message or self.menu()
        matches = [b for row in message.buttons for b in row if label in str(b["text"])]
        assert matches, f"no button {label!r} in {self.labels(message)}"
        button: dict[str, Any] = matches[0]
        mark = len(self.fake.calls)
        update = self.fake.user_presses_button(
            self.id, message.message_id, str(button["callback_data"])
        )
        return mark, str(update["callback_query"]["id"])

    def _wait_answered(self, query_id: str, mark: int) -> Call:
        return self.fake.wait_for_call(
            "answerCallbackQuery",
            after=mark,
            predicate=lambda c: c.params.get("callback_query_id") == query_id,
        )

    def _wait_screen_change(self, mark: int) -> None:
        self.fake.wait_for(
            lambda: (
                any(
                    c.method in SCREEN_CHANGES
                    and c.params.get("chat_id") in (self.id, str(self.id))
                    for c in self.fake.calls[mark:]
                )
                or any(
                    c.method == "editMessageText" and "chat_id" not in c.params
                    for c in self.fake.calls[mark:]
                )
            ),
            message=f"a new message or an edit for user {self.id}",
        )
