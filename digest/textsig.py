"""Text to comparable tokens, for clustering the same story across sources: pure, no I/O.

Steps, in order (:func:`tokenize`):

1. Bound the work: only the first :data:`MAX_CHARS` characters count, so a feed that stuffs a
   whole article into its summary costs a few hundred µs at most. The bound is generous on
   purpose: a long text's many tokens dilute its Dice score against a short story, whereas a
   tight cut would leave a dense excerpt that "contains" every story it mentions.
2. Fold the text to one form: NFKC (full-width digits, ligatures), casefold, then drop the
   marks that vary between sources of the same story without changing the word: Latin accents
   ("Québec" = "Quebec"), Arabic harakat, hamza seats and tatweel (so أ إ آ become ا), the
   Devanagari nukta (ज़ = ज) and chandrabindu (ँ = ं). ة becomes ه and ى becomes ي, the
   usual Arabic light normalisation. Arabic-Indic and Devanagari digits become ASCII.
3. Cut into tokens. Numbers are strong signals (scores, tolls, rates), so they are kept:
   ``2.25``, ``2,25`` and ``225`` are one token (decimal and thousands separators differ by
   language, and a false collision needs the rest of the text to agree too); a score or ratio
   (``3-1``, ``3:1``) is one token. Han and kana have no spaces, so a run of them becomes its
   overlapping character bigrams, after splitting it at function characters (的, 了, 在 …) that
   would otherwise glue neighbouring words into noise bigrams (a lone character gives none).
   Every other script is split at anything that is not a letter, a mark or a digit (``\\w``
   alone would split Hindi words at their vowel signs, which are marks).
4. Drop stopwords (short hand-written lists per language, plus newsroom boilerplate such as
   "live", "video", "updates") and one-letter words; strip inflection with a light stemmer per
   language, so "rates"/"rate", "Wahlen"/"Wahl", "انتخابات"/"الانتخابات" meet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

MAX_CHARS = 4_000

_MARKS = re.compile(
    "[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u093c"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
_FOLD = str.maketrans(
    {
        "ة": "ه",
        "ى": "ي",
        "ٱ": "ا",
        "ँ": "ं",
        "٫": ".",  # Arabic decimal separator
        "٬": ",",  # Arabic thousands separator
        "।": " ",
        "_": " ",
        "॥": " ",
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern Arabic-Indic digits
        **{chr(0x0966 + d): str(d) for d in range(10)},  # Devanagari digits
    }
)
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Letters and marks of the Indic blocks are word characters even where ``\w`` says no.
_INDIC = "\u0900-\u0963\u0966-\u0dff"
# A number, or a score/ratio of two ("3-1", "3 : 1", "3比1"). Matched first and cut out, so
# that the word pass below is one simple character class (alternations cost 2x in ``re``).
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)(?:\s?[:\-–比]\s?(\d+(?:[.,]\d+)*))?")
_CHUNK = re.compile(rf"[\w{_INDIC}]+")
_CJK_ANY = re.compile(f"[{_CJK}]")
_CJK_RUN = re.compile(f"([{_CJK}]+)")
# Chinese wire datelines ("3月11日电") and clock times mention the day, not the story.
_ZH_DATE = re.compile(r"\d+\s?(?:年|月|日|时|点|分)")
_ZH_STOP_CHARS = re.compile(
    "[的了是在与及将已被把也都并其之这该着从而或且就又还但等向让给吗呢吧啊据称]"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "a an the and or but nor of to in on at by for from with as into over after before "
        "about against between during under amid than then is are was were be been being has "
        "have had will would can could may might must shall should do does did not no its it "
        "this that these those he she they we you his her their our who whom which what when "
        "where why how all any some more most new says said say live updates update video "
        "watch breaking news report reports latest here there also just up out off am pm"
    ),
    "de": _words(
        "der die das den dem des ein eine einer eines einem einen und oder aber doch in im an "
        "am auf aus bei mit nach von vom zu zum zur für über unter vor gegen ohne um durch bis "
        "seit ist sind war waren wird werden wurde wurden hat haben hatte sein nicht kein keine "
        "auch noch nur schon so wie als wenn dass sich er sie es wir ihr man was wer wo mehr "
        "neue neuer neues live ticker liveticker video news"
    ),
    "fr": _words(
        "le la les un une des du de d l au aux et ou mais donc or ni car en dans sur sous par "
        "pour avec sans chez entre vers apres avant contre selon pendant depuis est sont etait "
        "sera ont a avait ete etre avoir ne pas plus ce cet cette ces se sa son ses leur leurs "
        "il elle ils elles on nous vous qui que quoi dont ou y tout tous comme aussi direct "
        "video nouveau nouvelle"
    ),
    "hi": _words(
        "का के की को में से पर ने और या भी तो ही है हैं था थे थी थीं हो होगा होगी होंगे हुआ हुई "
        "हुए कर करने करते किया किए कि यह वह ये वे इस उस इन उन एक लिए साथ बाद पहले तक जो जब "
        "अब कहा बताया गया गई गए रहा रही रहे दिया दी लाइव वीडियो खबर ताजा अपडेट नहीं बड़ा बड़ी"
    ),
    "ar": _words(
        "في من على إلى الى عن مع أن ان إن لا لم لن ما هذا هذه ذلك تلك التي الذي الذين هو هي "
        "هم كان كانت يكون قد بعد قبل بين حول خلال عند منذ حتى أو او ثم كل أي غير بعض عبر ضد "
        "وفي ومن وعلى كما لدى إلا أمام فيه فيها عليه عليها له لها قال قالت عاجل فيديو مباشر "
        "اليوم يوم"
    ),
    # Han text is cut at _ZH_STOP_CHARS first; these are bigrams that survive and say nothing.
    "zh": _words(
        "我们 他们 一个 没有 可以 进行 表示 目前 今天 日电 记者 报道 消息 视频 直播 快讯 最新 "
        "新闻 当地 时间 方面 有关 相关 已经 正在 因为 所以 如果 通过 关于 以及 对于 其中"
    ),
}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold()
    text = _MARKS.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", text.translate(_FOLD))


def normalise(text: str) -> str:
    """``text`` folded as in step 2: what two sources' spellings of one word have in common."""
    return _fold(text)


