"""What a reader muted, applied to stories: a source, or a word anywhere in title or summary.

Pure. Muted sources leave the reader's selection (:func:`without_sources`), so a digest is
ranked over the sources they still read and a muted publisher never shows up as "also covered
by" either; muted words drop a story whose title or summary contains one as whole words
(:func:`is_muted`, the same matching as followed phrases, ``digest.phrases``). Readers with no
mutes keep their plain selection: they share rankings and digests with everyone alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

from digest.phrases import contains, text_key, tokens
from digest.rank import RankedStory
from digest.reader_selection import Selection
from storage.mutes import NO_MUTES, MuteSet

__all__ = [
    "NO_MUTES",
    "MuteSet",
    "distinctive_words",
    "drop_muted",
    "is_muted",
    "muted_text",
    "without_sources",
]

_S = TypeVar("_S", bound=RankedStory)
# Words too common to say anything about a story: never offered by "Fewer like this".
_COMMON_WORDS = (
    "a an and are as at be by for from has have in into is it its of on or over says than "
    "that the their this to up was were what when who will with after new more about "
    "le la les des du de et un une en pour sur dans au aux est "
    "der die das und ein eine mit für von auf im ist den dem des zu nach "
    "و في من على إلى عن مع أن هذا هذه "
    "का की के है में से को और पर ने यह"
)
_COMMON = frozenset(_COMMON_WORDS.split())


def is_muted(title: str, summary: str, source_id: str, muted: MuteSet) -> bool:
    """Whether a story from ``source_id`` with this title and summary is muted for a reader."""
    if source_id in muted.sources:
        return True
    if not muted.words:
        return False
    return muted_text(text_key(title, summary), source_id, muted)


def muted_text(text: str, source_id: str, muted: MuteSet) -> bool:
    """:func:`is_muted` for a story whose ``text_key`` is already at hand (alerts read each
    story's text once per pass, whatever the number of readers)."""
    if source_id in muted.sources:
        return True
    return any(contains(text, word) for word in muted.words)


def without_sources(selection: Selection, muted: frozenset[str]) -> Selection:
    """``selection`` without the muted sources (the same object when nothing is muted, so
    readers without mutes keep sharing one ranking)."""
    if not muted or not (selection.source_ids & muted):
        return selection
    return replace(
        selection,
        source_ids=selection.source_ids - muted,
        primary_sources=selection.primary_sources - muted,
    )


def drop_muted(stories: Sequence[_S], muted: MuteSet) -> list[_S]:
    """The stories a reader has not muted, in order."""
    if not muted.sources and not muted.words:
        return list(stories)
    return [
        s
        for s in stories
        if not is_muted(s.article.title, s.article.summary, s.article.source_id, muted)
    ]


def distinctive_words(title: str, limit: int = 3, taken: Iterable[str] = ()) -> list[str]:
    """The title's words a reader is most likely to mean by "Fewer like this": the longest
    ones that are not common words, digits or already muted, in title order."""
    skip = set(taken)
    seen: list[str] = []
    for word in tokens(title):
        if word in _COMMON or word in skip or word.isdigit() or len(word) < 3 or word in seen:
            # a Han character is a word of its own: one alone says little
            continue
        seen.append(word)
    chosen = sorted(seen, key=len, reverse=True)[:limit]
    return [w for w in seen if w in chosen]
