"""What the broadcast screens look like, and how a Telegram message becomes a broadcast payload.

Pure functions of their arguments (no I/O): the handler decides which screen to show, these
decide its HTML and buttons. Every button goes through the callback codec under the step
``B<broadcast id>``, so a button always names the broadcast it acts on and fits 64 bytes.
The progress line is a function of the outbox counts and the clock alone: the same state gives
the same text, which is what lets the handler skip an edit that would change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.numbers import format_decimal
from telegram import InlineKeyboardMarkup, Message, MessageEntity

from digest.catalog import Catalog
from storage.broadcasts import Audience, BroadcastRow
from views.bidi import isolate, rtl_start
from views.i18n import (
    UI_LANGUAGES,
    Gettext,
    babel_locale,
    country_name,
    language_name,
    ngettext_for,
)
from views.keyboards import Action, button, markup, pattern, rows_of
from views.render import bold, esc

STEP = "B"
CALLBACK_PATTERN = pattern(STEP, numbered=True)
LIST = Action.GOTO  # open the list of countries / languages / UI languages
PICK = Action.PICK  # an audience was picked: show the count and Confirm
CONFIRM = Action.CONFIRM
BACK = Action.BACK
DISCARD = "n"  # cancel a draft
STOP = "x"  # cancel a queued or sending broadcast (what is not sent yet)
_KIND_CODES = {"country": "c", "language": "l", "ui_language": "u"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


@dataclass(frozen=True, slots=True)
class Option:
    """One audience the admin can pick, with how many readers it reaches now."""

    audience: Audience
    label: str
    count: int


def step_of(broadcast_id: int) -> str:
    return f"{STEP}{broadcast_id}"


def broadcast_id_of(step: str) -> int | None:
    digits = step.removeprefix(STEP)
    return int(digits) if step.startswith(STEP) and digits.isdigit() else None


def encode_audience(audience: Audience) -> str:
    return "a" if audience.kind == "all" else f"{_KIND_CODES[audience.kind]}:{audience.value}"


def decode_audience(arg: str) -> Audience | None:
    """The audience a button names, or None for anything malformed (never raises)."""
    if arg == "a":
        return Audience("all")
    code, _, value = arg.partition(":")
    kind = _CODE_KINDS.get(code)
    return Audience(kind, value) if kind and value else None


def values_for(kind: str, catalog: Catalog) -> list[str]:
    """Every value an audience of ``kind`` may name: only these are ever accepted from a button."""
    if kind == "country":
        return [c.code for c in catalog.countries]
    if kind == "language":
        return list(dict.fromkeys(lang for c in catalog.countries for lang in c.languages))
    if kind == "ui_language":
        return list(UI_LANGUAGES)
    return []


def audience_label(audience: Audience, catalog: Catalog, ui: str, _: Gettext) -> str:
    """ "everyone", "country: Canada", "news language: French", "app language: German"."""
    value = audience.value or ""
    if audience.kind == "country":
        country = catalog.country(value)
        name = country_name(value, ui, country.name if country else value)
        return _("country: {name}").format(name=name)
    if audience.kind == "language":
        return _("news language: {name}").format(name=language_name(value, ui))
    if audience.kind == "ui_language":
        return _("app language: {name}").format(name=language_name(value, ui))
    return _("everyone")


def option_label(audience: Audience, catalog: Catalog, ui: str, _: Gettext) -> str:
    """The bare name of a country or language, for a list button."""
    value = audience.value or ""
    if audience.kind == "country":
        country = catalog.country(value)
        return country_name(value, ui, country.name if country else value)
    return language_name(value, ui)


def number(n: int, ui: str) -> str:
    """1,240 in English, 1.240 in German."""
    return format_decimal(n, locale=babel_locale(ui))


# --------------------------------------------------------------------------- draft screens
def menu_view(bid: int, everyone: int, ui: str, _: Gettext) -> tuple[str, InlineKeyboardMarkup]:
    """The first question after the preview: who should get it."""
    step = step_of(bid)
    everyone_label = _("Everyone ({n})").format(n=number(everyone, ui))
    keyboard = markup(
        [
            [button("📣 " + everyone_label, step, PICK, "a")],
            [button(_("By country"), step, LIST, "country")],
            [button(_("By news language"), step, LIST, "language")],
            [button(_("By app language"), step, LIST, "ui_language")],
            [button("✖ " + _("Cancel"), step, DISCARD)],
        ]
    )
    text = "\n\n".join(
        [bold(_("Broadcast")), esc(_("The message above is what readers will get. Who to?"))]
    )
    return text, keyboard


def list_view(
    bid: int, options: list[Option], ui: str, _: Gettext
) -> tuple[str, InlineKeyboardMarkup]:
    """Countries or languages with their reader counts."""
    step = step_of(bid)
    buttons = [
        button(f"{o.label} · {number(o.count, ui)}", step, PICK, encode_audience(o.audience))
        for o in options
    ]
    rows = [*rows_of(buttons, 2), [button("◀ " + _("Back"), step, BACK)]]
    return esc(_("Which readers?")), markup(rows)


def confirm_view(
    bid: int, audience: Audience, count: int, label: str, ui: str, _: Gettext
) -> tuple[str, InlineKeyboardMarkup]:
    """The count and the last chance to change one's mind."""
    step = step_of(bid)
    back = button("◀ " + _("Back"), step, BACK)
    discard = button("✖ " + _("Cancel"), step, DISCARD)
    if count == 0:
        text = _("No reader matches ({audience}).").format(audience=label)
        return esc(text), markup([[back, discard]])
    ngettext = ngettext_for(ui)
    text = ngettext(
        "Send to {n} reader ({audience})?", "Send to {n} readers ({audience})?", count
    ).format(n=number(count, ui), audience=label)
    confirm = button("✅ " + _("Confirm"), step, CONFIRM, encode_audience(audience))
    return bold(text), markup([[confirm], [back, discard]])


