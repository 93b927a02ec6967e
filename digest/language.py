"""Which of our languages a piece of text is in, when the feed does not say or says wrong.

Feeds mix languages (a Hindi outlet's feed with English stories; an Arabic site's English
section). Telling Latin-script languages apart needs a model we do not ship, but the script
alone separates Hindi, Arabic and Chinese from the rest, which is the mix that happens in practice.
"""

from __future__ import annotations

_SCRIPTS = (
    ("hi", 0x0900, 0x097F),  # Devanagari
    ("ar", 0x0600, 0x06FF),  # Arabic
    ("ar", 0x0750, 0x077F),  # Arabic Supplement
    ("zh", 0x4E00, 0x9FFF),  # CJK Unified Ideographs
    ("zh", 0x3400, 0x4DBF),  # CJK Extension A
)
_NON_LATIN = {"hi", "ar", "zh"}


def script_language(text: str) -> str | None:
    """The language a non-Latin script implies, "latin" for Latin text, None if unclear."""
    counts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        code = ord(char)
        for language, low, high in _SCRIPTS:
            if low <= code <= high:
                counts[language] = counts.get(language, 0) + 1
                break
        else:
            if code < 0x0250:
                counts["latin"] = counts.get("latin", 0) + 1
    if letters < 3 or not counts:
        return None
    best, count = max(counts.items(), key=lambda kv: kv[1])
    return best if count * 2 > letters else None


def article_language(text: str, source_language: str) -> str:
    """The language to file an entry under: the source's, unless the script says otherwise.

    Latin text from a Hindi, Arabic or Chinese outlet is filed as English: that is the language
    those outlets mix in. A feed's own language tag is not trusted; too many are copy-pasted.
    """
    script = script_language(text)
    if script in _NON_LATIN:
        return script
    if script == "latin" and source_language in _NON_LATIN:
        return "en"
    return source_language
