"""Text and URL cleaning used by :mod:`digest.parse`: pure functions, no I/O.

Feed strings reach Telegram users, the database and the dedupe step, so they are brought to
one form here:

* text becomes plain text: tags dropped (``script``/``style`` with their content), entities
  decoded, whitespace collapsed; work is bounded, so a 5 MB ``content:encoded`` costs no more
  than its first few kilobytes of text;
* a link becomes a canonical URL, so the same story reached through an RSS link with
  ``utm_*`` parameters and a share link without them is one story;
* a category is guessed from the entry's tags or its URL path, for "general" feeds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

SUMMARY_CHARS = 300
ELLIPSIS = "…"

# Elements whose text is not prose, and elements that separate words.
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg"})


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_BLOCK_TAGS = frozenset(
    _words(
        "p br div li ul ol h1 h2 h3 h4 h5 h6 tr td th table blockquote section article header "
        "footer figure figcaption img hr pre dd dt dl aside nav main caption"
    )
)
_WS = re.compile(r"\s+")
# Control characters, zero-width marks, and the bidirectional embeddings, overrides and isolates
# (U+202A-202E, U+2066-2069): a title can use them to show text reversed or to reorder what
# follows it in a reader's chat ("Trojan Source"). The bare marks U+200E/200F go too.
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b\u200e\u200f"
    "\u202a-\u202e\u2066-\u2069\ufeff]"
)
_CHUNK = 4 * 1024


class _TextExtractor(HTMLParser):
    """Collects visible text until ``limit`` characters, then stops caring."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            self.size += len(data)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """``<![keyword[ … ]]>``: the standard library raises AssertionError on a keyword it
        does not know (``<![foo[``) or on none at all. HTML has no marked sections; browsers
        read one as a bogus comment that ends at the next ``>``, and so do we."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return end + 1 if end >= 0 else -1


def collapse(text: str) -> str:
    """Drop invisible characters and collapse runs of whitespace to one space."""
    return _WS.sub(" ", _INVISIBLE.sub("", text)).strip()


def html_to_text(markup: str, *, limit: int = 4 * SUMMARY_CHARS) -> str:
    """Plain text of an HTML fragment; reads only as far as needed for ``limit`` characters.

    The bound matters: summaries are cut to ~300 characters anyway, and a hostile or
    careless feed may put megabytes of markup in one entry.
    """
    if "<" not in markup and "&" not in markup:
        return collapse(markup[: limit * 2])
    parser = _TextExtractor(limit)
    for start in range(0, len(markup), _CHUNK):
        parser.feed(markup[start : start + _CHUNK])
        if parser.size >= limit:
            break
    else:
        if parser.rawdata.startswith("<"):
            parser.rawdata = ""  # a cut-off tag ("<a href=...") is markup, not text
        parser.close()
    return collapse("".join(parser.parts))


def truncate(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Cut ``text`` at a word boundary to at most ``limit`` characters, adding "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS) + 1]
    space = cut.rfind(" ")
    # Scripts without spaces (Chinese) or one giant word: cut hard rather than lose it all.
    cut = cut[:space] if space >= limit // 2 else cut[: limit - len(ELLIPSIS)]
    return cut.rstrip(" ,;:-–—") + ELLIPSIS


# --- URLs -------------------------------------------------------------------------------

_TRACKING_PREFIXES = ("utm_", "at_", "ns_", "mc_", "wt.", "wt_", "_hs")
_TRACKING_NAMES = frozenset(
    _words(
        "fbclid gclid dclid gbraid wbraid gclsrc msclkid yclid twclid igshid ocid cmpid cmp "
        "xtor _ga _gl smid smtyp emc mkt_tok"
    )
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(param: str) -> bool:
    name = unquote(param.split("=", 1)[0]).strip().lower()
    return name in _TRACKING_NAMES or name.startswith(_TRACKING_PREFIXES)


def absolute_url(url: str | None, base: str | None = None) -> str | None:
    """``url`` resolved against ``base``; None unless it is a well-formed http(s) URL."""
    if not url:
        return None
    url = url.strip().replace(" ", "%20")
    if base:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return url


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """The canonical form of an article link, or None if it is not a usable http(s) URL.

    Relative links are resolved against ``base``; scheme and host are lower-cased; the
    default port, the fragment, userinfo and tracking parameters (``utm_*``, ``fbclid``,
    ``gclid``, ``ocid``, ``cmpid``, ``at_medium`` …) are dropped. The remaining query is
    kept byte for byte: re-encoding it could break signed or order-sensitive URLs.
    """
    absolute = absolute_url(url, base)
    if absolute is None:
        return None
    parts = urlsplit(absolute)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


# --- images -----------------------------------------------------------------------------

_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_PIXEL = re.compile(r"""\b(?:width|height)\s*=\s*["']?[01](?:px)?["'\s>/]""", re.I)
# Tracking pixels, share buttons and feed-service badges are not the story's picture.
_JUNK_IMG = re.compile(
    r"feedburner\.com/~|feedsportal|pheedo|doubleclick|/pixel|spacer|blank\.gif|/icons?/|"
    r"[-_/]icon[-_.]|emoji|share|twitter|facebook|gravatar|/ads?/",
    re.I,
)


def first_img_src(markup: str, *, scan_chars: int = 256 * 1024) -> str | None:
    """The ``src`` of the first real ``<img>`` in an HTML fragment (only its start is read).

    One-pixel trackers and share or feed-service badges are skipped.
    """
    for tag in _IMG_TAG.finditer(markup, 0, scan_chars):
        src = _SRC.search(tag.group(0))
        if not src or _PIXEL.search(tag.group(0)):
            continue
        url = html.unescape(next((g for g in src.groups() if g is not None), "")).strip()
        if url and not url.startswith("data:") and not _JUNK_IMG.search(url):
            return url
    return None


_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.I)


def looks_like_image(url: str) -> bool:
    """True if the URL's path ends in a common image extension."""
    return bool(_IMAGE_EXT.search(url))


# --- language and category --------------------------------------------------------------

_LANG = re.compile(r"^[a-z]{2,3}$")


def language_code(value: str | None) -> str | None:
    """Primary subtag of a language tag, lower-cased ("en-US" → "en"); None if not one."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if _LANG.match(primary) else None


_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "sports": _words(
        "sport sports cricket football soccer tennis olympics nba nfl f1 formula1 hockey golf "
        "fussball rugby खेल रياضة 体育"
    ),
    "business": _words(
        "business economy economia wirtschaft markets market finance money companies "
        "industry tech-business व्यापार اقتصاد 财经 经济 商业"
    ),
    "international": _words(
        "world international ausland world-news worldnews global internacional दुनिया دولي عالم 国际"
    ),
    "entertainment": _words(
        "entertainment culture kultur movies film music celebrity bollywood hollywood arts "
        "मनोरंजन فن ثقافة 娱乐 文化"
    ),
    "national": _words(
        "politics national india canada usa us-news qatar germany deutschland inland china "
        "nation देश سياسة محليات 国内 时政"
    ),
}
_WORD_TO_CATEGORY = {w: c for c, words in _CATEGORY_WORDS.items() for w in words}


def guess_category(tags: Iterable[str], url: str | None) -> str | None:
    """A category from the entry's tags, else from its URL path segments; None if unknown.

    Tags win because the publisher chose them; the path (``/sport/``, ``/wirtschaft/``) is
    the fallback that works for most news sites.
    """
    for tag in tags:
        category = _WORD_TO_CATEGORY.get(tag.strip().lower())
        if category:
            return category
    if url:
        try:
            path = urlsplit(url).path
        except ValueError:
            return None
        # The last segment is the article slug; "world-europe-123" style sections count.
        for segment in unquote(path).lower().split("/")[:-1]:
            category = _WORD_TO_CATEGORY.get(segment) or _WORD_TO_CATEGORY.get(
                segment.split("-", 1)[0]
            )
            if category:
                return category
    return None
