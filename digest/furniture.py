"""Page furniture: what a news page wraps around its story, found by structure, not by name.

trafilatura already drops menus, footers and most boilerplate; what it keeps on news pages
is the furniture that sits *inside* the article container. No rule here names a publisher
or matches a sentence from a page: the signals are markup (``figure``/``aside``/consent
containers, generic class and id words), link density, the page's own title, and the shape
of a line (a media duration, a bare dateline, a credit). Each rule was measured on the Zyte
article benchmark (``python -m bench.extract``; the rules can be switched off one by one
through :data:`RULES`): removing the repeated headline, link teasers, furniture boxes and
datelines each raise F1; the tag, media and credit rules change no page there (trafilatura
already drops most such tags, and those 2019 pages have no player lines) and are kept for
the real pages whose failures tests/data/pages reproduce. Removing link-dense blocks from
the tree (rather than their lines) and dropping a short last line were tried and lost F1.

Two stages:

1. :func:`strip_tree` removes elements from a copy of the parsed page before extraction:
   ``aside``/``figcaption``/``nav``-like elements, and small boxes whose class or id names
   furniture (consent placeholders, captions and credits, teasers, bios, key facts).
2. :func:`drop_lines` filters the extracted paragraphs: the headline repeated in the body,
   short blocks that are nearly all links (:func:`link_blocks`), media player lines
   ("02:57 Min." and an availability date), bare datelines and photo credits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from copy import deepcopy

from lxml.html import HtmlElement

__all__ = ["RULES", "drop_lines", "line_key", "link_blocks", "strip_tree"]

# Class/id words of containers that hold furniture rather than story text. Whole tokens
# split on "-" and "_" are compared, so "related" matches "article-related-links" but
# not "unrelated"; the words are generic web vocabulary, not any site's naming.
_FURNITURE_WORDS = frozenset(
    {
        "consent", "cmp", "gdpr", "cookie", "cookies", "privacy-placeholder",
        "figcaption", "caption", "credit", "credits", "copyright",
        "related", "recirc", "recirculation", "teaser", "teasers", "promo",
        "newsletter", "newsletters", "signup", "subscribe",
        "bio", "biography", "authorbio", "author-bio", "about-author",
        "factbox", "infobox", "keyfacts", "key-facts", "highlights", "deal", "deals",
        "share", "sharing", "social", "sharebar", "toolbar",
        "breadcrumb", "breadcrumbs", "tags", "taglist",
    }
)  # fmt: skip
# A quick first look: no class or id mentions any furniture word (most elements).
_ANY_FURNITURE = re.compile(
    "|".join(
        sorted(
            {w.replace("-", "") for w in _FURNITURE_WORDS}
            | {w.split("-")[0] for w in _FURNITURE_WORDS}
        )
    )
)
# CMS classes that label the story's own topic, not a box ("tag-x", "category-x").
_TAXONOMY = frozenset({"tag", "category", "channel", "topic", "section", "post", "format", "type"})
_BLOCK_TAGS = frozenset({"p", "li", "div", "section", "h2", "h3", "h4", "h5", "h6", "ul", "ol"})
# Elements removed outright: they never carry the story's running text.
_FURNITURE_TAGS = ("aside", "figcaption", "nav", "noscript", "template", "dialog")
_TOKEN = re.compile(r"[^\W_]+")
#: A block of at most this many words, this share of them link text, is a teaser.
_TEASER_WORDS = 40
_LINKED_SHARE = 0.8
#: A furniture box (bio, key facts, teaser) has at most this many words.
_BOX_WORDS = 150
_SPLIT = re.compile(r"[\s_-]+")

#: Rules that can be switched off one by one, so the benchmark can measure each.
RULES = frozenset({"continued", "tags", "classes", "links", "title", "media", "dateline", "credit"})


def strip_tree(tree: HtmlElement, rules: frozenset[str] = RULES) -> HtmlElement:
    """A copy of ``tree`` without furniture elements; the original is left as it was."""
    tree = deepcopy(tree)
    doomed: list[HtmlElement] = []
    for el in tree.iter():
        if not isinstance(el.tag, str) or el.tag in ("html", "body", "head", "article", "main"):
            continue
        by_tag = "tags" in rules and el.tag in _FURNITURE_TAGS
        if by_tag or ("classes" in rules and _furniture_class(el) and _small(el)):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            _drop(el)
    return tree


def link_blocks(tree: HtmlElement) -> frozenset[str]:
    """Texts (as :func:`line_key`) of short blocks that are nearly all links.

    Related-story teasers and "read more" lists inside the article container. They are
    matched against the extracted lines rather than cut from the tree, because removing them
    before extraction can move trafilatura's choice of the main container. One pass from the
    leaves up counts each element's words and linked words, so a page costs linear time.
    """
    words: dict[HtmlElement, int] = {}
    linked: dict[HtmlElement, int] = {}
    keys = set()
    for el in reversed(list(tree.iter())):
        if not isinstance(el.tag, str):
            words[el] = linked[el] = 0
            continue
        total = len(el.text.split()) if el.text else 0
        inner = 0
        for child in el:
            total += words.get(child, 0) + (len(child.tail.split()) if child.tail else 0)
            inner += linked.get(child, 0)
        words[el] = total
        linked[el] = total if el.tag == "a" else inner
        if el.tag in _BLOCK_TAGS and 0 < total <= _TEASER_WORDS and inner >= _LINKED_SHARE * total:
            keys.add(line_key(el.text_content()))
    return frozenset(keys)


def _small(el: HtmlElement) -> bool:
    """Furniture boxes are small; a container that big holds the story, whatever its class."""
    return _words(el.text_content()) <= _BOX_WORDS


def _drop(el: HtmlElement) -> None:
    """Remove ``el`` but keep its tail text, which belongs to the parent's running text."""
    parent = el.getparent()
    if el.tail and el.tail.strip():
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _furniture_class(el: HtmlElement) -> bool:
    """Whether the element's class or id names a furniture container."""
    names = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
    if not _ANY_FURNITURE.search(names.replace("-", "").replace("_", "")):
        return False
    for name in names.split():
        if name in _FURNITURE_WORDS:
            return True
        parts = [p for p in _SPLIT.split(name) if p]
        if parts and parts[0] in _TAXONOMY:
            continue  # "tag-deals", "category-newsletter": what the story is about
        if any(p in _FURNITURE_WORDS for p in parts):
            return True
        pairs = zip(parts, parts[1:], strict=False)
        if any(f"{a}-{b}" in _FURNITURE_WORDS or a + b in _FURNITURE_WORDS for a, b in pairs):
            return True
    return False


