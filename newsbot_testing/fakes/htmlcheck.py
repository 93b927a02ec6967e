"""Telegram's ``parse_mode=HTML`` parser, re-implemented so the fake Bot API rejects what Telegram
rejects, with Telegram's own error wording and byte offsets.

The algorithm follows TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp), which is what the
Bot API server runs: only the tags listed in https://core.telegram.org/bots/api#html-style, the
four named entities ``&lt; &gt; &amp; &quot;`` plus numeric ones, an end tag must close the
innermost open tag (``</>`` closes whatever is open), and offsets in errors are UTF-8 byte
offsets into the markup.

One deliberate difference, on by default (``strict=True``): Telegram keeps an ``&`` that does not
start a known entity as a literal character, and decodes ``&lt`` even without the ``;``.  Either
one in the bot's output means text was interpolated without ``html.escape`` -- harmless for
"AT&T", but a headline "x &lt 3" would silently render as "x < 3" -- so the fake refuses any
``&`` that doesn't start a complete entity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SUPPORTED_TAGS = frozenset({
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji",
    "tg-time", "span", "pre", "code", "blockquote",
})  # fmt: skip
_SIMPLE_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
}  # fmt: skip
_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
# TDLib orders entities that start at the same offset and have the same length by this priority.
_TYPE_PRIORITY = {
    "blockquote": 0, "expandable_blockquote": 1, "pre": 11, "code": 20, "text_link": 49,
    "text_mention": 49, "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93,
    "spoiler": 94, "custom_emoji": 99, "date_time": 100,
}  # fmt: skip
_SPACES = b" \t\r\n\v\0"  # TDLib's is_space; the end of the input (b"\0" here) counts as one too
_NAME_TOKEN = re.compile(rb"[A-Za-z0-9.-]*")
_SURROGATE_ERROR = (
    "Text contains invalid Unicode characters after decoding HTML entities, "
    "check for unmatched surrogate code units"
)
STRICT_AMPERSAND_ERROR = (
    'Unescaped "&" at byte offset {offset} (the fake Bot API is stricter than Telegram here: '
    "escape it as &amp;)"
)


class HtmlParseError(ValueError):
    """Markup Telegram would refuse; ``detail`` is what follows "can't parse entities: "."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class ParsedText:
    """Plain text as the recipient sees it, plus Bot API ``MessageEntity`` dicts (UTF-16)."""

    text: str
    entities: tuple[dict[str, Any], ...] = ()


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of every Telegram length limit and offset."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    byte_start: int  # where the tag's content starts in the output buffer
    unix_time: int = 0


