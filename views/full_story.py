"""The full story as chat messages: laid out like a news site's story page, cut to fit.

Title in bold, "Source · weekday, date, time" in the reader's timezone, then the article's
paragraphs. A story longer than one message is cut into parts at paragraph boundaries (a
paragraph longer than a part is cut at word boundaries, never clipped); every part says
"Part 2/7", and "Continue reading" sends the next one, one per press, to the last, so any story
can be finished in the chat without a flood. Every piece of text comes from the page, so
everything is escaped, and each message is measured the way Telegram measures it.
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

#: Visible characters of story text per message (Telegram allows 4096; the rest is room for
#: the header and the part label).
PAGE_BUDGET = 3600
#: A paragraph longer than this is cut into pieces at word boundaries.
PIECE_CHARS = PAGE_BUDGET - 300


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


def story_head(story: FullStory, source: str, timezone: str, ui_language: str, _: Gettext) -> str:
    """The first part's header: bold title, italic byline, and "By author" when known."""
    meta = byline(source, story.published, timezone, ui_language)
    title = isolate(clip(story.title, 300), ui_language)
    head = rtl_start(f"<b>{esc(title)}</b>\n<i>{esc(meta)}</i>", ui_language)
    if story.author:
        head += "\n" + esc(
            _("By {author}").format(author=isolate(clip(story.author, 120), ui_language))
        )
    return head


def part_label(part: int, parts: int, _: Gettext) -> str:
    """ "Part 2/7": closes every message of a story in more than one part."""
    return "<i>" + esc(_("Part {part}/{parts}").format(part=part, parts=parts)) + "</i>"


def story_pages(
    story: FullStory, source: str, timezone: str, ui_language: str, _: Gettext
) -> list[str]:
    """Every message of a readable full story, in order; nothing of the text is left out."""
    head = story_head(story, source, timezone, ui_language, _)
    bodies: list[list[str]] = [[]]
    used = visible_length(head)
    for paragraph in story.paragraphs:
        for piece in _pieces(paragraph):
            block = esc(piece)
            size = visible_length(block) + 2
            if used + size > PAGE_BUDGET and bodies[-1]:
                bodies.append([])
                used = 0
            bodies[-1].append(block)
            used += size
    parts = len(bodies)
    pages = []
    for number, blocks in enumerate(bodies, start=1):
        text = "\n\n".join([head, *blocks] if number == 1 else blocks)
        if parts > 1:
            text += "\n\n" + part_label(number, parts, _)
        pages.append(text)
    return pages


def _pieces(paragraph: str) -> list[str]:
    """A paragraph as pieces of at most PIECE_CHARS, cut at spaces (or anywhere if none).

    Telegram counts UTF-16 units: text with characters outside the BMP (emoji) gets half
    the length per piece, so a piece never overflows a message.
    """
    text = " ".join(paragraph.split())
    limit = PIECE_CHARS if all(ord(ch) < 0x10000 for ch in text) else PIECE_CHARS // 2
    pieces = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


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
