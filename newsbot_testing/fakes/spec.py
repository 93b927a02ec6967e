"""What the Bot API accepts on the wire, for the fake server: the vendored method schemas
(``botapi_methods.json``), request-body decoding the way PTB encodes it, and Telegram's
documented limits for inline keyboards and bot commands.

Why a schema and not ad-hoc parsing: PTB sends every parameter as a form field, JSON-encoding
all non-string values but passing strings through untouched.  So ``text="[1]"`` arrives as the
same bytes as a list would -- only the parameter's declared type says how to decode it.

Error wordings are Telegram's where they are known from its responses.  A few we could not
confirm and wrote in the same style: ``"exactly one of the optional fields"`` for buttons,
the ``language_code`` message, the 8-per-row limit, and the wording for undecodable values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from newsbot_testing.fakes.button_urls import button_url_ok

SPEC_PATH = Path(__file__).with_name("botapi_methods.json")

# Telegram's wording when a required parameter is absent; any other gets the generic text.
_MISSING = {
    "chat_id": "Bad Request: chat_id is empty",
    "text": "Bad Request: message text is empty",
    "photo": "Bad Request: there is no photo in the request",
    "message_id": "Bad Request: message identifier is not specified",
    "action": "Bad Request: wrong parameter action in request",
}
BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
MARKUP_UNPARSABLE = "Bad Request: can't parse reply keyboard markup JSON object"
_BUTTON_UNPARSABLE = "can't parse inline keyboard button"
COMMAND_SCOPES = frozenset({
    "default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
    "chat_administrators", "chat_member",
})  # fmt: skip


class ApiError(Exception):
    """A Bot API failure: the fake turns it into ``{"ok": false, ...}`` with this status."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status}
        body["description"] = self.description
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """The common case: a 400 whose description Telegram prefixes with "Bad Request: "."""
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class MethodSpec:
    name: str
    returns: tuple[str, ...]
    params: Mapping[str, ParamSpec]


@dataclass(frozen=True)
class UploadedFile:
    """A ``multipart/form-data`` file part (PTB uploads ``bytes`` photos this way)."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:  # keep call dumps short
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes)"


@cache
def load_methods(path: Path = SPEC_PATH) -> dict[str, MethodSpec]:
    """Method name -> schema, from the vendored JSON (generated from the upstream spec)."""
    raw = json.loads(path.read_text(encoding="utf-8"))["methods"]
    return {
        name: MethodSpec(
            name,
            tuple(method["returns"]),
            {
                p: ParamSpec(p, tuple(info["types"]), bool(info["required"]))
                for p, info in method["params"].items()
            },
        )
        for name, method in raw.items()
    }


def find_method(name: str) -> MethodSpec | None:
    """Telegram matches method names case-insensitively (``/SENDMESSAGE`` works)."""
    lowered = name.lower()
    return next((m for n, m in load_methods().items() if n.lower() == lowered), None)


def parse_body(content_type: str, body: bytes, query: str = "") -> dict[str, Any]:
    """Raw parameters of one request: query string, then urlencoded/multipart/JSON body."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        try:
            decoded = json.loads(body or b"{}")
        except ValueError:
            raise bad_request("can't parse JSON encoded request parameters") from None
        if not isinstance(decoded, dict):
            raise bad_request("can't parse JSON encoded request parameters")
        params.update(decoded)
    elif mime == "multipart/form-data":
        boundary = re.search(r'boundary="?([^";]+)"?', content_type)
        if boundary is None:
            raise bad_request("can't parse multipart/form-data request")
        params.update(_parse_multipart(body, boundary[1].encode("latin-1")))
    elif body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _parse_multipart(body: bytes, boundary: bytes) -> dict[str, Any]:
    """Minimal RFC 7578 reader for what httpx sends: one part per field, files with filename."""
    fields: dict[str, Any] = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', headers)
        if name is None:
            continue
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        ctype = re.search(r"(?im)^content-type:\s*([^\r\n;]+)", headers)
        if filename is not None:
            fields[name[1]] = UploadedFile(filename[1], ctype[1] if ctype else None, data)
        else:
            fields[name[1]] = data.decode("utf-8", "replace")
    return fields


