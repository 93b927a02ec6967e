"""/stats for admins, and ``newsbot stats`` for operators: one summary, three renderings.

The figures come from :class:`storage.stats.StatsStore` (aggregate SQL). :func:`summary` lays them
out once as sections of lines in the admin's UI language; Telegram gets them as escaped HTML
(:func:`stats_text`) followed by a chart photo, the command line as plain text or one JSON object
(:func:`print_stats`). For anyone not in ``ADMIN_IDS`` the command does not exist: they get the
unknown-command reply, and the attempt is logged by user id only (message text can hold anything).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any, TextIO

from babel.numbers import format_decimal
from telegram import Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import ContextTypes

from digest.clock import Clock, utcnow
from digest.redact import shown_url
from handlers import basics
from handlers.messaging import reader_and_language
from storage.stats import FeedProblem, Stats, StatsStore
from storage.users import UserStore
from views.bidi import rtl_start
from views.chart import legend_lines, stats_chart, worded
from views.i18n import (
    babel_locale,
    country_name,
    datetime_text,
    gettext_for,
    language_name,
    ngettext_for,
    number_text,
)
from views.labels import category_label
from views.render import MAX_TEXT, esc

log = logging.getLogger(__name__)

Section = tuple[str, list[str]]
BREAKDOWN_LIMIT = 10  # entries per breakdown line; the rest are summed up as "others"
URL_LIMIT, ERROR_LIMIT = 100, 120


class StatsHandler:
    """/stats, built once with the store it reads and the admins allowed to see it."""

    def __init__(
        self,
        stats: StatsStore,
        users: UserStore,
        admin_ids: frozenset[int],
        *,
        refresh: timedelta,
        days: int = 30,
        clock: Clock = utcnow,
    ) -> None:
        self.store = stats
        self.users = users
        self.admin_ids = admin_ids
        self.refresh = refresh
        self.days = days
        self.clock = clock

    async def show_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Admins get the summary, then the chart; anyone else the unknown-command reply."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None:
            return
        if user.id not in self.admin_ids:
            log.warning("/stats refused: user %d is not an admin", user.id)
            await basics.answer_unknown_command(update, context)
            return
        reader, language = await reader_and_language(self.users, user)
        zone = reader.timezone if reader and reader.timezone else "UTC"
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        # A handful of aggregate queries, then CPU-bound drawing: both off the event loop.
        snapshot = await asyncio.to_thread(
            self.store.snapshot, self.clock(), self.days, refresh=self.refresh
        )
        await message.reply_text(
            stats_text(snapshot, language, zone),
            parse_mode=ParseMode.HTML,
            disable_web_page_preview=True,
        )
        await context.bot.send_chat_action(message.chat_id, ChatAction.UPLOAD_PHOTO)
        png = await asyncio.to_thread(stats_chart, snapshot, language)
        await message.reply_photo(png, caption=chart_caption(snapshot, language))


def chart_caption(stats: Stats, ui_language: str) -> str:
    """What the chart shows, in words; a numbers-only chart also gets its colour legend."""
    ngettext = ngettext_for(ui_language)
    days = len(stats.daily)
    caption = ngettext(
        "New readers and digests sent per day, last {days} day (UTC)",
        "New readers and digests sent per day, last {days} days (UTC)",
        days,
    ).format(days=number_text(days, ui_language))
    if not worded(ui_language):
        caption = "\n".join([caption, *legend_lines(stats, ui_language)])
    return caption


def summary(stats: Stats, ui_language: str, timezone: str = "UTC") -> tuple[str, list[Section]]:
    """The title and the sections of the summary, every label and number localized."""
    _ = gettext_for(ui_language)
    n = _number_formatter(ui_language)
    r, b, f = stats.readers, stats.broadcasts, stats.feeds
    readers = [
        _("Total: {n}").format(n=n(r.total)),
        _("Active: {n}").format(n=n(r.active)),
        _("Paused: {n}").format(n=n(r.paused)),
        _("Blocked: {n}").format(n=n(r.blocked)),
        _("Setting up: {n}").format(n=n(r.setting_up)),
        _("New this week: {n}").format(n=n(r.new_this_week)),
    ]
    countries = [(country_name(c, ui_language, c), k) for c, k in stats.by_country]
    languages = [(language_name(lang, ui_language), k) for lang, k in stats.by_language]
    categories = [(category_label(c, _), k) for c, k in stats.by_category]
    feeds = [
        _("Feeds: {n}").format(n=n(f.total)),
        _("OK: {n}").format(n=n(f.ok)),
        _("Failing: {n}").format(n=n(f.failing)),
        _("Backing off: {n}").format(n=n(f.backing_off)),
        _("Never fetched: {n}").format(n=n(f.never_fetched)),
    ]
    if f.worst:
        feeds.append(_("Worst feeds:"))
        feeds += [_problem(p, ui_language) for p in f.worst]
    sections: list[Section] = [
        (_("Readers"), readers),
        (_("By country"), [_breakdown(countries, ui_language)]),
        (_("By language"), [_breakdown(languages, ui_language)]),
        (_("By category"), [_breakdown(categories, ui_language)]),
        (
            _("Digests sent"),
            [
                _("Today: {n}").format(n=n(stats.digests_today)),
                _("Yesterday: {n}").format(n=n(stats.digests_yesterday)),
            ],
        ),
        (
            _("Broadcasts"),
            [
                _("Broadcasts: {n}").format(n=n(b.broadcasts)),
                _("Messages sent: {n}").format(n=n(b.sent)),
                _("Blocked: {n}").format(n=n(b.blocked)),
                _("Failed: {n}").format(n=n(b.failed)),
                _("Pending: {n}").format(n=n(b.pending)),
            ],
        ),
        (_("Feed health"), feeds),
    ]
    taken = datetime_text(stats.taken_at, timezone, ui_language)
    title = _("Newsbot statistics, {time} ({zone})").format(time=taken, zone=timezone)
    return title, sections


def stats_text(stats: Stats, ui_language: str, timezone: str = "UTC") -> str:
    """The summary as Telegram HTML: everything escaped, within one message's 4096 characters."""
    title, sections = summary(stats, ui_language, timezone)
    parts = [f"📊 <b>{esc(title)}</b>"]
    parts += [
        f"<b>{esc(heading)}</b>\n" + "\n".join(map(esc, lines)) for heading, lines in sections
    ]
    return rtl_start(_fit("\n\n".join(parts), MAX_TEXT), ui_language)


