"""The article body a page declares about itself: schema.org ``articleBody``.

Some publishers ship only the first paragraphs as HTML and the whole story in the page's
JSON-LD (``NewsArticle.articleBody``, for search engines), or mark the story's container
with the microdata attribute ``itemprop="articleBody"``, or (JavaScript apps) keep it in an
embedded JSON state script. When the extractor's text is a fraction of that declared body,
the declared body is the story; :func:`better_body` decides, so a page's own structured
data is used only when it clearly says more and overlaps what was extracted.

Pure: lxml tree in, paragraphs out.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Sequence

from lxml.html import HtmlElement, fragment_fromstring

__all__ = [
    "better_body",
    "continued_body",
    "json_ld_bodies",
    "json_state_bodies",
    "microdata_bodies",
    "split_paragraphs",
]

#: schema.org types whose ``articleBody`` is the story (subtypes of Article a news page uses).
ARTICLE_TYPES = frozenset(
    {
        "Article", "NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle",
        "OpinionNewsArticle", "BackgroundNewsArticle", "ReviewNewsArticle", "BlogPosting",
        "LiveBlogPosting", "Report", "ScholarlyArticle", "TechArticle",
    }
)  # fmt: skip
#: The declared body must be this much longer than the extracted text to replace it...
LONGER_RATIO = 1.5
LONGER_WORDS = 60
#: ...and contain at least this share of the extracted text's 4-word shingles.
MIN_OVERLAP = 0.5
#: A one-blob body is cut into paragraphs of about this many words, at sentence ends.
BLOB_PARAGRAPH_WORDS = 80

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？…»”\"])\s+(?=\S)|(?<=[。！？])")
_BLOCKS = ("p", "li", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td")
_SKIP = ("figure", "figcaption", "aside", "nav", "script", "style", "noscript", "button")


def _objects(data: object) -> Iterator[dict[str, object]]:
    """Every JSON object in a JSON-LD document: top level, lists, ``@graph``, nested values."""
    if isinstance(data, list):
        for item in data:
            yield from _objects(item)
    elif isinstance(data, dict):
        yield data
        for value in data.values():
            if isinstance(value, (dict, list)):
                yield from _objects(value)


def _is_article(obj: dict[str, object]) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k.rsplit("/", 1)[-1] in ARTICLE_TYPES for k in kinds)


def json_ld_bodies(tree: HtmlElement) -> list[tuple[str, ...]]:
    """``articleBody`` of every Article-typed JSON-LD object, as clean paragraphs."""
    bodies = []
    for script in tree.iterfind(".//script"):
        if "ld+json" not in (script.get("type") or "").lower() or not script.text:
            continue
        try:
            data = json.loads(script.text, strict=False)  # raw newlines inside strings occur
        except ValueError:
            continue
        for obj in _objects(data):
            body = obj.get("articleBody")
            if isinstance(body, str) and body.strip() and _is_article(obj):
                bodies.append(split_paragraphs(_plain(body)))
    return [body for body in bodies if body]


#: Keys under which an app's embedded JSON state keeps a story's text.
STATE_KEYS = frozenset({"articleBody", "body", "bodyText", "content", "text"})
#: A state string shorter than this (characters) is a label or teaser, never a whole story.
STATE_MIN_CHARS = 500


def json_state_bodies(tree: HtmlElement) -> list[tuple[str, ...]]:
    """Long text strings in the page's embedded JSON state (``<script type="application/json">``,
    as Next.js and similar apps ship), under keys like ``body`` or ``articleBody``.

    Only plain JSON in a JSON script is read, never JavaScript; a string found here is only a
    candidate, used when :func:`better_body` finds it overlaps the extracted text.
    """
    bodies = []
    for script in tree.iterfind(".//script"):
        if (script.get("type") or "").lower() != "application/json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        for obj in _objects(data):
            for key, value in obj.items():
                if key in STATE_KEYS and isinstance(value, str) and len(value) >= STATE_MIN_CHARS:
                    bodies.append(split_paragraphs(_plain(value)))
    return [body for body in bodies if body]


def microdata_bodies(tree: HtmlElement) -> list[tuple[str, ...]]:
    """The block texts of each ``itemprop="articleBody"`` element, captions and asides left out."""
    bodies = []
    for element in tree.xpath('//*[@itemprop="articleBody"]'):
        paragraphs = []
        for block in element.iter(*_BLOCKS):
            if any(a.tag in _SKIP for a in block.iterancestors()) or _has_block_child(block):
                continue
            text = " ".join(block.text_content().split())
            if text:
                paragraphs.append(text)
        if paragraphs:
            bodies.append(tuple(paragraphs))
    return bodies


def _has_block_child(block: HtmlElement) -> bool:
    """A ``li`` holding ``p`` elements: the inner blocks are the paragraphs."""
    return any(child.tag in _BLOCKS for child in block.iterdescendants())


def _plain(body: str) -> str:
    """Markup and entities out, line breaks in: some bodies are HTML in a JSON string."""
    text = html.unescape(body)
    if "<" in text and ">" in text:
        marked = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h\d|/blockquote)\b[^>]*>", "\n", text)
        try:
            text = fragment_fromstring(marked, create_parent="div").text_content()
        except Exception:  # lxml's errors on a broken fragment vary; fall back to a regex
            text = re.sub(r"<[^>]*>", " ", marked)
    return text.replace("\r", "\n")


def split_paragraphs(text: str) -> tuple[str, ...]:
    """Paragraphs of a plain body: its own line breaks, else sentence groups of a blob."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if any(ch.isalnum() for ch in line)]
    if len(lines) != 1 or len(_WORD.findall(lines[0])) <= BLOB_PARAGRAPH_WORDS * 1.5:
        return tuple(lines)
    paragraphs: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in _SENTENCE_END.split(lines[0]):
        current.append(sentence)
        words += len(_WORD.findall(sentence))
        if words >= BLOB_PARAGRAPH_WORDS:
            paragraphs.append(" ".join(current).strip())
            current, words = [], 0
    if current:
        paragraphs.append(" ".join(current).strip())
    return tuple(p for p in paragraphs if p)


