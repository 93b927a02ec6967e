"""Right-to-left text that stays readable when Latin names and numbers sit inside it.

Telegram lays out each message by its first strong character and runs the Unicode bidirectional
algorithm over the rest. In an Arabic sentence a Latin source name ("BBC News"), a timezone
("Europe/Berlin"), a URL or a run of numbers and punctuation ("22:00–07:00", "3 / 10") can pull
neighbouring words and punctuation to the wrong side. Wrapping each such value in a First Strong
Isolate (U+2068) … Pop Directional Isolate (U+2069) pair makes it one neutral block that is laid
out on its own, so the Arabic around it keeps its order. A message that could start with Latin
text (a digest's first story title) gets a leading Right-to-Left Mark, so it is laid out right
to left as a whole.

Only right-to-left interface languages are touched: every other language gets its text back
unchanged, so English, German, Hindi, Chinese and French messages are byte for byte as before.
The marks are invisible, count one UTF-16 unit each toward Telegram's limits (callers measure
after wrapping), and contain nothing HTML needs escaped.
"""

from __future__ import annotations

import unicodedata

from views.i18n import text_direction

FSI = "\u2068"  # FIRST STRONG ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
RLM = "\u200f"  # RIGHT-TO-LEFT MARK
_LTR_OR_NUMBER = frozenset({"L", "EN", "AN"})


def is_rtl(ui_language: str) -> bool:
    return text_direction(ui_language) == "rtl"


def needs_isolate(text: str) -> bool:
    """True when ``text`` has a left-to-right letter or a digit (which could reorder)."""
    return any(unicodedata.bidirectional(ch) in _LTR_OR_NUMBER for ch in text)


def isolate(text: str, ui_language: str) -> str:
    """``text`` as one isolated run inside right-to-left text; unchanged otherwise.

    Values without Latin letters or digits (an Arabic country name) need nothing; text already
    isolated is not wrapped twice."""
    if not text or not is_rtl(ui_language) or not needs_isolate(text):
        return text
    if text.startswith(FSI) and text.endswith(PDI):
        return text
    return f"{FSI}{text}{PDI}"


def isolate_all(values: list[str], ui_language: str) -> list[str]:
    return [isolate(value, ui_language) for value in values]


def rtl_start(text: str, ui_language: str) -> str:
    """A whole message for a right-to-left reader: starts with an RLM so Telegram lays it out
    right to left even when its first letters are Latin (a story title). Unchanged otherwise."""
    if not is_rtl(ui_language) or text.startswith(RLM):
        return text
    return RLM + text
