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
    name are isolated (views.bidi), so they keep their order inside the Arabic lines. Each
    line is its own function: the digest renderer caches them apart (a line depends on less
    than the whole story)."""
    article = story.article
    lines = [f"<b>{number}. " + title_rest(article.title, limits.title, ui_language)]
    lines.append(meta_line(article.source_id, article.published_at, catalog, now, ui_language, _))
    if article.summary and limits.summary:
        lines.append(summary_line(article.summary, limits.summary, ui_language))
    if story.also_covered_by:
        lines.append(also_line(story.also_covered_by, catalog, ui_language, _))
    return "\n".join(lines)


def title_rest(title: str, limit: int, ui_language: str) -> str:
    """The first line after its opening ``<b>{number}. ``: the clipped title, bold."""
    return f"{esc(isolate(clip(title, limit), ui_language))}</b>"


def meta_line(
    source_id: str, published: datetime, catalog: Catalog, now: datetime, ui_language: str,
    _: Gettext,
) -> str:  # fmt: skip
    """Source and age, in italics."""
    when = time_ago(published, now, ui_language, _)
    meta = f"{isolate(source_name(source_id, catalog), ui_language)} · {when}"
    return f"<i>{esc(meta)}</i>"


def summary_line(summary: str, limit: int, ui_language: str) -> str:
    return esc(isolate(clip(summary, limit), ui_language))


def also_line(also: tuple[str, ...], catalog: Catalog, ui_language: str, _: Gettext) -> str:
    """The other sources of the story, three named at most."""
    names = [source_name(s, catalog) for s in also[:MAX_ALSO]]
    more = len(also) - len(names)
    listed = joined(isolate_all(names, ui_language), ui_language)
    listed += f" +{more}" if more > 0 else ""
    return "↪︎ " + esc(_("Also covered by {sources}").format(sources=listed))
