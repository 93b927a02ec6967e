"""Keyword alerts and /following as Telegram messages.

An alert lists the reader's new stories of one fetch pass with the usual story buttons (Full
story, Related, the publisher's link), under a header naming the phrases that matched. It fits
4096 characters by construction like a digest: at most ten stories, and summaries shortened,
then dropped, until it fits. :class:`AlertRenderer` renders each story block and button row once
per language for the whole pass (many readers follow the same phrase).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from digest.alerts import AlertStory
from digest.catalog import Catalog
from digest.phrases import MAX_PHRASE_CHARS
from digest.rank import RankedStory
from storage.follows import Follow
from views.bidi import isolate, isolate_all, rtl_start
from views.digest import as_payload, story_buttons, visible_length
from views.i18n import Gettext, gettext_for, joined
from views.keyboards import button, markup
from views.render import MAX_TEXT, esc
from views.story import StoryLimits, source_name, story_html

FOLLOW_STEP = "F"  # /following's Remove buttons; never a menu step code (see views.flow)
REMOVE = "x"
_BUDGETS = (StoryLimits(220, 180), StoryLimits(160, 90), StoryLimits(120, 0))


def _quoted(phrases: list[str], ui_language: str) -> str:
    return joined([f"“{p}”" for p in isolate_all(phrases, ui_language)], ui_language)


class AlertRenderer:
    """Alert payloads of one pass: story blocks and buttons rendered once per language."""

    def __init__(self, catalog: Catalog, now: datetime) -> None:
        self._catalog = catalog
        self._now = now
        self._blocks: dict[tuple[int, int, str, int], str] = {}
        self._rows: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
        self._payloads: dict[tuple[object, ...], dict[str, Any]] = {}

    def payload(
        self, stories: tuple[AlertStory, ...], ui_language: str, phrases: dict[str, str]
    ) -> dict[str, Any]:
        """Bot API parameters for one reader's alert; ``phrases`` maps each phrase key to the
        reader's own spelling of it."""
        shown = sorted({phrases.get(p, p) for s in stories for p in s.phrases})
        cache_key = (tuple(s.article.id for s in stories), ui_language, tuple(shown))
        found = self._payloads.get(cache_key)
        if found is not None:
            return found
        _ = gettext_for(ui_language)
        header = "🔔 " + _("New stories about {phrases}").format(
            phrases=_quoted(shown, ui_language)
        )
        header = f"<b>{esc(header)}</b>"
        text = header
        for budget in range(len(_BUDGETS)):
            blocks = [self._block(i + 1, s, ui_language, budget, _) for i, s in enumerate(stories)]
            text = "\n\n".join([header, *blocks])
            if visible_length(text) <= MAX_TEXT:
                break
        rows = [self._row(i + 1, s, ui_language, _) for i, s in enumerate(stories)]
        payload = as_payload(rtl_start(text, ui_language), None)
        payload["reply_markup"] = {"inline_keyboard": rows}
        self._payloads[cache_key] = payload
        return payload

    def _block(
        self, number: int, story: AlertStory, ui_language: str, budget: int, _: Gettext
    ) -> str:
        key = (number, story.article.id, ui_language, budget)
        found = self._blocks.get(key)
        if found is None:
            ranked = RankedStory(story.article, (), 0.0)
            found = self._blocks[key] = story_html(
                number, ranked, self._catalog, self._now, ui_language, _, _BUDGETS[budget]
            )
        return found

    def _row(
        self, number: int, story: AlertStory, ui_language: str, _: Gettext
    ) -> list[dict[str, Any]]:
        article = story.article
        key = (number, article.id, ui_language)
        found = self._rows.get(key)
        if found is None:
            name = source_name(article.source_id, self._catalog)
            keyboard = markup([story_buttons(number, article.id, name, article.url, _)])
            found = self._rows[key] = keyboard.to_dict()["inline_keyboard"][0]
        return found


def following_view(follows: list[Follow], ui_language: str, limit: int) -> tuple[str, Any]:
    """/following: the reader's phrases, each with a Remove button, or how to follow one."""
    _ = gettext_for(ui_language)
    if not follows:
        text = esc(_("You follow no phrase yet.")) + "\n\n" + esc(_follow_usage(_, limit))
        return rtl_start(text, ui_language), None
    title = _("Phrases you follow ({count} of {limit}):").format(count=len(follows), limit=limit)
    lines = [f"<b>{esc(title)}</b>"]
    lines += [f"• {esc(isolate(f.phrase, ui_language))}" for f in follows]
    lines += ["", esc(_("New stories containing one of them are sent to you as they arrive."))]
    rows = [
        [button("✖️ " + _("Remove “{phrase}”").format(phrase=f.phrase), FOLLOW_STEP, REMOVE,
                str(f.id))]
        for f in follows
    ]  # fmt: skip
    return rtl_start("\n".join(lines), ui_language), markup(rows)


def follow_usage(ui_language: str, limit: int) -> str:
    _ = gettext_for(ui_language)
    return esc(_follow_usage(_, limit))


def _follow_usage(_: Gettext, limit: int) -> str:
    return _(
        "Send /follow and a word or phrase, e.g. /follow climate summit. New stories "
        "containing it reach you as they arrive (up to {limit} phrases, {chars} characters "
        "each). /following lists them."
    ).format(limit=limit, chars=MAX_PHRASE_CHARS)
