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
from views.digest import DigestRenderer, visible_length
from views.i18n import Gettext, gettext_for, joined
from views.keyboards import button, markup
from views.render import esc

FOLLOW_STEP = "F"  # /following's Remove buttons; never a menu step code (see views.flow)
REMOVE = "x"


def _quoted(phrases: list[str], ui_language: str) -> str:
    return joined([f"“{p}”" for p in isolate_all(phrases, ui_language)], ui_language)


class AlertRenderer:
    """Alert payloads of one pass: each story block and button row rendered once per language
    (``DigestRenderer``'s), each header once per phrase set, each message once per story set."""

    def __init__(self, catalog: Catalog, now: datetime) -> None:
        self._stories = DigestRenderer(catalog, now)
        self._ranked: dict[int, RankedStory] = {}
        self._headers: dict[tuple[tuple[str, ...], str], tuple[str, int]] = {}
        self._payloads: dict[tuple[object, ...], dict[str, Any]] = {}

    def payload(
        self, stories: tuple[AlertStory, ...], ui_language: str, phrases: dict[str, str]
    ) -> dict[str, Any]:
        """Bot API parameters for one reader's alert; ``phrases`` maps a phrase key to the
        reader's own spelling of it (the key is shown otherwise)."""
        shown = tuple(sorted({phrases.get(p, p) for s in stories for p in s.phrases}))
        cache_key = (tuple(s.article.id for s in stories), ui_language, shown)
        found = self._payloads.get(cache_key)
        if found is None:
            header, size = self._header(shown, ui_language)
            ranked = [self._ranked_story(s) for s in stories]
            found = self._stories.stories_payload(header, size, ranked, ui_language)
            self._payloads[cache_key] = found
        return found

    def _header(self, shown: tuple[str, ...], ui_language: str) -> tuple[str, int]:
        key = (shown, ui_language)
        found = self._headers.get(key)
        if found is None:
            _ = gettext_for(ui_language)
            line = "🔔 " + _("New stories about {phrases}").format(
                phrases=_quoted(list(shown), ui_language)
            )
            header = rtl_start(f"<b>{esc(line)}</b>", ui_language)
            found = self._headers[key] = (header, visible_length(header))
        return found

    def _ranked_story(self, story: AlertStory) -> RankedStory:
        found = self._ranked.get(story.article.id)
        if found is None:
            found = self._ranked[story.article.id] = RankedStory(story.article, (), 0.0)
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
