"""How a story line looks in a chat: title, source, how long ago, a one-line summary.

Every feed-supplied string is escaped here, and each piece is cut to a bound, so a page of
stories fits Telegram's 4096 characters by construction, whatever the feeds contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.catalog import Catalog
from digest.rank import RankedStory
from views.bidi import isolate, isolate_all
from views.i18n import Gettext, ago_text, joined
from views.render import esc

MAX_ALSO = 3


@dataclass(frozen=True, slots=True)
class StoryLimits:
    """How long a title and a summary may be; 0 leaves the summary out."""

    title: int = 220
    summary: int = 180


def clip(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis; short text is returned as is."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-—") + "…"


def time_ago(published: datetime, now: datetime, ui_language: str, _: Gettext) -> str:
    """ "3 hours ago", in the reader's language (CLDR via Babel); "just now" under a minute."""
    age = now - published
    if age < timedelta(minutes=1):  # also a publisher clock slightly ahead of ours
        return _("just now")
    return ago_text(age, ui_language)


def source_name(source_id: str, catalog: Catalog) -> str:
    source = catalog.source(source_id)
    return source.name if source else source_id


def story_html(
    number: int,
    story: RankedStory,
    catalog: Catalog,
    now: datetime,
    ui_language: str,
    _: Gettext,
    limits: StoryLimits = StoryLimits(),
) -> str:
    """One numbered story, four short lines at most.

    For a right-to-left reader the story's own text (title, summary) and every Latin source
    name are isolated (views.bidi), so they keep their order inside the Arabic lines."""
    article = story.article
    title = isolate(clip(article.title, limits.title), ui_language)
    lines = [f"<b>{number}. {esc(title)}</b>"]
    when = time_ago(article.published_at, now, ui_language, _)
    meta = f"{isolate(source_name(article.source_id, catalog), ui_language)} · {when}"
    lines.append(f"<i>{esc(meta)}</i>")
    if article.summary and limits.summary:
        lines.append(esc(isolate(clip(article.summary, limits.summary), ui_language)))
    if story.also_covered_by:
        names = [source_name(s, catalog) for s in story.also_covered_by[:MAX_ALSO]]
        more = len(story.also_covered_by) - len(names)
        listed = joined(isolate_all(names, ui_language), ui_language)
        listed += f" +{more}" if more > 0 else ""
        lines.append("↪︎ " + esc(_("Also covered by {sources}").format(sources=listed)))
    return "\n".join(lines)
