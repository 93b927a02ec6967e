"""Turn a fetched feed body into plain data: bytes in, :class:`ParsedFeed` out, no I/O.

The steps, in order:

1. Refuse what must never reach feedparser: an empty body, a body over ``max_bytes``, and
   any document that declares XML entities. feedparser expands internal entities, so a
   200 kB "billion laughs" costs seconds and a gigabyte (DESIGN §10); external entities
   would read files or make requests. Real feeds do not declare entities, so any
   ``<!ENTITY`` (any case, anywhere, UTF-16/32 included) refuses the whole document: cheap,
   and nothing is left to get wrong, at the price of refusing a feed that quotes one.
2. Choose the character set once and tell feedparser, which decodes once: a byte-order
   mark (or UTF-16/32 byte pattern) wins; else the HTTP ``charset``; else the XML
   declaration; else UTF-8, or windows-1252 for a body that is not valid UTF-8 (Latin-1
   without a declaration). A Latin-1 label on a body that is valid UTF-8 is a server's
   default, not a fact, and becomes UTF-8. The body goes in as ``BytesIO``: given
   ``bytes``, feedparser may take them for a file name and read that file.
3. feedparser runs with ``sanitize_html=False`` and ``resolve_relative_uris=False``: we
   keep plain text only, and resolve the few URLs we keep ourselves, which is much cheaper
   on large entries. Relative links resolve against the feed URL, passed as
   ``Content-Location``, and against ``xml:base``.
4. A result with no feed version and no entries is not a feed (an HTML page, say).
   Otherwise every entry that has a link or a title becomes a :class:`ParsedEntry`; a
   broken ("bozo") document yields what feedparser recovered. Entries whose key repeats
   an earlier one in the same document are dropped (the first wins).
5. Only the newest ``max_entries`` entries (by their declared date) are cleaned: a feed of
   100,000 entries costs the cleaning of 500, and ``capped_entries`` says how many went.
6. Each entry is cleaned on its own: one entry whose content breaks a cleaning step (any
   exception) is skipped and counted in ``skipped_entries`` with a short reason in
   ``entry_errors``; it never costs the other entries, the feed or the pass.

Over 350 lines on purpose: refusal, decoding, feedparser and per-entry isolation are one ordered
pipeline over one body, each step relying on the one before.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import heapq
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.errors import FeedParseError
from digest.normalize import (
    absolute_url,
    canonical_url,
    collapse,
    first_img_src,
    guess_category,
    html_to_text,
    language_code,
    looks_like_image,
    truncate,
)

__all__ = ["FeedParseError", "ParsedEntry", "ParsedFeed", "entry_key", "parse_feed"]

MAX_BYTES = 10 * 1024 * 1024
TITLE_CHARS = 300
MAX_TAGS = 20
MAX_ENTRIES = 500  # per feed per pass: the newest; a real feed has 10-100
KEY_CHARS = 600  # the stored key's limit (articles.entry_key): longer ones become a hash
GUID_CHARS = 512  # longer guids are keyed by their hash (as they always were)
ENTRY_ERRORS_KEPT = 5

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
)
_WIDE = {b"\x00\x00\x00<": "utf-32be", b"<\x00\x00\x00": "utf-32le",
         b"\x00<\x00?": "utf-16be", b"<\x00?\x00": "utf-16le"}  # fmt: skip
_LATIN_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii",
                           "ascii", "windows-1252", "cp1252"})  # fmt: skip
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']""")
_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One feed entry as plain, cleaned data."""

    key: str
    guid: str | None
    url: str
    title: str
    summary: str
    published: datetime
    image_url: str | None
    language: str | None
    tags: tuple[str, ...]
    category_guess: str | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed; ``bozo`` is feedparser's "this document is broken" flag."""

    title: str | None
    language: str | None
    entries: tuple[ParsedEntry, ...]
    bozo: bool
    bozo_reason: str | None
    skipped_entries: int
    capped_entries: int = 0
    entry_errors: tuple[str, ...] = ()