# --------------------------------------------------------------------- progress and report
def progress_view(
    row: BroadcastRow, counts: dict[str, int], label: str, now: datetime, rate: float,
    _: Gettext,
) -> tuple[str, InlineKeyboardMarkup | None]:  # fmt: skip
    """The live line while queued or sending (with Cancel), or while a cancel settles."""
    ui = row.admin_language
    title = _("Broadcast #{id} · {audience}").format(id=row.id, audience=label)
    stop = markup([[button("✋ " + _("Cancel sending"), step_of(row.id), STOP)]])
    if row.status == "queued":
        waiting = _("Queued: it starts when the broadcast before it has finished.")
        return rtl_start(f"{bold(title)}\n{esc(waiting)}", ui), stop
    sent = _("Sent {sent} / {total}").format(
        sent=number(counts["sent"], ui), total=number(row.total, ui)
    )
    parts = [sent, _("blocked {n}").format(n=number(counts["blocked"], ui))]
    parts.append(_("failed {n}").format(n=number(counts["failed"], ui)))
    if row.status == "sending":
        parts.append(_time_left(row, counts, now, rate, _))
        return rtl_start(f"{bold(title)}\n{esc(' · '.join(parts))}", ui), stop
    # Cancelled, with a few messages still in flight: the report follows when they settle.
    settling = _("Cancelling…")
    return rtl_start(f"{bold(title)}\n{esc(' · '.join(parts))}\n{esc(settling)}", ui), None


def report_text(
    row: BroadcastRow, counts: dict[str, int], reasons: list[tuple[str, int]], label: str,
    _: Gettext,
) -> str:  # fmt: skip
    """The final report: what was sent, blocked, failed and why, and how long it took."""
    ui = row.admin_language
    if row.status == "cancelled":
        head = "✋ " + _("Broadcast #{id} cancelled · {audience}").format(id=row.id, audience=label)
    else:
        head = "✅ " + _("Broadcast #{id} finished · {audience}").format(id=row.id, audience=label)
    figures = [
        _("Sent {sent} of {total}").format(
            sent=number(counts["sent"], ui), total=number(row.total, ui)
        ),
        _("blocked {n}").format(n=number(counts["blocked"], ui)),
        _("failed {n}").format(n=number(counts["failed"], ui)),
    ]
    if counts["cancelled"]:
        figures.append(_("not sent {n}").format(n=number(counts["cancelled"], ui)))
    lines = [bold(head), esc(" · ".join(figures))]
    if row.started_at is not None and row.finished_at is not None:
        took = duration(row.finished_at - row.started_at, _)
        lines.append(esc(_("Took {duration}").format(duration=took)))
    if reasons:
        lines.append(esc(_("Why sending failed:")))
        lines += [f"• {esc(isolate(reason[:200], ui))} — {number(n, ui)}" for reason, n in reasons]
    return rtl_start("\n".join(lines), ui)


