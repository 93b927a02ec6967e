"""The pseudo-words the generated benchmark corpora are made of (``bench.ingest``,
``bench.related``): syllables in each language's script, and a few real function words."""

from __future__ import annotations


def _split(words: str) -> list[str]:
    return words.split()


SYLLABLES: dict[str, list[str]] = {
    "en": _split(
        "ba be bi bo bu ca co da de di do fa fe fi fo ga go ha he hi ho ka ke la le li lo lu "
        "ma me mi mo na ne ni no pa pe pi po ra re ri ro ru sa se si so ta te ti to va ve vi "
        "wa we wi ton ger man ley son ter ble ing ment"
    ),
    "de": _split(
        "ba be bi bo ka ke ko la le li lo ma me mi na ne ni ra re ri sa se so ta te ti "
        "wa we wi zu zei ber ger schaft lung keit heit stra sch ün ä ö"
    ),
    "fr": _split(
        "ba be bi bo ca co da de di ga gé la le li lo ma me mi na né ni pa pe ra ré ri "
        "sa se ta té ti va vé tion ment eau oux ier è"
    ),
    "hi": [c + v for c in "कखगचजटडतदनपबमयरलवसह" for v in ("", "ा", "ि", "ी", "ु", "े", "ो")],
    "ar": list("بتثجحخدذرزسشصضطظعغفقكلمنهوي"),
    "zh": [chr(0x4E00 + (i * 37) % 0x5000) for i in range(1500)],
}
FUNCTION_WORDS: dict[str, list[str]] = {
    "en": ["the", "of", "in", "to", "a", "and", "on", "for", "with", "after"],
    "de": ["der", "die", "das", "und", "in", "den", "mit", "nach", "für"],
    "fr": ["le", "la", "les", "de", "des", "et", "à", "pour", "après"],
    "hi": ["के", "में", "की", "है", "और", "से", "को", "ने"],
    "ar": ["في", "من", "على", "إلى", "عن", "بعد"],
    "zh": ["的", "了", "在", "是", "和"],
}