def _shingles(text: str) -> set[tuple[str, ...]]:
    tokens = [t.casefold() for t in _WORD.findall(text)]
    return {tuple(tokens[i : i + 4]) for i in range(max(1, len(tokens) - 3))}


def better_body(
    extracted: Sequence[str], candidates: Sequence[Sequence[str]], min_words: int
) -> tuple[str, ...] | None:
    """The longest declared body that clearly beats the extracted text, or None.

    "Clearly": at least :data:`LONGER_RATIO` times and :data:`LONGER_WORDS` words longer,
    and containing :data:`MIN_OVERLAP` of the extracted text (so a body that describes some
    other article, or a site-wide blurb, never replaces the story). When extraction found
    less than ``min_words``, there is nothing to overlap with, and the declared body wins
    if it has ``min_words`` itself.
    """
    text = "\n".join(extracted)
    words = len(_WORD.findall(text))
    mine = _shingles(text) if words >= min_words else set()
    best: tuple[str, ...] | None = None
    best_words = 0
    for candidate in candidates:
        joined = "\n".join(candidate)
        count = len(_WORD.findall(joined))
        if count < max(words * LONGER_RATIO, words + LONGER_WORDS, min_words):
            continue
        if mine and len(mine & _shingles(joined)) < MIN_OVERLAP * len(mine):
            continue
        if count > best_words:
            best, best_words = tuple(candidate), count
    return best


#: A continuation container must hold at least this many words of paragraphs.
CONTINUATION_WORDS = 40


def continued_body(tree: HtmlElement, extracted: Sequence[str]) -> tuple[str, ...]:
    """Paragraphs of the story's later containers, when ads split its body into several.

    Some templates close the body container for an ad slot and open an identical one (same
    tag, same class) after it; the extractor keeps the first. The container of the last
    extracted paragraph is found in the page; later elements with its exact tag and class,
    holding at least :data:`CONTINUATION_WORDS` words of new paragraphs, are its parts.
    """
    keys = {_key(line) for line in extracted}
    last = _key(extracted[-1]) if extracted else ""
    container = next(
        (p.getparent() for p in tree.iter("p") if last and _key(p.text_content()) == last), None
    )
    if container is None or not container.get("class"):
        return ()
    signature = (container.tag, container.get("class"))
    ancestors = set(container.iterancestors())
    found: list[str] = []
    after = False
    for element in tree.iter(container.tag):
        if element is container:
            after = True
            continue
        if not after or (element.tag, element.get("class")) != signature or element in ancestors:
            continue
        texts = [" ".join(p.text_content().split()) for p in element.iterfind("p")]
        new = [t for t in texts if t and _key(t) not in keys]
        if sum(len(_WORD.findall(t)) for t in new) >= CONTINUATION_WORDS:
            found.extend(new)
            keys.update(_key(t) for t in new)
    return tuple(found)


def _key(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))