def duration(span: timedelta, _: Gettext) -> str:
    """2 h 5 min, 1 min 7 s, 12 s."""
    seconds = max(0, round(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    if minutes:
        return _("{m} min {s} s").format(m=minutes, s=seconds)
    return _("{s} s").format(s=seconds)


def _time_left(
    row: BroadcastRow, counts: dict[str, int], now: datetime, rate: float, _: Gettext
) -> str:
    """Remaining rows at the pace seen so far, and never before the rows' own schedule ends."""
    remaining = counts["pending"] + counts["sending"]
    started = row.started_at or now
    elapsed = (now - started).total_seconds()
    done = counts["sent"] + counts["blocked"] + counts["failed"]
    pace = min(rate, done / elapsed) if elapsed >= 10 and done else rate
    scheduled_end = (started + timedelta(seconds=row.total / rate) - now).total_seconds()
    seconds = max(remaining / max(pace, 0.1), scheduled_end)
    if seconds < 60:
        return _("less than a minute left")
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return _("about {m} min left").format(m=minutes)
    return _("about {h} h {m} min left").format(h=minutes // 60, m=minutes % 60)


# ------------------------------------------------------------------------------- payloads
def payload_of(command: Message) -> dict[str, Any] | None:
    """The Bot API call that sends what the admin meant: the replied-to message, else the text
    after the command with its formatting; None when there is nothing to send.

    Text and photos are re-sent (sendMessage / sendPhoto by file_id, formatting as HTML) rather
    than copied: a copy needs the admin's original to still exist, and a long broadcast should
    not fail half-way because the admin tidied up their chat. Anything else is copied.
    """
    source = command.reply_to_message
    if source is None:
        html = _text_after_command(command)
        return {"method": "sendMessage", "text": html, "parse_mode": "HTML"} if html else None
    if source.text:
        payload: dict[str, Any] = {"method": "sendMessage", "text": source.text_html}
        payload["parse_mode"] = "HTML"
        if source.link_preview_options is not None:
            payload["link_preview_options"] = source.link_preview_options.to_dict()
        return payload
    if source.photo:
        payload = {"method": "sendPhoto", "photo": source.photo[-1].file_id}
        if source.caption:
            payload |= {"caption": source.caption_html, "parse_mode": "HTML"}
        if source.show_caption_above_media:
            payload["show_caption_above_media"] = True
        return payload
    return {"method": "copyMessage", "from_chat_id": source.chat_id,
            "message_id": source.message_id}  # fmt: skip


def _text_after_command(command: Message) -> str | None:
    """``/broadcast <text>`` → the text as HTML, formatting kept (entities shifted past the
    command). The command and the blanks after it are single UTF-16 units, so their length in
    Python characters is their length in entity offsets."""
    text = command.text or ""
    head = next((e for e in command.entities if e.type == MessageEntity.BOT_COMMAND), None)
    start = head.offset + head.length if head is not None and head.offset == 0 else 0
    rest = text[start:]
    body = rest.lstrip()
    start += len(rest) - len(body)
    body = body.rstrip()
    if not body:
        return None
    stop = start + len(body.encode("utf-16-le")) // 2
    entities = []
    for entity in command.entities:
        begin, end = max(entity.offset, start), min(entity.offset + entity.length, stop)
        if entity.type == MessageEntity.BOT_COMMAND or end <= begin:
            continue
        data = entity.to_dict() | {"offset": begin - start, "length": end - begin}
        entities.append(MessageEntity.de_json(data, None))
    entities.sort(key=lambda e: (e.offset, -e.length))  # outer before inner, as PTB nests them
    shifted = Message(command.message_id, command.date, command.chat, text=body, entities=entities)
    return shifted.text_html