def _words(text: str) -> int:
    return len(_TOKEN.findall(text))


# A player's duration ("02:57 Min.", "1:02:03", "(3:12)") at the start of a line.
_DURATION = re.compile(r"^\(?\d{1,2}:\d{2}(?::\d{2})?\)?")
_DURATION_UNIT = re.compile(r"^\s*(?:min|mins|minutes?|minuten|sek|sec|secs|seconds?)\b", re.I)
_CLOCK = re.compile(r"\b(?:[ap]\.?m\.?|uhr|h)(?!\w)", re.I)
_TIME = re.compile(r"\b\d{1,2}[:.h]\d{2}\b")
_DATE = re.compile(
    r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b|\b(?:19|20)\d{2}\b|\b\d{1,2}\.\s?\d{1,2}\.(?!\d)"
)
_CREDIT = re.compile(
    r"^\(?\s*(?:©|\(c\)|(?:photo|foto|image|bild|credit|crédit|photograph)\b)", re.I
)


def drop_lines(
    paragraphs: Sequence[str],
    titles: Iterable[str],
    links: frozenset[str] = frozenset(),
    rules: frozenset[str] = RULES,
) -> tuple[str, ...]:
    """The paragraphs without furniture lines (the chat shows the title above the text).

    ``links`` are the page's link-teaser blocks (:func:`link_blocks`).
    """
    seen_titles = {line_key(t) for t in titles if t and line_key(t)}
    kept: list[str] = []
    for line in paragraphs:
        key = line_key(line)
        if "title" in rules and key in seen_titles:
            continue
        if "links" in rules and key in links:
            continue
        if "media" in rules and _media_line(line):
            continue
        if "dateline" in rules and _dateline(line):
            continue
        if "credit" in rules and _credit_line(line):
            continue
        kept.append(line)
    return tuple(kept)


def line_key(text: str) -> str:
    """A line compared by its words only: case, punctuation and spacing ignored."""
    return " ".join(_TOKEN.findall(text.casefold()))


def _media_line(line: str) -> bool:
    """A video or audio player's line: a duration, then a unit or a date, and little else.

    "02:57 Min." or "1:02:03 · 12.03.2025" is a player; "4:14 p.m." heads a live-blog
    entry and stays.
    """
    match = _DURATION.match(line.strip())
    if match is None:
        return False
    rest = line.strip()[match.end() :]
    if _words(rest) > 8 or _CLOCK.match(rest.strip()):
        return False
    return bool(_DURATION_UNIT.match(rest)) or bool(_DATE.search(rest))


def _dateline(line: str) -> bool:
    """A short line that is mostly a date and time ("Stand: 12.03.2024, 14:00 Uhr")."""
    tokens = _TOKEN.findall(line)
    if not tokens or len(tokens) > 10:
        return False
    digits = sum(t.isdigit() for t in tokens)
    return bool(_TIME.search(line)) and bool(_DATE.search(line)) and digits >= 0.4 * len(tokens)


def _credit_line(line: str) -> bool:
    """A photo credit line ("Photo: ...", "© Agency 2024") of a few words."""
    return _words(line) <= 12 and bool(_CREDIT.match(line.strip()))
