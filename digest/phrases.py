"""Followed phrases and muted words: plain words matched in story text, never regular expressions.

Why plain words: a reader's pattern must never cost more than reading the story once (the
leading RSS bots refuse filters for fear of ReDoS). Matching is on *tokens*, per script:

1. **Normalise** (:func:`normalize`): NFKD, Latin/Greek/Cyrillic accents dropped (U+0300–036F:
   ``Café`` is ``cafe``), Arabic short vowels and tatweel dropped and the alef forms folded
   (``أ إ آ`` → ``ا``), then NFC and ``casefold`` (``Straße`` is ``strasse``). Devanagari keeps
   its vowel signs: they are letters there, not accents.
2. **Tokenise** (:func:`tokens`): runs of letters, digits and combining marks (so a Hindi word
   stays one token: Python's ``\\w`` alone splits it at every vowel sign); each Han, kana
   character is a token of its own, since Chinese has no spaces between words.
3. **Match** a phrase as a run of whole consecutive tokens: ``art`` never matches ``start``,
   ``new york`` matches "New-York" and "new york", and ``北京`` matches inside ``在北京举行``
   (two consecutive Han tokens).

:class:`PhraseMatcher` holds every followed phrase of every reader at once and scans each story
once: an Aho–Corasick automaton over ``" token token "`` keys (``pyahocorasick``) when it is
installed, else a token index (first token → the phrases starting with it). It is built once per
fetch pass, never per reader or per story.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

try:  # optional speed-up; the token index below gives the same answers
    import ahocorasick as _aho
except ImportError:  # pragma: no cover - exercised by forcing ``use_automaton=False``
    _aho = None

MAX_PHRASE_CHARS = 50
MAX_PHRASE_TOKENS = 8

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_INDIC = "\u0900-\u0963\u0966-\u0dff"  # letters, digits and signs of the Indic blocks (no danda)
_TOKEN = re.compile(rf"[{_CJK}]|(?:[^\W_{_CJK}]|[{_INDIC}])+")
_DROPPED = {c: None for c in range(0x0300, 0x0370)}
_DROPPED.update({c: None for c in range(0x064B, 0x0660)})  # Arabic harakat
_DROPPED.update({0x0640: None, 0x0670: None})  # tatweel, superscript alef
_DROPPED.update({c: None for c in range(0x0610, 0x061B)})
_FOLDED = {ord(a): "ا" for a in "أإآٱ"} | {ord("ى"): "ي"}
_TABLE: dict[int, Any] = {**_DROPPED, **_FOLDED}


def normalize(text: str) -> str:
    """Case- and accent-free text, per script (see the module docstring)."""
    decomposed = unicodedata.normalize("NFKD", text).translate(_TABLE)
    return unicodedata.normalize("NFC", decomposed).casefold()


def tokens(text: str) -> list[str]:
    """The normalised tokens of ``text``, in order."""
    return _TOKEN.findall(normalize(text))


def phrase_key(text: str) -> str | None:
    """The stored, comparable form of a phrase (tokens joined by one space), or None when it
    has no word at all or is longer than a phrase may be."""
    found = tokens(text)
    if not found or len(found) > MAX_PHRASE_TOKENS:
        return None
    return " ".join(found)


def text_key(title: str, summary: str = "") -> str:
    """A story's text as the matcher reads it: its tokens, space-separated and space-framed
    (the frame makes every match a whole-token match)."""
    return " " + " ".join(tokens(f"{title}\n{summary}")) + " "


def contains(text: str, key: str) -> bool:
    """Whether a ``text_key`` contains the phrase ``key`` as whole tokens (one phrase)."""
    return f" {key} " in text


class PhraseMatcher:
    """Every followed phrase at once; :meth:`match` reads a story's ``text_key`` once."""

    def __init__(self, keys: Iterable[str], *, use_automaton: bool = True) -> None:
        unique = sorted(set(keys))
        self.size = len(unique)
        self._automaton: Any = None
        self._index: dict[str, list[tuple[str, ...]]] = {}
        if use_automaton and _aho is not None:
            automaton = _aho.Automaton()
            for key in unique:
                automaton.add_word(f" {key} ", key)
            if unique:
                automaton.make_automaton()
                self._automaton = automaton
            return
        for key in unique:
            parts = tuple(key.split(" "))
            self._index.setdefault(parts[0], []).append(parts)

    def match(self, text: str) -> set[str]:
        """The phrases found in ``text`` (a :func:`text_key`)."""
        if self._automaton is not None:
            return {key for _end, key in self._automaton.iter(text)}
        if not self._index:
            return set()
        found: set[str] = set()
        words = text.split()
        index = self._index
        for position, word in enumerate(words):
            candidates = index.get(word)
            if candidates is None:
                continue
            for parts in candidates:
                if tuple(words[position : position + len(parts)]) == parts:
                    found.add(" ".join(parts))
        return found
