"""Full-story text: the main text and metadata of a fetched article page.

The "Full story" button shows an article in the chat, without menus, ads, cookie banners
or "related stories" lists. Pure (HTML in, data out, no shared mutable state) so the
caller can run it in a worker thread: it is CPU-bound, 30-50 ms per page at the median.

1. ``decode_html``: a byte-order mark, else the header charset, else ``<meta charset>``
   (unless that names a legacy codec while the whole body is valid UTF-8 with non-ASCII
   characters: a stale template meta, so UTF-8), else UTF-8 with replacement characters.
   Not HTML (by type, magic bytes, JSON): refuse.
2. Parse once with trafilatura's loader (so unreadable HTML is ``parse_failed``), take
   the page's furniture out of a copy (:func:`digest.furniture.strip_tree`), then
   ``trafilatura.bare_extraction`` with ``TRAFILATURA_OPTIONS``: favor_precision without
   comments is trafilatura's best variant on the Zyte benchmark (F1 0.964, defaults 0.953;
   ``python -m bench.extract``). ``deduplicate`` stays off: its process-wide cache
   would cut text from a page extracted twice.
3. One paragraph per line of its plain text (headings and list items get their own).
4. The page's declared body (:mod:`digest.article_body`: JSON-LD ``articleBody``, microdata
   ``itemprop="articleBody"``, a long text in the embedded JSON state of a JavaScript app)
   replaces the text when it is clearly longer and overlaps it;
   otherwise later parts of a body that ads split in two are appended.
5. Furniture lines go (:func:`digest.furniture.drop_lines`): the headline again, player
   durations, bare datelines, photo credits, link-teaser blocks.
6. A short text with a paywall marker (JSON-LD ``isAccessibleForFree: false``, a paywall
   class, "subscribe to continue" wording) is ``paywalled``; a long one is returned,
   since the page did ship the article. Then ``empty`` or ``too_short`` (``min_words``).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import trafilatura
from lxml.html import HtmlElement
from trafilatura.settings import Document
from trafilatura.utils import load_html

from digest import article_body, furniture
from digest.errors import ExtractionError  # defined there, raised (and imported) from here

#: Options for ``trafilatura.bare_extraction``; chosen with ``python -m bench.extract``.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "favor_precision": True,
    "include_tables": True,
    "deduplicate": False,
    "with_metadata": True,
    # Publication (not modification) date, with its time when the page gives one;
    # no guessing from free text, since the feed already supplies a date.
    "date_extraction_params": {
        "original_date": True,
        "extensive_search": False,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    },
}

#: Furniture rules in force (all of :data:`digest.furniture.RULES`; the bench may drop some).
FURNITURE_RULES = furniture.RULES

#: A text this short (in words) that also carries a paywall marker is a teaser.
PAYWALL_TEASER_WORDS = 200

_HTML_TYPES = {"text/html", "application/xhtml+xml", "text/xml", "application/xml"}
_SNIFF_TYPES = {"", "text/plain", "application/octet-stream", "binary/octet-stream"}
# PDF, PNG, GIF, JPEG, ZIP, gzip, RIFF (WebP, WAV), Ogg, MP3, MP4/ISO boxes.
_BINARY_MAGIC = tuple(
    b"%PDF \x89PNG GIF8 \xff\xd8\xff PK\x03\x04 \x1f\x8b RIFF OggS ID3 \0\0\0".split()
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_TAG = re.compile(r"<\s*[A-Za-z!?]")
_WORD = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
    r"|[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)
_JSONLD_DATE = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')
_DATE_META = {"article:published_time", "datepublished", "pubdate", "parsely-pub-date"}
_LANGUAGE_META = {"content-language", "og:locale", "language", "dc.language"}
_NOT_FREE = re.compile(r"""["']?isAccessibleForFree["']?\s*:\s*["']?false""", re.I)
# Whole class/id tokens only: sites put "paywall-login-link"-like account widgets on
# every page, free articles included (jpost.com in the Zyte corpus).
_PAYWALL_CLASS = re.compile(
    r"(pay|reg|subscription)[-_]?wall(ed)?([-_](overlay|container|wrapper"
    r"|message|prompt|barrier|gate|content|active|block))?"
    r"|subscribers?[-_]only|premium[-_](wall|only)|metered[-_]?content",
    re.I,
)
_PAYWALL_WORDS = re.compile(
    r"subscribe (now )?to (continue|read|keep reading|unlock)|already a subscriber"
    r"|(only )?(available|exclusively?) (only )?(to|for) subscribers|subscribers only"
    r"|this (article|story|content) is (only )?(for|available to) (paid )?subscribers"
    r"|(sign|log) in to (continue|read)|create a free account to continue"
    r"|réservé aux abonnés|nur für abonnenten|exklusiv für abonnenten",
    re.I,
)


@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    """The readable part of an article page; ``published`` is UTC-aware when known."""

    title: str | None
    author: str | None
    published: datetime | None
    paragraphs: tuple[str, ...]
    language: str | None
    image_url: str | None

    @property
    def text(self) -> str:
        """Paragraphs separated by blank lines, ready to split on paragraph boundaries."""
        return "\n\n".join(self.paragraphs)

    @property
    def word_count(self) -> int:
        """Words, counting each CJK character as one so Chinese pages are not 'too short'."""
        return count_words(self.text)


def count_words(text: str) -> int:
    """Count ``\\w+`` runs, but each Han/kana character alone (those scripts use no spaces)."""
    return len(_WORD.findall(text))


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label, or None when the label is unknown or bogus."""
    if not label or not label.strip():
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    # WHATWG: browsers read Latin-1 and ASCII labels as windows-1252 (smart quotes at 0x80-0x9F).
    return "cp1252" if name in ("iso8859-1", "ascii") else name


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML body the way a browser would, never raising on bad bytes.

    A BOM wins over everything (HTML spec); then the header's charset; then a
    ``<meta charset>`` or ``http-equiv`` declaration in the first 4 KiB; then UTF-8,
    with U+FFFD for undecodable bytes so one bad byte does not lose the article.
    """
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body.decode(bom_codec, errors="replace").lstrip("\ufeff")
    codec = _codec(m.group(1)) if (m := _HEADER_CHARSET.search(content_type or "")) else None
    if codec is None and (meta := _META_CHARSET.search(body[:4096])):
        codec = _codec(meta.group(1).decode("ascii", "replace"))
        if codec is not None and codec.startswith("utf-16"):
            codec = "utf-8"  # an ASCII-readable meta cannot be UTF-16: the spec says UTF-8
        elif codec not in (None, "utf-8") and (as_utf8 := _valid_utf8(body)) is not None:
            return as_utf8  # a stale meta: the bytes themselves are UTF-8
    return body.decode(codec or "utf-8", errors="replace")


def _valid_utf8(body: bytes) -> str | None:
    """The body as UTF-8 when all of it decodes and it has multibyte characters, else None.

    Legacy single-byte text (Latin-1, windows-1252) or GB2312 almost never forms valid UTF-8
    sequences throughout a page, so a whole-body strict decode that succeeds with non-ASCII
    characters means the page was re-encoded (a CMS template kept an old ``<meta charset>``).
    An all-ASCII body reads the same either way, so the meta is kept for it.
    """
    if body.isascii():
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _to_text(html: str | bytes, content_type: str | None) -> str:
    """Decode and refuse obvious non-HTML, so trafilatura never sees an image or JSON."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in _HTML_TYPES and mime not in _SNIFF_TYPES:
        raise ExtractionError("not_html", f"content type {mime}")
    if isinstance(html, bytes):
        stripped = html.lstrip()
        if not stripped:
            raise ExtractionError("empty", "empty body")
        if not any(html.startswith(bom) for bom, _ in _BOMS) and (
            stripped.startswith(_BINARY_MAGIC) or b"\0" in stripped[:4096]
        ):
            raise ExtractionError("not_html", "binary content")
        html = decode_html(html, content_type)
    text = html.lstrip("\ufeff \t\r\n")
    if not text.strip():
        raise ExtractionError("empty", "empty body")
    if text[0] in "{[" or "\x00" in text[:4096] or not _TAG.search(text[:65536]):
        raise ExtractionError("not_html", "no HTML markup")
    return text