def entry_key(
    guid: str | None, canonical_url: str | None, title: str, published: datetime | None
) -> str:
    """A stable identity for an entry: its guid, else its canonical link, else a hash.

    Keys are unique within one feed; guids are not unique across publishers, so callers
    scope keys by source. The prefix ("guid:", "url:", "sha1:") says which rule applied.

    ``published`` must be the date the feed declared (None if none), never a fallback
    such as "now", or the key of a dateless entry would change on every fetch.
    """
    if guid and guid.strip():
        guid = guid.strip()
        if len(guid) <= GUID_CHARS:
            return f"guid:{guid}"
        return "guid-sha1:" + hashlib.sha1(guid.encode()).hexdigest()
    if canonical_url:
        if len("url:") + len(canonical_url) <= KEY_CHARS:
            return f"url:{canonical_url}"
        return "url-sha1:" + hashlib.sha1(canonical_url.encode()).hexdigest()
    stamp = published.astimezone(UTC).isoformat() if published else ""
    digest = hashlib.sha1(f"{title}\n{stamp}".encode()).hexdigest()
    return f"sha1:{digest}"


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    now: datetime,
    max_bytes: int = MAX_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Parse ``body``; raise :class:`FeedParseError` if it is not a feed.

    ``url`` is where the body came from (the fetch's final URL): relative links resolve
    against it. ``headers`` are the response's (their Content-Type charset counts);
    ``now`` stands in for missing dates and caps future ones.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if not body.strip():
        raise FeedParseError("empty document")
    if len(body) > max_bytes:
        raise FeedParseError(f"document of {len(body)} bytes exceeds the {max_bytes} cap")
    if _ENTITY_DECL.search(_markup_view(body)):
        raise FeedParseError("document declares XML entities; refused")
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    response_headers = {
        "content-type": _content_type_for(body, lower.get("content-type", "")),
        "content-location": absolute_url(lower.get("content-location"), url) or url,
    }
    try:
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:  # hostile input must cost one feed, never the ingest pass
        raise FeedParseError(f"feedparser failed: {_one_line(e)}") from e
    if not result.get("version") and not result.entries:
        reason = _one_line(result.get("bozo_exception")) or "no feed elements"
        raise FeedParseError(f"not a feed: {reason}")
    feed = result.feed
    base = response_headers["content-location"]
    # Declared by <language>/<dc:language>, else xml:lang or Content-Language (Atom).
    language = language_code(feed.get("language") or feed.get("title_detail", {}).get("language"))
    fallback_url = canonical_url(feed.get("link"), base) or canonical_url(base) or url
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    skipped = 0
    errors: list[str] = []
    kept = _newest(result.entries, max_entries, now)
    for raw in kept:
        try:
            entry = _entry(raw, base, fallback_url, language, now)
        except Exception as e:  # one entry's hostile content costs that entry, nothing more
            skipped += 1
            if len(errors) < ENTRY_ERRORS_KEPT:
                errors.append(_one_line(e) or "error")
            continue
        if entry is None:
            skipped += 1
        elif entry.key not in seen:
            seen.add(entry.key)
            entries.append(entry)
    title = truncate(_text(feed, "title", 1000), TITLE_CHARS) or None
    return ParsedFeed(
        title=title,
        language=language,
        entries=tuple(entries),
        bozo=bool(result.get("bozo")),
        bozo_reason=_one_line(result.get("bozo_exception")),
        skipped_entries=skipped,
        capped_entries=len(result.entries) - len(kept),
        entry_errors=tuple(errors),
    )


def _newest(raw_entries: list[Any], limit: int, now: datetime) -> list[Any]:
    """The newest ``limit`` entries by declared date (undated count as ``now``), in
    document order; all of them when there are no more than ``limit``."""
    if len(raw_entries) <= limit:
        return raw_entries
    floor = now.timestamp()

    def stamp(item: tuple[int, Any]) -> tuple[float, int]:
        try:
            declared = _published(item[1])
        except Exception:  # a date that breaks is no date
            declared = None
        return (min(declared.timestamp(), floor) if declared else floor, -item[0])

    newest = heapq.nlargest(limit, enumerate(raw_entries), key=stamp)
    return [raw for _index, raw in sorted(newest, key=lambda item: item[0])]


def _entry(
    raw: Any, base: str, fallback_url: str, language: str | None, now: datetime
) -> ParsedEntry | None:
    guid = collapse(raw.get("id") or "")[:2048] or None
    link = canonical_url(raw.get("link"), base)
    if link is None and guid:
        link = canonical_url(guid) if guid.startswith(("http://", "https://")) else None
    summary_source = raw.get("summary") or ""
    summary = _text(raw, "summary", 4 * 300)
    if not summary and raw.get("content"):
        summary_source = raw["content"][0].get("value") or ""
        summary = html_to_text(summary_source)
    title = truncate(_text(raw, "title", 1000), TITLE_CHARS)
    if not link and not title:
        return None
    declared = _published(raw)
    published = min(declared, now) if declared else now
    tags = _tags(raw)
    page_url = link or fallback_url
    return ParsedEntry(
        key=entry_key(guid, link, title, declared),
        guid=guid,
        url=page_url,
        title=title or truncate(summary, 120) or page_url,
        summary=truncate(summary),
        published=published,
        image_url=_image(raw, summary_source, page_url),
        language=language,
        tags=tags,
        category_guess=guess_category(tags, link),
    )


def _text(obj: Any, field: str, limit: int) -> str:
    value = obj.get(field) or ""
    detail = obj.get(f"{field}_detail") or {}
    if detail.get("type", "text/html") == "text/plain":
        return collapse(value[: limit * 2])
    return html_to_text(value, limit=limit)


def _published(raw: Any) -> datetime | None:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = raw.get(field)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _tags(raw: Any) -> tuple[str, ...]:
    tags: list[str] = []
    for tag in raw.get("tags") or ():
        term = collapse(tag.get("term") or tag.get("label") or "").lower()[:64]
        if term and term not in tags:
            tags.append(term)
        if len(tags) >= MAX_TAGS:
            break
    return tuple(tags)


def _image(raw: Any, summary_html: str, base: str) -> str | None:
    """media:content, then media:thumbnail, then an image enclosure, then the first <img>."""
    candidates: list[str | None] = []
    for media in raw.get("media_content") or ():
        kind = (media.get("type") or "").lower()
        medium = (media.get("medium") or "").lower()
        if kind.startswith("image/") or medium == "image" or not (kind or medium):
            candidates.append(media.get("url"))
    candidates.extend(thumb.get("url") for thumb in raw.get("media_thumbnail") or ())
    for enclosure in raw.get("enclosures") or ():
        kind = (enclosure.get("type") or "").lower()
        href = enclosure.get("href") or ""
        if kind.startswith("image/") or (not kind and looks_like_image(href)):
            candidates.append(href)
    candidates.append(first_img_src(summary_html))
    for content in raw.get("content") or ():
        candidates.append(first_img_src(content.get("value") or ""))
    for candidate in candidates:
        resolved = absolute_url(candidate, base)
        if resolved:
            return resolved
    return None


def _markup_view(body: bytes) -> bytes:
    """The body with wide encodings (UTF-16/32) narrowed, so ASCII markup can be searched."""
    encoding = _bom_encoding(body) or _WIDE.get(body[:4])
    if encoding and encoding != "utf-8":
        return body.decode(encoding, "replace").encode("utf-8", "replace")
    return body


def _bom_encoding(body: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding
    return None


def _content_type_for(body: bytes, http_content_type: str) -> str:
    """The Content-Type to show feedparser: always XML, with the charset we trust."""
    charset = _bom_encoding(body) or _WIDE.get(body[:4])
    if charset is None:
        match = _CHARSET.search(http_content_type)
        charset = match.group(1).lower() if match else None
        if body.isascii():
            pass
        elif charset in _LATIN_LABELS and _is_utf8(body):
            charset = "utf-8"  # a server's default label on a body that is valid UTF-8
        elif charset is None and not _XML_ENCODING.match(body) and not _is_utf8(body):
            charset = "windows-1252"  # Latin-1 without a declaration
    return f"application/xml; charset={charset}" if charset else "application/xml"


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _one_line(exc: object) -> str | None:
    if exc is None:
        return None
    text = collapse(f"{type(exc).__name__}: {exc}")
    return text[:200]
