"""The text form of the search index: how stored text and a reader's query become tokens. Pure.

Both backends index the same tokens, computed here rather than by the database's own parser,
so English, German, Hindi, Arabic and Chinese match alike on SQLite and PostgreSQL whatever
the server's locale:

1. NFKC (full-width letters and digits become ordinary ones), then case folding (``ß`` → ``ss``).
2. Accents off Latin, Greek and Cyrillic letters (``München`` → ``munchen``) and the short vowel
   marks and tatweel off Arabic; alef variants become one alef. Devanagari keeps its vowel signs
   and virama: they are part of the word, not decoration.
3. Tokens are runs of letters, digits and combining marks (so a Hindi word is one token).
4. Chinese, Japanese and Korean are written without spaces: a run of those characters becomes
   its overlapping bigrams (``中国经济`` → ``中国 国经 经济``), and a query's run the same
   bigrams as a phrase; a single character is searched as the prefix of a bigram.

A query is plain words and ``"quoted phrases"`` only: every other character is a separator, so
nothing a reader types reaches the database as query syntax (see ``storage.search``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_TERMS = 8  # words and phrases per query: more only slows the search and finds less
MAX_QUERY_CHARS = 200  # what a reader may type; Telegram's inline queries stop at 256
MAX_TOKEN_CHARS = 60  # longer runs are cut, in the index and in queries alike (PostgreSQL
# refuses a lexeme over 2 KiB; no word is that long)
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي"})


def _mark_class() -> str:
    """A regex class of every combining mark (categories Mn, Mc, Me) up to the supplementary
    planes, built once at import (about 50 ms); variation selectors are added by hand."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x20000):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    ranges.append((0xE0100, 0xE01EF))
    return "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


# One character class (fast): letters, digits, marks, and "_", which is split off afterwards.
_TOKEN = re.compile(rf"[\w{_mark_class()}]+")
_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]+"
)
_QUOTED = re.compile(r'"([^"]*)"?')


# Combining marks of Latin, Greek and Cyrillic letters (the blocks of accents). Devanagari's
# and Arabic's marks live in their own blocks, so a Hindi word keeps its vowel signs.
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalise(text: str) -> str:
    """Steps 1 and 2 of the module docstring: what both the index and queries compare."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    plain = unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFD", folded)))
    return _ARABIC_MARKS.sub("", plain).translate(_ALEF)


def _split_cjk(run: str) -> list[str]:
    """A token run with its CJK stretches as bigrams (a lone CJK character stays itself)."""
    out: list[str] = []
    position = 0
    for match in _CJK.finditer(run):
        if match.start() > position:
            out.append(run[position : match.start()])
        chars = match.group()
        out += [chars] if len(chars) == 1 else [chars[i : i + 2] for i in range(len(chars) - 1)]
        position = match.end()
    if position < len(run):
        out.append(run[position:])
    return out


def tokens(text: str) -> list[str]:
    """The index tokens of ``text``, in order (positions matter for phrases)."""
    found: list[str] = []
    text = normalise(text)
    runs = _TOKEN.findall(text.replace("_", " ") if "_" in text else text)
    if text.isascii():
        return [run[:MAX_TOKEN_CHARS] for run in runs]
    for run in runs:
        found += _split_cjk(run) if _CJK.search(run) else [run[:MAX_TOKEN_CHARS]]
    return found


def document(title: str, summary: str) -> list[str]:
    """What one article contributes to the index: its title's tokens, then its summary's."""
    return tokens(f"{title}\n{summary}")


def is_single_cjk(token: str) -> bool:
    """A one-character CJK query token: only the prefix of an indexed bigram can match it."""
    return len(token) == 1 and _CJK.fullmatch(token) is not None


@dataclass(frozen=True, slots=True)
class Phrase:
    """Tokens that must appear in this order, next to each other (one token: a plain word)."""

    tokens: tuple[str, ...]


def parse_query(text: str, max_terms: int = MAX_TERMS) -> tuple[Phrase, ...]:
    """Words and ``"quoted phrases"`` of a reader's query; every term must match.

    A word that the tokenizer splits (``e-mail``, ``中国经济``) is a phrase of its pieces. An
    unclosed quote runs to the end. Anything else (operators, brackets, stars) is a separator.
    Duplicates are dropped; at most ``max_terms`` terms are kept, from the first
    :data:`MAX_QUERY_CHARS` characters.
    """
    text = text[:MAX_QUERY_CHARS]
    terms: list[Phrase] = []
    position = 0
    pieces: list[tuple[str, bool]] = []
    for match in _QUOTED.finditer(text):
        pieces.append((text[position : match.start()], False))
        pieces.append((match.group(1), True))
        position = match.end()
    pieces.append((text[position:], False))
    for piece, quoted in pieces:
        if quoted:
            found = tokens(piece)
            if found:
                terms.append(Phrase(tuple(found)))
            continue
        for word in piece.split():
            found = tokens(word)
            if found:
                terms.append(Phrase(tuple(found)))
    return tuple(dict.fromkeys(terms))[:max_terms]