def _parse(text: str) -> HtmlElement:
    """Parse with trafilatura's loader; wrap a bare fragment it would call dubious."""
    try:
        tree = load_html(text)
        if tree is None:
            tree = load_html(f"<html><body>{text}</body></html>")
    except Exception as e:  # lxml raises many types on hostile input
        raise ExtractionError("parse_failed", str(e)) from e
    if tree is None:
        raise ExtractionError("parse_failed", "lxml produced no tree")
    return tree


def _paragraphs(text: str | None, title: str | None) -> tuple[str, ...]:
    """One paragraph per line of trafilatura's text, whitespace collapsed, noise dropped.

    A first line equal to the title goes: the chat shows the title above the text.
    """
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    kept = [line for line in lines if any(ch.isalnum() for ch in line)]
    if kept and title and kept[0].casefold() == title.casefold():
        kept.pop(0)
    return tuple(kept)


def _json_ld(tree: HtmlElement) -> list[str]:
    """Texts of the page's JSON-LD blocks, searched with regexes: many are not valid JSON."""
    scripts = tree.iterfind(".//script")
    return [s.text or "" for s in scripts if "ld+json" in (s.get("type") or "")]


def _meta(tree: HtmlElement, keys: set[str]) -> list[str]:
    """``content`` of the ``<meta>`` elements whose name, property or http-equiv is in keys."""
    return [
        meta.get("content") or ""
        for meta in tree.iterfind(".//meta")
        if (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower() in keys
        or (meta.get("http-equiv") or "").lower() in keys
    ]


def _titles(tree: HtmlElement) -> list[str]:
    """The page's own headlines (``og:title``, ``<h1>``): a body line equal to one is furniture."""
    headings = [h.text_content() for h in tree.iterfind(".//h1")]
    return [*_meta(tree, {"og:title", "twitter:title"}), *headings]


def _has_paywall_marker(tree: HtmlElement) -> bool:
    """Whether the page says it is (partly) for subscribers only."""
    if any(_NOT_FREE.search(data) for data in _json_ld(tree)):
        return True
    for el in tree.iter():
        if not isinstance(el.tag, str) or el.tag in ("script", "style"):
            continue
        tokens = f"{el.get('class', '')} {el.get('id', '')}".split()
        if any(_PAYWALL_CLASS.fullmatch(token) for token in tokens):
            return True
        if el.text and _PAYWALL_WORDS.search(el.text):
            return True
    return False


def _as_utc(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as a UTC-aware datetime; one without a zone is taken as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _published(tree: HtmlElement, htmldate_value: str | None) -> datetime | None:
    """The page's own publication timestamp (JSON-LD, then meta), else htmldate's guess.

    htmldate often stops at the day (from the URL or a ``<time>``), while the structured
    data usually carries the time and zone, which matter for "2 hours ago".
    """
    values = [m.group(1) for data in _json_ld(tree) for m in _JSONLD_DATE.finditer(data)]
    for value in [*values, *_meta(tree, _DATE_META), htmldate_value]:
        if (parsed := _as_utc(value)) is not None:
            return parsed
    return None


def _language(doc_language: str | None, tree: HtmlElement) -> str | None:
    """Primary language subtag ("en-US" -> "en") from the extractor or the markup."""
    candidates = [doc_language, tree.get("lang"), tree.get(f"{{{_XML_NS}}}lang")]
    for value in [*candidates, *_meta(tree, _LANGUAGE_META)]:
        if value and (match := re.match(r"\s*([A-Za-z]{2,3})(?:[-_]|\s*$|,)", value)):
            return match.group(1).lower()
    return None


def _clean(value: object) -> str | None:
    """Whitespace-collapsed string, or None for a missing or blank value."""
    return (" ".join(value.split()) or None) if isinstance(value, str) else None


def extract_article(
    html: str | bytes,
    *,
    url: str | None = None,
    content_type: str | None = None,
    min_words: int = 40,
) -> ExtractedArticle:
    """Extract the article body and metadata of one page; raise ExtractionError if none.

    ``url`` helps trafilatura resolve relative links and the image; ``content_type`` is the
    HTTP header, used for the charset and to refuse non-HTML. Safe to call from threads.
    """
    tree = _parse(_to_text(html, content_type))
    try:
        cleaned = furniture.strip_tree(tree, FURNITURE_RULES)
        result = trafilatura.bare_extraction(cleaned, url=url, **TRAFILATURA_OPTIONS)
    except Exception as e:  # trafilatura and its date/lxml helpers may raise anything
        raise ExtractionError("parse_failed", f"{type(e).__name__}: {e}") from e
    doc = result if isinstance(result, Document) else None
    title = _clean(doc.title) if doc is not None else None
    paragraphs = _paragraphs(doc.text if doc is not None else None, title)
    declared = [
        *article_body.json_ld_bodies(tree),
        *article_body.microdata_bodies(tree),
        *article_body.json_state_bodies(tree),
    ]
    if (body := article_body.better_body(paragraphs, declared, min_words)) is not None:
        paragraphs = _paragraphs("\n".join(body), title)
    elif "continued" in FURNITURE_RULES:
        paragraphs += article_body.continued_body(tree, paragraphs)
    links = furniture.link_blocks(tree) if "links" in FURNITURE_RULES else frozenset()
    titles = [title or "", *_titles(tree)]
    paragraphs = furniture.drop_lines(paragraphs, titles, links, FURNITURE_RULES)
    words = count_words("\n".join(paragraphs))
    if words < PAYWALL_TEASER_WORDS and _has_paywall_marker(tree):
        raise ExtractionError("paywalled", f"{words} words and a paywall marker")
    if not paragraphs:
        raise ExtractionError("empty", "no main text found")
    if words < min_words:
        raise ExtractionError("too_short", f"{words} words, need {min_words}")
    image = _clean(doc.image) if doc is not None else None
    return ExtractedArticle(
        title=title,
        author=_clean(doc.author) if doc is not None else None,
        published=_published(tree, doc.date if doc is not None else None),
        paragraphs=paragraphs,
        language=_language(doc.language if doc is not None else None, tree),
        image_url=urljoin(url, image) if url and image else image,
    )