@dataclass
class _Parser:
    """One run over the UTF-8 bytes of the markup, like TDLib's loop over a C string."""

    src: bytes
    strict: bool
    out: bytearray = field(default_factory=bytearray)
    utf16: int = 0
    stack: list[_OpenTag] = field(default_factory=list)
    found: list[dict[str, Any]] = field(default_factory=list)
    code_language: dict[int, str] = field(default_factory=dict)  # id(entity) -> class language

    def at(self, i: int) -> int:
        return self.src[i] if i < len(self.src) else 0

    def is_space(self, i: int) -> bool:
        return self.at(i) in _SPACES

    def run(self) -> ParsedText:
        i = 0
        while i < len(self.src):
            c = self.src[i]
            if c == ord("&"):
                decoded = self.entity(i)
                if decoded is not None:
                    char, i = decoded
                    self.emit(char)
                    continue
                if self.strict:
                    raise HtmlParseError(STRICT_AMPERSAND_ERROR.format(offset=i))
            if c != ord("<"):
                self.out.append(c)
                if c & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                    self.utf16 += 2 if c >= 0xF0 else 1
                i += 1
            elif self.at(i + 1) == ord("/"):
                i = self.end_tag(i)
            else:
                i = self.start_tag(i)
        if self.stack:
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        try:
            text = self.out.decode("utf-8")
        except UnicodeDecodeError:
            raise HtmlParseError(_SURROGATE_ERROR) from None
        return ParsedText(text, tuple(sorted(self.found, key=_entity_order)))

    def emit(self, char: str) -> None:
        self.out += char.encode("utf-8", "surrogatepass")  # a lone surrogate fails in run()
        self.utf16 += 2 if ord(char) > 0xFFFF else 1

    def entity(self, pos: int) -> tuple[str, int] | None:
        """Decode ``&...`` at ``pos`` as TDLib does; strict mode also demands the ``;``."""
        end = pos + 1
        if self.at(end) == ord("#"):
            end += 1
            hexadecimal = self.at(end) == ord("x")
            if hexadecimal:
                end += 1
            digits = re.match(rb"[0-9a-fA-F]*" if hexadecimal else rb"[0-9]*", self.src[end:])
            assert digits is not None
            end += len(digits[0])
            code = int(digits[0], 16 if hexadecimal else 10) if digits[0] else 0
            if code == 0 or code >= 0x10FFFF or end - pos >= 10:
                return None
            char = chr(code)
        else:
            letters = re.match(rb"[A-Za-z]*", self.src[end:])
            assert letters is not None
            end += len(letters[0])
            if letters[0] not in _NAMED_ENTITIES:
                return None
            char = _NAMED_ENTITIES[letters[0]]
        if self.at(end) == ord(";"):
            return char, end + 1
        return None if self.strict else (char, end)

    def start_tag(self, begin: int) -> int:
        i = begin + 1
        while not self.is_space(i) and self.at(i) != ord(">"):
            i += 1
        if i >= len(self.src):
            raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
        name = self.src[begin + 1 : i].decode("utf-8", "replace").lower()
        if name not in SUPPORTED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
        tag = _OpenTag(name, "", self.utf16, len(self.out))
        while self.at(i) != ord(">"):
            i = self.attribute(tag, begin, i)
        if name == "span" and tag.argument != "spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.stack.append(tag)
        return i + 1

    def attribute(self, tag: _OpenTag, begin: int, i: int) -> int:
        """Read one ``name[=value]`` inside a start tag; return the index after it."""
        while i < len(self.src) and self.is_space(i):
            i += 1
        if self.at(i) == ord(">"):
            return i
        name_begin = i
        while not self.is_space(i) and self.at(i) not in b"=>/\"'":
            i += 1
        attr = self.src[name_begin:i].decode("utf-8", "replace")
        if not attr:
            raise HtmlParseError(
                f'Empty attribute name in the tag "{tag.name}" at byte offset {begin}'
            )
        while i < len(self.src) and self.is_space(i):
            i += 1
        if self.at(i) != ord("="):
            if i >= len(self.src):
                raise HtmlParseError(f'Unclosed start tag "{tag.name}" at byte offset {begin}')
            if tag.name == "blockquote" and attr == "expandable":
                tag.argument = "1"
            return i
        i += 1
        while i < len(self.src) and self.is_space(i):
            i += 1
        if i >= len(self.src):
            raise HtmlParseError(f'Unclosed start tag "{tag.name}" at byte offset {begin}')
        if self.at(i) in b"'\"":
            value, i = self.quoted(i)
        else:
            token = _NAME_TOKEN.match(self.src, i)
            assert token is not None
            value = token[0].decode().lower()
            if not self.is_space(token.end()) and self.at(token.end()) != ord(">"):
                raise HtmlParseError(f"Unexpected end of name token at byte offset {i}")
            i = token.end()
        if i >= len(self.src):
            raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
        _apply_attribute(tag, attr, value)
        return i

    def quoted(self, i: int) -> tuple[str, int]:
        quote, i = self.at(i), i + 1
        value = bytearray()
        while i < len(self.src) and self.at(i) != quote:
            if self.at(i) == ord("&"):
                decoded = self.entity(i)
                if decoded is not None:
                    value += decoded[0].encode("utf-8", "surrogatepass")
                    i = decoded[1]
                    continue
                if self.strict:
                    raise HtmlParseError(STRICT_AMPERSAND_ERROR.format(offset=i))
            value.append(self.at(i))
            i += 1
        if self.at(i) == quote and i < len(self.src):
            i += 1
        return value.decode("utf-8", "replace"), i

    def end_tag(self, begin: int) -> int:
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
        i = begin + 2
        while not self.is_space(i) and self.at(i) != ord(">"):
            i += 1
        end_name = self.src[begin + 2 : i].decode("utf-8", "replace").lower()
        while i < len(self.src) and self.is_space(i):
            i += 1
        if self.at(i) != ord(">"):
            raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
        tag = self.stack[-1]
        if end_name and end_name != tag.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        if self.utf16 > tag.utf16_start:
            self.close(tag, self.utf16 - tag.utf16_start)
        self.stack.pop()
        return i + 1

    def close(self, tag: _OpenTag, length: int) -> None:
        """Turn a closed, non-empty tag into its entity (or into nothing, like a bad link)."""
        span: dict[str, Any] = {"offset": tag.utf16_start, "length": length}
        previous = self.found[-1] if self.found else None
        same_span = previous is not None and all(previous[k] == span[k] for k in span)
        if tag.name in _SIMPLE_ENTITY_TYPES:
            self.found.append({"type": _SIMPLE_ENTITY_TYPES[tag.name], **span})
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.argument else "blockquote"
            self.found.append({"type": kind, **span})
        elif tag.name == "tg-emoji":
            if not re.fullmatch(r"[0-9]{1,19}", tag.argument) or not 0 < int(tag.argument) < 2**63:
                raise HtmlParseError("Invalid custom emoji identifier specified")
            self.found.append({"type": "custom_emoji", **span, "custom_emoji_id": tag.argument})
        elif tag.name == "tg-time":
            if tag.argument != "r" and not set(tag.argument) <= set("tTdDwW"):
                raise HtmlParseError("Invalid date format used")
            if tag.unix_time > 0:
                entity = {"type": "date_time", **span, "unix_time": tag.unix_time}
                if tag.argument:
                    entity["date_time_format"] = tag.argument
                self.found.append(entity)
        elif tag.name == "a":
            url = tag.argument or self.out[tag.byte_start :].decode("utf-8", "replace")
            self.found.extend(_link_entity(url, span))
        elif tag.name == "pre":
            language = self.code_language.get(id(previous), "") if previous else ""
            if same_span and previous and previous["type"] == "code" and language:
                previous.update(type="pre", language=language)
            else:
                self.found.append({"type": "pre", **span})
        elif tag.name == "code":
            if same_span and previous and previous["type"] == "pre" and tag.argument:
                previous.setdefault("language", tag.argument)
            else:
                entity = {"type": "code", **span}
                self.code_language[id(entity)] = tag.argument
                self.found.append(entity)