def decode_params(method: MethodSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed parameters per the schema; unknown ones are kept as sent (Telegram ignores them)."""
    params: dict[str, Any] = {}
    for name, value in raw.items():
        spec = method.params.get(name)
        params[name] = value if spec is None else _decode(spec, value)
    for spec in method.params.values():
        if spec.required and spec.name not in params:
            generic = f'Bad Request: parameter "{spec.name}" is required'
            raise ApiError(400, _MISSING.get(spec.name, generic))
    return params


def _decode(spec: ParamSpec, value: Any) -> Any:
    types = spec.types
    if isinstance(value, UploadedFile):
        if "InputFile" in types:
            return value
        raise bad_request(f"wrong parameter {spec.name} in request")
    if "String" in types or "InputFile" in types:
        if isinstance(value, str):
            if "Integer" in types and re.fullmatch(r"-?[0-9]+", value):
                return int(value)  # chat_id: "123" from a form means the number
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value if "Integer" in types else str(value)
        raise bad_request(f"wrong parameter {spec.name} in request")
    if not isinstance(value, str):  # already typed, from a JSON body
        return value
    if types == ("Integer",):
        if re.fullmatch(r"-?[0-9]+", value):
            return int(value)
        raise bad_request(f"wrong parameter {spec.name} in request")
    if types == ("Boolean",):
        flags = {"true": True, "1": True, "false": False, "0": False}
        if value.lower() in flags:
            return flags[value.lower()]
        raise bad_request(f"wrong parameter {spec.name} in request")
    if types == ("Float",):
        try:
            return float(value)
        except ValueError:
            raise bad_request(f"wrong parameter {spec.name} in request") from None
    try:
        return json.loads(value)
    except ValueError:
        if spec.name == "reply_markup":
            raise ApiError(400, MARKUP_UNPARSABLE) from None
        raise bad_request(f"can't parse {spec.name} JSON object") from None


def validate_reply_markup(markup: Any, *, inline_only: bool) -> dict[str, Any] | None:
    """Apply Telegram's inline-keyboard limits; return the markup normalised (an empty inline
    keyboard is the same as none, which is also how Telegram compares them on edits)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, MARKUP_UNPARSABLE)
    if "inline_keyboard" not in markup:
        if inline_only:
            raise bad_request("inline keyboard expected")
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, MARKUP_UNPARSABLE)
    for row in rows:
        if len(row) > 8:
            raise bad_request("reply markup is too long")
        for button in row:
            _validate_button(button)
    if sum(len(row) for row in rows) > 100:
        raise bad_request("reply markup is too long")
    rows = [row for row in rows if row]
    return {**markup, "inline_keyboard": rows} if rows else None


def _validate_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(f'{_BUTTON_UNPARSABLE}: Field "text" must be of type String')
    # Telegram treats an empty string as an absent field, so callback_data="" is a text button.
    actions = [a for a in BUTTON_ACTIONS if button.get(a) not in (None, "", False)]
    if not actions:
        raise bad_request(
            f"{_BUTTON_UNPARSABLE}: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            f"{_BUTTON_UNPARSABLE}: exactly one of the optional fields must be used, "
            f"got {', '.join(actions)}"
        )
    data = button.get("callback_data")
    if data is not None and (
        not isinstance(data, str) or len(data.encode("utf-8", "surrogatepass")) > 64
    ):
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not button_url_ok(url):
        raise bad_request("BUTTON_URL_INVALID")


def validate_commands(commands: Any) -> list[dict[str, str]]:
    """setMyCommands rules: up to 100 commands, ``[a-z0-9_]{1,32}``, descriptions 1-256 chars.
    (An empty list is accepted: Telegram treats it as clearing the list.)"""
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    result = []
    for command in commands:
        for field_name in ("command", "description"):
            if not isinstance(command, dict) or not isinstance(command.get(field_name), str):
                raise bad_request(f"can't parse BotCommand: Can't find field \"{field_name}\"")
        if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
            raise bad_request("BOT_COMMAND_INVALID")
        if not command["description"].strip():
            raise bad_request("command description must be non-empty")
        if len(command["description"]) > 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        result.append({"command": command["command"], "description": command["description"]})
    return result


def command_scope_key(scope: Any, language_code: Any) -> tuple[str, str]:
    """Commands are stored per (scope, language); validate both and make a hashable key."""
    scope = scope if scope is not None else {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
        raise bad_request("can't parse BotCommandScope JSON object")
    language = language_code or ""
    if not isinstance(language, str) or not re.fullmatch(r"(?:[a-z]{2})?", language):
        raise bad_request("language_code must be a two-letter ISO 639-1 code or empty")
    return json.dumps(scope, sort_keys=True), language
