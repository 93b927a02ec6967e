"""A digest as a Telegram message: header, numbered stories, and a compact keyboard.

Built to fit by construction: at most 10 stories, each with a bounded title and summary, and if
the whole still exceeds Telegram's 4096 characters (long titles in every story), summaries are
shortened and then dropped until it fits. Three buttons per story: Full story, Related, and a
link to the publisher (left out when Telegram would refuse the link: the story still shows);
30 buttons at most, well under Telegram's 100.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from digest.catalog import Catalog
from digest.compose import Digest
from digest.rank import RankedStory
from storage.articles import ArticleRow
from views.bidi import is_rtl, rtl_start
from views.button_urls import telegram_accepts_url
from views.i18n import Gettext, day_text, gettext_for
from views.keyboards import button, encode, markup
from views.labels import category_label
from views.render import MAX_TEXT, esc
from views.story import (
    StoryLimits,
    also_line,
    meta_line,
    source_name,
    story_html,
    summary_line,
    time_ago,
    title_rest,
)

STORY_STEP = "a"  # "a" for article; never reuse a menu step code (see views.flow)
FULL_STORY = "f"
RELATED = "r"
_TAGS = re.compile(r"<[^>]+>")
_ZERO = "<b>0. "
_BUDGETS = (StoryLimits(220, 180), StoryLimits(160, 90), StoryLimits(120, 0))


def visible_length(text: str) -> int:
    """What Telegram counts: UTF-16 code units of the text after HTML parsing."""
    plain = html.unescape(_TAGS.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def story_buttons(
    number: int, article_id: int, source: str, url: str, _: Gettext
) -> list[InlineKeyboardButton]:
    """The buttons every story carries wherever it is shown."""
    row = [
        button(f"{number} · 📖 " + _("Full story"), STORY_STEP, FULL_STORY, str(article_id)),
        button("🔗 " + _("Related"), STORY_STEP, RELATED, str(article_id)),
    ]
    if telegram_accepts_url(url):
        row.append(InlineKeyboardButton(f"↗ {source}", url=url))
    return row


def digest_message(
    digest: Digest, catalog: Catalog, now: datetime, ui_language: str, timezone: str
) -> tuple[str, InlineKeyboardMarkup]:
    """HTML text and keyboard for a non-empty digest."""
    _ = gettext_for(ui_language)
    local_day = day_text(now, timezone, ui_language)
    header = f"<b>🗞 {esc(category_label(digest.category, _))} · {esc(local_day)}</b>"
    header = rtl_start(header, ui_language)
    text = header
    for limits in _BUDGETS:
        blocks = [
            story_html(i + 1, story, catalog, now, ui_language, _, limits)
            for i, story in enumerate(digest.stories)
        ]
        text = "\n\n".join([header, *blocks])
        if visible_length(text) <= MAX_TEXT:
            break
    rows = [
        story_buttons(
            i + 1,
            story.article.id,
            source_name(story.article.source_id, catalog),
            story.article.url,
            _,
        )
        for i, story in enumerate(digest.stories)
    ]
    return text, markup(rows)


def empty_digest_text(category: str, ui_language: str) -> str:
    _ = gettext_for(ui_language)
    line = _("Nothing new in {category} since your last digest.").format(
        category=category_label(category, _)
    )
    return esc(line)


def as_payload(text: str, keyboard: InlineKeyboardMarkup | None) -> dict[str, Any]:
    """Bot API parameters for the outbox (the sender posts them as they are)."""
    payload: dict[str, Any] = {
        "method": "sendMessage",
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if keyboard is not None:
        payload["reply_markup"] = keyboard.to_dict()
    return payload


class DigestRenderer:
    """Renders the many digests of one tick: each story block, button row and header once per
    language, however many digests show it. Byte for byte what :func:`digest_message` and
    :func:`as_payload` give (a test checks), at a fraction of the cost: a 100,000-reader
    tick renders thousands of distinct digests from a few thousand distinct stories.

    :meth:`payload_json` gives the payload as the JSON text the outbox stores, joined from
    JSON fragments encoded once each (header, story block, button row): a message then costs
    string joins, not building and encoding a dict (its ``json.loads`` is :meth:`payload`)."""

    def __init__(self, catalog: Catalog, now: datetime) -> None:
        self._catalog = catalog
        self._now = now
        self._days: dict[tuple[str, str], str] = {}
        # (category, language, local day) -> header HTML, its visible length, its JSON text
        self._headers: dict[tuple[str, str, str], tuple[str, int, str]] = {}
        # (article id, also covered by, language) -> what a message needs of the story, see
        # ``_record``: its block per budget (after its number: HTML, visible length, JSON
        # text; the shorter budgets filled when a message needs them) and its keyboard
        # row's JSON around the row's number (no texts kept)
        self._records: dict[tuple[int, tuple[str, ...], str], list[Any]] = {}
        self._lines: dict[tuple[object, ...], tuple[str, int, str]] = {}
        self._tails: dict[tuple[int, str], tuple[list[dict[str, Any]], str]] = {}
        self._labels: dict[str, tuple[str, str]] = {}
        self._data: dict[int, str] = {}  # callback data of Full story, by article id
        self._related: dict[int, str] = {}  # and of Related
        self._urls: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._rows: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
        self._row_parts: dict[tuple[int, str], tuple[str, str]] = {}

    def local_day(self, ui_language: str, timezone: str) -> str:
        """The header's date for a reader in ``timezone``: all the timezone changes in a
        digest, so readers of one language whose zones share the day share the message."""
        key = (ui_language, timezone)
        found = self._days.get(key)
        if found is None:
            found = self._days[key] = day_text(self._now, timezone, ui_language)
        return found

    def payload(self, digest: Digest, ui_language: str, timezone: str) -> dict[str, Any]:
        """Bot API parameters for a non-empty digest."""
        header, size, _ = self._header(digest.category, ui_language, timezone)
        return self.stories_payload(header, size, digest.stories, ui_language)

    def payload_json(
        self,
        digest: Digest,
        ui_language: str,
        timezone: str,
        texts: Mapping[int, ArticleRow] | None = None,
    ) -> str:
        """``json.dumps(self.payload(...), ensure_ascii=False)``, joined from fragments.

        ``texts``: the stories' rows with their texts by article id, when the digest's own
        rows are text-less (the tick ranks without texts); read only at a story's first
        render in ``ui_language``."""
        _, size, header = self._header(digest.category, ui_language, timezone)
        stories = digest.stories
        records = [self._record(s, ui_language, texts) for s in stories]
        blocks = self._fit(size, records, stories, ui_language, texts)
        parts = [_JSON_HEAD, header]
        for number, (lines, _) in enumerate(blocks):
            parts += (_numbered(number), lines[0][2])
            for line in lines[1:]:
                parts += ("\\n", line[2])
        parts.append(_JSON_MIDDLE)
        parts.append(", ".join([f"{r[3]}{i}{r[4]}" for i, r in enumerate(records, 1)]))
        parts.append("]}}")
        return "".join(parts)

    def stories_payload(
        self, header: str, size: int, stories: Sequence[RankedStory], ui_language: str
    ) -> dict[str, Any]:
        """A digest's message under any ``header`` (HTML, ``size`` its visible length): what
        keyword alerts send, with the same story blocks and buttons, rendered once."""
        blocks = self._fitted(size, stories, ui_language)
        text = "\n\n".join(
            [header, *(f"<b>{i}. {_html(lines)}" for i, (lines, _) in enumerate(blocks, 1))]
        )
        payload = as_payload(text, None)
        payload["reply_markup"] = {
            "inline_keyboard": [self._row(i + 1, s, ui_language) for i, s in enumerate(stories)]
        }
        return payload

    def _fitted(self, size: int, stories: Sequence[RankedStory], ui_language: str) -> list[_Block]:
        """The stories' blocks (after their numbers) under the first budget that fits after a
        header of visible length ``size``."""
        records = [self._record(s, ui_language, None) for s in stories]
        return self._fit(size, records, stories, ui_language, None)

    def _fit(
        self,
        size: int,
        records: list[list[Any]],
        stories: Sequence[RankedStory],
        ui_language: str,
        texts: Mapping[int, ArticleRow] | None,
    ) -> list[Any]:
        """The records' blocks under the first budget whose message fits (the last budget's
        if none does): the header's ``size``, the blocks' visible lengths, and per story its
        ``<b>{number}. `` and the two newlines before it. A shorter budget's block is
        rendered the first time a message needs it (from ``texts``, as in ``_record``)."""
        blocks = [r[0] for r in records]
        total = size + _numbers_length(len(records))
        if total + sum([b[1] for b in blocks]) <= MAX_TEXT:
            return blocks
        for budget in range(1, len(_BUDGETS)):
            blocks = [
                r[budget] or self._shorter(r, s, budget, ui_language, texts)
                for r, s in zip(records, stories, strict=True)
            ]
            if total + sum([b[1] for b in blocks]) <= MAX_TEXT:
                break
        return blocks

    def _record(
        self, story: RankedStory, ui_language: str, texts: Mapping[int, ArticleRow] | None
    ) -> list[Any]:
        """What a message needs of a story in ``ui_language``, once per story, what else
        covered it and language: ``[block at budget 0, 1, 2 (None until needed), row JSON
        before its number, after it]`` (no texts kept: they are the tick's to drop)."""
        article, also = story.article, story.also_covered_by
        key = (article.id, also, ui_language)
        found = self._records.get(key)
        if found is None:
            if texts is not None:
                article = texts[article.id]
            head, tail = self._row_parts_of(article, ui_language)
            block = self._block(article, also, ui_language, 0)
            found = self._records[key] = [block, None, None, head, tail]
        return found

    def _shorter(
        self,
        record: list[Any],
        story: RankedStory,
        budget: int,
        ui_language: str,
        texts: Mapping[int, ArticleRow] | None,
    ) -> _Block:
        """A record's block at a shorter budget, rendered when a message first needs it."""
        article = story.article if texts is None else texts[story.article.id]
        found = record[budget] = self._block(article, story.also_covered_by, ui_language, budget)
        return found

    def _header(self, category: str, ui_language: str, timezone: str) -> tuple[str, int, str]:
        local_day = self.local_day(ui_language, timezone)
        key = (category, ui_language, local_day)
        found = self._headers.get(key)
        if found is None:
            _ = gettext_for(ui_language)
            html_text = f"<b>🗞 {esc(category_label(category, _))} · {esc(local_day)}</b>"
            html_text = rtl_start(html_text, ui_language)
            found = (html_text, visible_length(html_text), _json_inner(html_text))
            self._headers[key] = found
        return found

    def _block(
        self, article: ArticleRow, also: tuple[str, ...], ui_language: str, budget: int
    ) -> _Block:
        """``story_html`` for a story, after its number (the number only opens the first
        line: ``<b>{number}. `` comes before it), with its visible length without the number
        (its record keeps it per story, language and budget); each of its lines is rendered
        once per what it depends on (a story shown in six languages has its title clipped
        and escaped once)."""
        limits, memo, _ = _BUDGETS[budget], self._lines, gettext_for(ui_language)
        rtl = ui_language if is_rtl(ui_language) else ""  # all ``isolate`` depends on
        at, source = article.published_at, article.source_id
        k: tuple[object, ...] = ("t", article.id, limits.title, rtl)
        lines = [memo.get(k) or memo.setdefault(k, _line(
            title_rest(article.title, limits.title, ui_language)))]  # fmt: skip
        k = ("m", source, at, ui_language)
        line = memo.get(k)
        if line is None:
            # the line says the source and how long ago ("3 hours ago"): stories of many
            # publication times share its text, so it is rendered once per that text
            when = time_ago(at, self._now, ui_language, _)
            line = memo[k] = memo.get(("w", source, when, ui_language)) or memo.setdefault(
                ("w", source, when, ui_language),
                _line(meta_line(source, at, self._catalog, self._now, ui_language, _)),
            )
        lines.append(line)
        if article.summary and limits.summary:
            k = ("s", article.id, limits.summary, rtl)
            lines.append(memo.get(k) or memo.setdefault(k, _line(
                summary_line(article.summary, limits.summary, ui_language))))  # fmt: skip
        if also:
            k = ("a", also, ui_language)
            lines.append(memo.get(k) or memo.setdefault(k, _line(
                also_line(also, self._catalog, ui_language, _))))  # fmt: skip
        # its lines, kept once in ``_lines``, joined per message: joined copies of both
        # texts were the renderer's largest cache after the buttons'
        return tuple(lines), sum(line[1] for line in lines) + len(lines) + 1  # "\n", <b>, ". "

    def _row(self, number: int, story: RankedStory, ui_language: str) -> list[dict[str, Any]]:
        """What ``story_buttons`` gives, as the dicts ``to_dict`` would make, built without
        Telegram objects (the keyboard was most of a digest's cost): the Related and link
        buttons once per story and language, the whole row once per position. Payloads share
        row objects: they are encoded as they are, never changed."""
        article = story.article
        done = self._rows.get((article.id, ui_language, number))
        if done is not None:
            return done
        first = {  # keys in ``to_dict``'s order: the JSON text is the same too
            "callback_data": self._story_data(article.id),
            "text": f"{number} · 📖 " + self._full_label(ui_language)[0],
        }
        row = self._rows[(article.id, ui_language, number)] = [
            first,
            *self._tail(article, ui_language)[0],
        ]
        return row

    def _row_parts_of(self, article: ArticleRow, ui_language: str) -> tuple[str, str]:
        """``_row``'s JSON text around the row's number, from fragments encoded once per
        story and language (the Full story button's data and label, the row's other
        buttons)."""
        key = (article.id, ui_language)
        found = self._row_parts.get(key)
        if found is None:
            label = self._full_label(ui_language)[1]
            data = _json_inner(self._story_data(article.id))
            # the tail's dicts are for ``_row`` only: not kept for a JSON row (a tick's
            # largest cache, 14 MiB at 10,000 readers, its texts 4 bytes a character)
            done = self._tails.get(key)
            tail = done[1] if done is not None else self._tail_json(article, ui_language)
            found = self._row_parts[key] = (
                f'[{{"callback_data": "{data}", "text": "',
                f' · 📖 {label}"}}, {tail}]',
            )
        return found

    def _related_data(self, article_id: int) -> str:
        found = self._related.get(article_id)
        if found is None:
            found = self._related[article_id] = encode(STORY_STEP, RELATED, str(article_id))
        return found

    def _story_data(self, article_id: int) -> str:
        found = self._data.get(article_id)
        if found is None:
            found = self._data[article_id] = encode(STORY_STEP, FULL_STORY, str(article_id))
        return found

    def _full_label(self, ui_language: str) -> tuple[str, str]:
        """The Full story label, and as JSON string content."""
        found = self._labels.get(ui_language)
        if found is None:
            _ = gettext_for(ui_language)
            label = _("Full story")
            found = self._labels[ui_language] = (label, _json_inner(label))
        return found

    def _tail(self, article: ArticleRow, ui_language: str) -> tuple[list[dict[str, Any]], str]:
        """A story's Related and link buttons as ``to_dict`` gives them, and their JSON text
        (without brackets), for ``_row``."""
        key = (article.id, ui_language)
        found = self._tails.get(key)
        if found is None:
            _ = gettext_for(ui_language)
            tail = [{"callback_data": self._related_data(article.id), "text": "🔗 " + _("Related")}]
            if self._accepts(article.url):
                tail.append({"text": "↗ " + self._name(article.source_id), "url": article.url})
            found = self._tails[key] = (tail, self._tail_json(article, ui_language))
        return found

    def _tail_json(self, article: ArticleRow, ui_language: str) -> str:
        """The Related and link buttons' JSON text (without brackets): what ``json.dumps``
        gives for ``_tail``'s list, written out (keys in order, ``", "`` and ``": "``
        separators, each string through the encoder's own ``encode_basestring``)."""
        _ = gettext_for(ui_language)
        data, label = self._related_data(article.id), "🔗 " + _("Related")
        text = f'{{"callback_data": {_string(data)}, "text": {_string(label)}}}'
        if self._accepts(article.url):
            name = "↗ " + self._name(article.source_id)
            text += f', {{"text": {_string(name)}, "url": {_string(article.url)}}}'
        return text

    def _name(self, source_id: str) -> str:
        """``source_name``, once per source."""
        found = self._names.get(source_id)
        if found is None:
            found = self._names[source_id] = source_name(source_id, self._catalog)
        return found

    def _accepts(self, url: str) -> bool:
        """``telegram_accepts_url``, once per URL (it parses the URL and its host)."""
        found = self._urls.get(url)
        if found is None:
            found = self._urls[url] = telegram_accepts_url(url)
        return found


# What ``as_payload`` gives, as JSON text around the message text and the keyboard's rows.
_JSON_HEAD = '{"method": "sendMessage", "text": "'
_JSON_BREAK = "\\n\\n<b>"
_JSON_MIDDLE = (
    '", "parse_mode": "HTML", "link_preview_options": {"is_disabled": true}, '
    '"reply_markup": {"inline_keyboard": ['
)


def _json(value: object) -> str:
    """JSON text as the outbox stores it: ``json.dumps``, non-ASCII kept as UTF-8 (smaller
    than ``\\u`` escapes; it decodes to the same values)."""
    return json.dumps(value, ensure_ascii=False)


# A story block after its number: its lines (HTML, visible length, JSON text), and its visible
# length without the number.
_Block = tuple[tuple[tuple[str, int, str], ...], int]


def _html(lines: tuple[tuple[str, int, str], ...]) -> str:
    """A block's HTML (the lines' JSON texts, joined by an escaped newline, are its JSON)."""
    return "\n".join([line[0] for line in lines])


def _line(html_text: str) -> tuple[str, int, str]:
    """A story's line as the renderer keeps it: HTML, visible length, JSON text."""
    return html_text, visible_length(html_text), _json_inner(html_text)


def _json_inner(text: str) -> str:
    """``text`` as JSON string content, without the quotes: encoding a concatenation is
    concatenating encodings."""
    return _string(text)[1:-1]


# A string as ``json.dumps(text, ensure_ascii=False)`` gives it (quoted): the function that
# call ends in, without building an encoder per call.
_string: Callable[[str], str] = json.encoder.encode_basestring

# ``\n\n<b>{number}. `` before each story as JSON string content, by position (0: story 1)
_NUMBERED = tuple(f"\\n\\n<b>{i}. " for i in range(1, 21))


def _numbered(position: int) -> str:
    return _NUMBERED[position] if position < len(_NUMBERED) else f"\\n\\n<b>{position + 1}. "


# What numbering adds to the visible length of a message of n stories, beyond each block's
# own count: per story the two newlines before it and its number's digits; by n
_NUMBERS = tuple(sum(2 + len(str(i)) for i in range(1, n + 1)) for n in range(21))


def _numbers_length(count: int) -> int:
    if count < len(_NUMBERS):
        return _NUMBERS[count]
    return sum(2 + len(str(i)) for i in range(1, count + 1))