def _apply_attribute(tag: _OpenTag, attr: str, value: str) -> None:
    """Record the one attribute per tag that Telegram gives a meaning to; ignore the rest."""
    if tag.name == "a" and attr == "href":
        tag.argument = value
    elif tag.name == "code" and attr == "class" and value.startswith("language-"):
        tag.argument = value.removeprefix("language-")
    elif tag.name == "span" and attr == "class" and value.startswith("tg-"):
        tag.argument = value.removeprefix("tg-")
    elif (tag.name, attr) in {("tg-emoji", "emoji-id"), ("tg-time", "format")}:
        tag.argument = value
    elif tag.name == "tg-time" and attr == "unix":
        digits = re.match(r"-?[0-9]+", value)
        tag.unix_time = int(digits[0]) if digits else 0
    elif tag.name == "blockquote" and attr == "expandable":
        tag.argument = "1"


def _link_entity(url: str, span: dict[str, Any]) -> list[dict[str, Any]]:
    """A link Telegram can't use is dropped silently (no error), as Telegram does."""
    mention = re.fullmatch(r"tg://user\?id=([0-9]{1,15})", url, flags=re.IGNORECASE)
    if mention:
        user = {"id": int(mention[1]), "is_bot": False, "first_name": ""}
        return [{"type": "text_mention", **span, "user": user}]
    checked = check_url(url)
    return [{"type": "text_link", **span, "url": checked}] if checked else []


def check_url(url: str) -> str | None:
    """Normalise a link the way Telegram shows it (``telegram.org`` -> ``http://telegram.org/``),
    or None if Telegram would not accept it as a link.  A simplification of TDLib's check_url."""
    if not url or any(ch.isspace() for ch in url):
        return None
    scheme_match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", url)
    if scheme_match is None or "://" not in url[: len(scheme_match[0]) + 2]:
        url = "http://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("tg", "ton", "tonsite"):
        return url if parts.netloc else None
    if scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
        return None
    path = parts.path or "/"
    query = "?" + parts.query if parts.query else ""
    fragment = "#" + parts.fragment if parts.fragment else ""
    return f"{scheme}://{parts.netloc}{path}{query}{fragment}"


def _entity_order(entity: dict[str, Any]) -> tuple[int, int, int]:
    return entity["offset"], -entity["length"], _TYPE_PRIORITY.get(entity["type"], 50)


def parse_html(markup: str, *, strict: bool = True) -> ParsedText:
    """Parse Bot API HTML markup into plain text and entities, or raise HtmlParseError."""
    return _Parser(markup.encode("utf-8", "surrogatepass"), strict).run()


def strip_text(parsed: ParsedText) -> ParsedText:
    """Drop leading/trailing whitespace like Telegram does before storing a message, moving
    entities along; an entity that only covered the stripped whitespace disappears."""
    text = parsed.text
    left = len(text) - len(text.lstrip())
    stripped = text.strip()
    shift, limit = utf16_len(text[:left]), utf16_len(stripped)
    entities = []
    for entity in parsed.entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return ParsedText(stripped, tuple(entities))