def stats_plain(stats: Stats, ui_language: str = "en") -> str:
    """The same summary for a terminal."""
    title, sections = summary(stats, ui_language)
    blocks = [heading + "".join(f"\n  {line}" for line in lines) for heading, lines in sections]
    return "\n\n".join([title, *blocks])


def stats_json(stats: Stats) -> dict[str, Any]:
    """Plain JSON data: breakdowns as ordered objects, times and days as ISO 8601 strings."""
    data = asdict(stats)
    for key in ("by_country", "by_language", "by_category"):
        data[key] = dict(getattr(stats, key))
    for problem in data["feeds"]["worst"]:
        problem["url"] = shown_url(problem["url"])  # a catalog URL may carry credentials
    plain: dict[str, Any] = json.loads(json.dumps(data, default=_iso))
    return plain


def print_stats(
    store: StatsStore,
    *,
    refresh: timedelta,
    as_json: bool,
    now: datetime | None = None,
    days: int = 30,
    out: TextIO | None = None,
) -> int:
    """``newsbot stats [--json]``: the summary as text, or one JSON object on one line."""
    stats = store.snapshot(now or utcnow(), days, refresh=refresh)
    out = out or sys.stdout
    if as_json:
        print(json.dumps(stats_json(stats), ensure_ascii=False), file=out)
    else:
        print(stats_plain(stats), file=out)
    return 0


def _number_formatter(ui_language: str) -> Callable[[int], str]:
    locale = babel_locale(ui_language)
    return lambda value: format_decimal(value, locale=locale)


def _breakdown(pairs: list[tuple[str, int]], ui_language: str) -> str:
    """ "India 1,200 · Canada 300 · others 12", or a dash when there is nothing to break down."""
    if not pairs:
        return "—"
    n = _number_formatter(ui_language)
    shown = [f"{name} {n(count)}" for name, count in pairs[:BREAKDOWN_LIMIT]]
    rest = sum(count for _name, count in pairs[BREAKDOWN_LIMIT:])
    if rest:
        _ = gettext_for(ui_language)
        shown.append(_("others {n}").format(n=n(rest)))
    return " · ".join(shown)


def _problem(problem: FeedProblem, ui_language: str) -> str:
    _ = gettext_for(ui_language)
    ngettext = ngettext_for(ui_language)
    failures = ngettext("{n} failure", "{n} failures", problem.failures)
    success = problem.last_success_at
    last = datetime_text(success, "UTC", ui_language) if success else _("never")
    head = _("{source}: {failures}, last success {when}").format(
        source=problem.source_id,
        failures=failures.format(n=_number_formatter(ui_language)(problem.failures)),
        when=last,
    )
    error = _clip(problem.last_error or _("no error recorded"), ERROR_LIMIT)
    return f"• {head}\n   {_clip(shown_url(problem.url), URL_LIMIT)}\n   {error}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(text: str, limit: int) -> str:
    """Cut at a line break (tags never span lines here, so the HTML stays balanced)."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[: cut if cut > 0 else limit - 2] + "\n…"


def _iso(value: object) -> str:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