def _stem_en(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiou":
        w = w[:-1]  # "cutt(ing)" = "cut", "kill" = "kil": both sides fold the same way
    return w


def _stem_de(w: str) -> str:
    # The loop of CISTEM (Weissweiler & Fraser 2017), without its character substitutions.
    while len(w) > 4:
        if len(w) > 5 and w.endswith(("em", "er", "nd")):
            w = w[:-2]
        elif w[-1] in "enst":
            w = w[:-1]
        else:
            break
    return w


def _stem_fr(w: str) -> str:
    if len(w) > 3 and w[-1] in "sx":
        w = w[:-1]
    if len(w) > 4 and w.endswith(("er", "ez")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


_HI_SUFFIXES = _words(
    "ाएंगी ाएंगे ाऊंगी ाऊंगा ाइयां ाइयों ियों ियां ाएं ुओं ुएं ाओं ाना ाने ानी ाता ाती ाते ाया ाए ों ें ीं ां ो े ू ु ी ि ा"
)
_HI_LENGTHS = sorted({len(x) for x in _HI_SUFFIXES}, reverse=True)


def _stem_hi(w: str) -> str:
    # Light stemmer after Ramanathan & Rao (2003): strip the longest inflectional suffix.
    for n in _HI_LENGTHS:
        if len(w) - n >= 2 and w[-n:] in _HI_SUFFIXES:
            return w[:-n]
    return w


_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_AR_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")


def _stem_ar(w: str) -> str:
    # Light10 (Larkey et al. 2007), simplified: one article/conjunction prefix, then suffixes.
    if len(w) > 3 and w.startswith("و"):
        w = w[1:]
    for prefix in _AR_PREFIXES:
        if w.startswith(prefix) and len(w) - len(prefix) >= 2:
            w = w[len(prefix) :]
            break
    for suffix in _AR_SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 2:
            w = w[: -len(suffix)]
    return w


def _no_stem(w: str) -> str:
    return w


_STEMMERS: dict[str, Callable[[str], str]] = {
    "en": _stem_en,
    "de": _stem_de,
    "fr": _stem_fr,
    "hi": _stem_hi,
    "ar": _stem_ar,
}
# Stopwords are folded like the text they are matched against.
_STOP = {lang: frozenset(_fold(w) for w in words) for lang, words in STOPWORDS.items()}


def _bigrams(run: str) -> list[str]:
    tokens: list[str] = []
    for part in _ZH_STOP_CHARS.split(run):
        tokens.extend(part[i : i + 2] for i in range(len(part) - 1))
    return tokens


@lru_cache(maxsize=4_096)
def _word(language: str, word: str) -> str | None:
    """The token for one folded word, or None for a stopword (cached: news repeats words).

    4,096 entries hit 75 % of the words of 50,000 generated stories (16,384: 90 %, 65,536:
    95 %) for no measurable CPU in a cold Related build (5.5 s either way), and hold about
    1 MiB where 16,384 held 4 and 65,536 held 16: memory the bot keeps for good, and whose
    scattered entries keep the allocator from giving back what the build freed around them
    (5 MiB less resident after the build, ``python -m bench.memory``)."""
    if len(word) < 2 or word in _STOP.get(language, ()):
        return None
    return _STEMMERS.get(language, _no_stem)(word)


def _number_tokens(m: re.Match[str], out: list[str]) -> str:
    first, second = m.group(1), m.group(2)
    if second is None:
        out.append(first.replace(".", "").replace(",", ""))
    elif len(first) <= 3 and len(second) <= 3 and first.isdigit() and second.isdigit():
        out.append(f"{first}-{second}")
    else:  # "2025-26", "1.5-2.0": two numbers, not a score
        out.append(first.replace(".", "").replace(",", ""))
        out.append(second.replace(".", "").replace(",", ""))
    return " "


def tokenize(text: str, language: str) -> list[str]:
    """Content tokens of ``text``, words first, then numbers (duplicates kept).

    ``language`` picks the stopword list and stemmer; an unknown code gets neither, which is
    safe (only noisier). Numbers are returned as digit strings (``"225"``, ``"3-1"``).
    """
    lang = language.casefold().split("-")[0]
    folded = _fold(text)
    if lang == "zh":
        folded = _ZH_DATE.sub(" ", folded)
    numbers: list[str] = []
    rest = _NUMBER.sub(lambda m: _number_tokens(m, numbers), folded)
    out: list[str] = []
    cjk = _CJK_ANY.search(rest) is not None
    for chunk in _CHUNK.findall(rest):
        if cjk and _CJK_ANY.search(chunk):
            for i, part in enumerate(_CJK_RUN.split(chunk)):
                if i % 2:  # the odd parts of a split on a capturing group are the runs
                    out.extend(b for b in _bigrams(part) if b not in _STOP.get(lang, ()))
                elif part:
                    token = _word(lang, part)
                    if token:
                        out.append(token)
        else:
            token = _word(lang, chunk)
            if token:
                out.append(token)
    return out + numbers


_WORD = re.compile(r"[^\W\d_][\w\-'’]*")
_LATIN_NAME = re.compile(r"(?<![\w])[A-Za-z][A-Za-z\-]*[A-Za-z]")
_SENTENCE_END = frozenset('.!?:;"“”«»|–—')
_CASED = frozenset({"en", "de", "fr"})


def _title_case(text: str) -> bool:
    """Whether most words of ``text`` are capitalised ("Oil Prices Surge Above $100"): a
    headline style, in which a capital says nothing about a name."""
    words = [w for w in _WORD.findall(text) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) * 3 >= len(words) * 2


def _capitalised(text: str) -> list[str]:
    """Words written with a capital that does not just open a sentence."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        word = m.group()
        if not word[0].isupper():
            continue
        i = m.start() - 1
        while i >= 0 and text[i].isspace():
            i -= 1
        if i < 0 or text[i] in _SENTENCE_END:
            continue
        out.append(word)
    return out


def anchors(title: str, summary: str, language: str) -> frozenset[str]:
    """The tokens of ``title`` and ``summary`` that name something: words written with a
    capital that does not open a sentence (persons, places, organisations; in German
    every noun, still narrower than the text). A title in Title Case counts only for the words
    the summary capitalises too. Scripts without case (Hindi, Arabic, Chinese) have only the
    numbers and the words written in Latin letters ("ISRO", "Nvidia"), which is also what two
    languages can share. Numbers are not included: :func:`is_number` finds them among the
    tokens. Why: two reports of one event share its names and numbers, while a
    shared verb or noun ("attack", "rates") is as likely to be another event on the subject.
    """
    lang = language.casefold().split("-")[0]
    words = _name_words(title, summary, lang)
    return frozenset(t for t in tokenize(" ".join(words), lang) if not is_number(t))


def _name_words(title: str, summary: str, lang: str) -> list[str]:
    if lang not in _CASED:
        return _LATIN_NAME.findall(f"{title} {summary}")
    words = _capitalised(summary)
    if not _title_case(title):
        words += _capitalised(title)
        # The title's first word opens a sentence, but is often the name ("Rutte: ...").
        first = _WORD.search(title)
        if first and first.group()[0].isupper() and first.group() in summary:
            words.append(first.group())
    return words


def title_case_words(
    title: str, summary: str, language: str, names: frozenset[str] | None = None
) -> frozenset[str]:
    """The tokens of the capitalised words of a title written in Title Case ("States Sue to
    Stop Trump From Reviving Steep Tariffs") that :func:`anchors` does not already count as
    names; empty for other titles and for scripts without case.

    Why: in such a headline every word is capitalised, so a capital says nothing on its own
    and :func:`anchors` keeps only the words the summary capitalises too; a terse summary
    ("The lawsuit filed by two dozen attorneys general ...") then leaves the headline's names
    unknown. These are the words that may be names: :mod:`digest.cluster` counts one as a name
    only when the other story's title names it (capitalised mid-sentence), which settles it.
    ``names``: :func:`anchors` of the story when the caller has them (saves finding them again).
    """
    lang = language.casefold().split("-")[0]
    if lang not in _CASED or not _title_case(title):
        return frozenset()
    words = [w for w in _WORD.findall(title) if w[0].isupper()]
    found = anchors(title, summary, lang) if names is None else names
    tokens = tokenize(" ".join(words), lang)
    return frozenset(t for t in tokens if not is_number(t) and t not in found)


_ASCII_WORD = re.compile(r"[a-z][a-z\-]*[a-z]")


def name_keys(title: str, summary: str, language: str) -> frozenset[str]:
    """The names of :func:`anchors` as written in Latin letters, folded but not stemmed
    ("Québec" and "Quebec" are ``quebec``), so that two languages can compare them: stemmers
    differ by language ("Ukraine" is ``ukrain`` in English, ``ukrai`` in German), a name does
    not. Names in other scripts give none: transliterations differ too much to match."""
    words = _name_words(title, summary, language.casefold().split("-")[0])
    keys = (_fold(w) for w in words)
    return frozenset(k for k in keys if len(k) > 2 and _ASCII_WORD.fullmatch(k))


def names_and_keys(
    title: str, summary: str, language: str
) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`anchors` and :func:`name_keys` at once, finding the name words once."""
    lang = language.casefold().split("-")[0]
    joined = " ".join(_name_words(title, summary, lang))
    keys = _fold(joined).split()
    latin = frozenset(k for k in keys if len(k) > 2 and _ASCII_WORD.fullmatch(k))
    return frozenset(t for t in tokenize(joined, lang) if not is_number(t)), latin


def is_number(token: str) -> bool:
    """Whether ``token`` is a number or score token (they weigh more in similarity)."""
    return token[:1].isdigit()
