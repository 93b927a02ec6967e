"""The full story as chat messages: laid out like a news site's story page, cut to fit.

Title in bold, "Source · weekday, date, time" in the reader's timezone, then the article's
paragraphs. A story longer than one message is cut at a paragraph boundary with "…"; the reader
gets the rest with "Continue reading", a few messages at most, never a flood. Every piece of text
comes from the page, so everything is escaped, and each message is measured the way Telegram
measures it.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from digest.full_story import FullStory
from views.bidi import isolate, rtl_start
from views.digest import visible_length
from views.i18n import Gettext, datetime_text
from views.render import esc
from views.story import clip

PAGE_BUDGET = 3600
MAX_PAGES = 4


def reason_text(reason: str | None, _: Gettext) -> str:
    """One line on why the full text is not shown."""
    texts = {
        "paywalled": _("The full story is behind the publisher's paywall."),
        "not_found": _("The publisher's page is gone."),
        "timeout": _("The publisher's site did not answer in time."),
        "too_large": _("The page is too large to read here."),
        "blocked": _("That link cannot be opened from here."),
        "not_html": _("That link is not an article page."),
    }
    return texts.get(reason or "", _("The article text could not be read from the page."))


def share_url(url: str, title: str) -> str:
    """Telegram's share link: opens the chat picker with the story's link and title."""
    return f"https://t.me/share/url?url={quote(url, safe='')}&text={quote(title[:200], safe='')}"


def byline(source: str, published: datetime | None, timezone: str, ui_language: str) -> str:
    """ "Source · Tuesday, March 5, 2024, 2:30 PM" in the reader's locale and timezone."""
    source = isolate(source, ui_language)
    if published is None:
        return source
    return f"{source} · {datetime_text(published, timezone, ui_language)}"


def story_pages(
    story: FullStory, source: str, timezone: str, ui_language: str, _: Gettext
) -> list[str]:
    """The messages of a readable full story (at most MAX_PAGES; the last may say "…")."""
    meta = byline(source, story.published, timezone, ui_language)
    title = isolate(clip(story.title, 300), ui_language)
    head = rtl_start(f"<b>{esc(title)}</b>\n<i>{esc(meta)}</i>", ui_language)
    if story.author:
        head += "\n" + esc(
            _("By {author}").format(author=isolate(clip(story.author, 120), ui_language))
        )
    pages: list[str] = []
    current = head
    for paragraph in story.paragraphs:
        block = esc(clip(paragraph, PAGE_BUDGET - 200))
        candidate = f"{current}\n\n{block}"
        if visible_length(candidate) > PAGE_BUDGET and current != head:
            pages.append(current + "\n\n…")
            if len(pages) == MAX_PAGES:
                return pages
            current = block
        else:
            current = candidate
    pages.append(current)
    return pages[:MAX_PAGES]


def fallback_text(
    title: str,
    summary: str,
    source: str,
    reason: str | None,
    _: Gettext,
    *,
    has_link: bool = True,
    ui_language: str = "en",
) -> str:
    """When the page cannot be read: the feed's summary, the reason, and the way to the source
    (pointed at only when the link button exists: Telegram refuses some links as buttons)."""
    title = isolate(clip(title, 300), ui_language)
    lines = [f"<b>{esc(title)}</b>", f"<i>{esc(reason_text(reason, _))}</i>"]
    if summary:
        lines.append(esc(isolate(clip(summary, 1200), ui_language)))
    if has_link:
        source = isolate(source, ui_language)
        lines.append(esc(_("Read it on {source} with the button below.").format(source=source)))
    return rtl_start("\n\n".join(lines), ui_language)
