"""Inline mode in the fake Bot API: ``inline_query`` updates, ``answerInlineQuery`` checked as
Telegram checks it, and a user choosing a result (the message it posts, ``chosen_inline_result``).

A mixin of ``FakeBotAPI``, so the inline rules read in one place:

- A query id is the fake's own, answered at most once and within ``inline_answer_timeout``
  seconds (on ``clock``), else "query is too old and response timeout expired or query ID is
  invalid", Telegram's wording.
- At most 50 results (``RESULTS_TOO_MUCH``); each a known type with an id of 1-64 bytes
  (``RESULT_ID_INVALID``) unique in the answer (``RESULT_ID_DUPLICATE``); an article has a
  title and ``input_message_content`` whose text is non-empty, at most 4096 characters and
  valid for its ``parse_mode`` (HTML checked as for ``sendMessage``); its keyboard is an
  inline keyboard within the usual limits; ``thumbnail_url`` and ``url`` are http(s) URLs.
- ``next_offset`` at most 64 bytes (``NEXT_OFFSET_INVALID``), ``cache_time`` not negative.
- ``user_chooses_inline_result`` renders the chosen result's message as the recipient would
  see it (kept in ``inline_messages``) and queues ``chosen_inline_result`` (delivered only if
  ``allowed_updates`` asks for it; Telegram also needs /setinlinefeedback in BotFather).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newsbot_testing.fakes.htmlcheck import ParsedText
from newsbot_testing.fakes.spec import bad_request, validate_reply_markup

MAX_RESULTS = 50
RESULT_TYPES = frozenset({
    "article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document", "location",
    "venue", "contact", "game", "sticker",
})  # fmt: skip
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_HTTP_URL = re.compile(r"https?://[^\s/]+\.[^\s]+")


@dataclass
class _PendingInline:
    query: dict[str, Any]
    created: float
    answer: dict[str, Any] | None = None
    answered_at: float | None = None


@dataclass
class InlineMessage:
    """What a chosen inline result posted, as the chat it went to sees it."""

    result_id: str
    text: str
    html: str | None
    parse_mode: str | None
    buttons: list[list[dict[str, Any]]]


class InlineSide:
    """Mixed into ``FakeBotAPI``; uses its lock, users, clock, update queue and renderer."""

    _cond: threading.Condition
    _users: dict[int, dict[str, Any]]
    bot_id: int
    clock: Callable[[], float]
    _queue_update: Callable[[str, dict[str, Any]], dict[str, Any]]
    _user_json: Callable[[int], dict[str, Any]]
    _render: Callable[..., ParsedText]

    def _init_inline(self) -> None:
        self.inline_answer_timeout = 10.0
        self._inline: dict[str, _PendingInline] = {}
        self.inline_messages: list[InlineMessage] = []

    def user_sends_inline_query(
        self,
        user_id: int,
        query: str,
        offset: str = "",
        *,
        chat_type: str = "sender",
        language_code: str = "en",
    ) -> dict[str, Any]:
        """Queue an ``inline_query`` (the user typed ``@bot query`` somewhere); returns the Update.
        The user need not have started the bot: inline mode works in any chat."""
        with self._cond:
            self._users.setdefault(user_id, {"first_name": "Ada", "language_code": language_code})
            query_id = f"{self.bot_id}9{len(self._inline) + 1:09d}"
            payload = {
                "id": query_id,
                "from": self._user_json(user_id),
                "query": query[:256],  # Telegram cuts inline queries at 256 characters
                "offset": offset,
                "chat_type": chat_type,
            }
            self._inline[query_id] = _PendingInline(payload, self.clock())
            return self._queue_update("inline_query", payload)

    def inline_answer(self, query_id: str) -> dict[str, Any] | None:
        """The parameters of the accepted ``answerInlineQuery`` for this query, or None."""
        with self._cond:
            pending = self._inline.get(query_id)
            return copy.deepcopy(pending.answer) if pending and pending.answer else None

    def unanswered_inline_queries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [copy.deepcopy(p.query) for p in self._inline.values() if p.answer is None]

    def user_chooses_inline_result(
        self, user_id: int, query_id: str, result_id: str
    ) -> InlineMessage:
        """The user taps a result: the message it posts, and a ``chosen_inline_result`` update."""
        with self._cond:
            pending = self._inline.get(query_id)
            if pending is None or pending.answer is None:
                raise AssertionError(f"inline query {query_id} was not answered")
            if pending.query["from"]["id"] != user_id:
                raise AssertionError("only the user who asked can choose a result")
            result = next((r for r in pending.answer["results"] if r.get("id") == result_id), None)
            if result is None:
                raise AssertionError(f"no result {result_id!r} in the answer")
            content = result["input_message_content"]
            parsed = self._render(content["message_text"], content, caption=False)
            markup = result.get("reply_markup") or {}
            posted = InlineMessage(
                result_id, parsed.text, content["message_text"], content.get("parse_mode"),
                copy.deepcopy(markup.get("inline_keyboard") or []),
            )  # fmt: skip
            self.inline_messages.append(posted)
            chosen: dict[str, Any] = {
                "result_id": result_id,
                "from": self._user_json(user_id),
                "query": pending.query["query"],
            }
            if markup:
                chosen["inline_message_id"] = f"fake-inline-{len(self.inline_messages)}"
            self._queue_update("chosen_inline_result", chosen)
            return copy.deepcopy(posted)

    def _api_answerInlineQuery(self, params: dict[str, Any]) -> bool:
        pending = self._inline.get(str(params["inline_query_id"]))
        age = self.clock() - pending.created if pending else 0.0
        if pending is None or pending.answer is not None or age > self.inline_answer_timeout:
            raise bad_request(_QUERY_INVALID)
        results = params["results"]
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > MAX_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            self._check_result(result, seen)
        offset = params.get("next_offset") or ""
        if not isinstance(offset, str) or len(offset.encode("utf-8")) > 64:
            raise bad_request("NEXT_OFFSET_INVALID")
        cache_time = params.get("cache_time", 300)
        if not isinstance(cache_time, int) or cache_time < 0:
            raise bad_request("wrong parameter cache_time in request")
        pending.answer = copy.deepcopy(params)
        pending.answered_at = self.clock()
        return True

    def _check_result(self, result: Any, seen: set[str]) -> None:
        """One InlineQueryResult, as Telegram validates it."""
        if not isinstance(result, dict) or result.get("type") not in RESULT_TYPES:
            raise bad_request("RESULT_TYPE_INVALID")
        result_id = result.get("id")
        if not isinstance(result_id, str) or not 1 <= len(result_id.encode("utf-8")) <= 64:
            raise bad_request("RESULT_ID_INVALID")
        if result_id in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        if result["type"] != "article":
            return  # the bot sends articles only; other types are accepted as they are
        if not isinstance(result.get("title"), str) or not result["title"].strip():
            raise bad_request("RESULT_TITLE_EMPTY")
        content = result.get("input_message_content")
        if not isinstance(content, dict) or not isinstance(content.get("message_text"), str):
            raise bad_request("can't parse InputMessageContent")
        if not content["message_text"].strip():
            raise bad_request("MESSAGE_EMPTY")
        self._render(content["message_text"], content, caption=False)  # parse_mode and length
        validate_reply_markup(result.get("reply_markup"), inline_only=True)
        for key in ("thumbnail_url", "url"):
            value = result.get(key)
            if value is not None and not (isinstance(value, str) and _HTTP_URL.fullmatch(value)):
                raise bad_request("PHOTO_THUMB_URL_INVALID" if key == "thumbnail_url"
                                  else "URL_INVALID")  # fmt: skip


def inline_answer_latency(side: InlineSide, query_id: str) -> float | None:
    """Seconds from the query to its accepted answer (on the fake's clock), or None."""
    pending = side._inline.get(query_id)
    if pending is None or pending.answered_at is None:
        return None
    return pending.answered_at - pending.created
