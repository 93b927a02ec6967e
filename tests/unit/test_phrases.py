"""Followed phrases and muted words: plain-word matching per script, with both matchers."""

from __future__ import annotations

import pytest

from digest.mutes import distinctive_words, is_muted
from digest.phrases import PhraseMatcher, phrase_key, text_key, tokens
from storage.mutes import MuteSet

BOTH = pytest.mark.parametrize("automaton", [True, False], ids=["aho-corasick", "token-index"])


def found(phrases: list[str], title: str, automaton: bool, summary: str = "") -> set[str]:
    keys = [k for p in phrases if (k := phrase_key(p)) is not None]
    return PhraseMatcher(keys, use_automaton=automaton).match(text_key(title, summary))


@BOTH
def test_case_and_accents_do_not_matter(automaton: bool) -> None:
    assert found(["Café Society"], "CAFE society reopens", automaton) == {"cafe society"}
    assert found(["zurich"], "Zürich votes on housing", automaton) == {"zurich"}
    assert found(["Straße"], "Die STRASSE ist gesperrt", automaton) == {"strasse"}


@BOTH
def test_a_phrase_matches_whole_words_only(automaton: bool) -> None:
    assert found(["art"], "Start-ups restart their party", automaton) == set()
    assert found(["art"], "Modern art fair: ART, again", automaton) == {"art"}
    assert found(["new york"], "New-York marathon", automaton) == {"new york"}
    assert found(["new york"], "A new yorker cartoon", automaton) == set()
    assert found(["york new"], "New York", automaton) == set()


@BOTH
def test_hindi_words_stay_whole(automaton: bool) -> None:
    title = "दिल्ली में चुनाव के नतीजे घोषित"
    assert tokens(title)[0] == "दिल्ली"  # \w alone would split it at every vowel sign
    assert found(["चुनाव"], title, automaton) == {"चुनाव"}
    assert found(["दिल्ली में"], title, automaton) == {"दिल्ली में"}
    assert found(["दिल"], title, automaton) == set()


@BOTH
def test_arabic_ignores_short_vowels_and_alef_forms(automaton: bool) -> None:
    assert found(["الانتخابات"], "نتائج الإنتخابات في قطر", automaton) == {"الانتخابات"}
    assert found(["قطر"], "أمير قَطَر يزور", automaton) == {"قطر"}
    assert found(["قطر"], "قطرات المطر", automaton) == set()


@BOTH
def test_chinese_matches_characters_in_a_row(automaton: bool) -> None:
    assert found(["北京"], "在北京举行的会议", automaton) == {"北 京"}
    assert found(["北京"], "北方的京剧", automaton) == set()
    assert found(["iPhone 发布"], "苹果iPhone发布会", automaton) == {"iphone 发 布"}


@BOTH
def test_many_phrases_one_pass(automaton: bool) -> None:
    phrases = ["climate", "climate summit", "summit", "oil", "art"]
    title = "Climate summit ends; oil prices fall"
    assert found(phrases, title, automaton) == {"climate", "climate summit", "summit", "oil"}
    assert found(phrases, "nothing here", automaton) == set()
    assert found([], "Climate", automaton) == set()


def test_phrase_keys_refuse_what_is_no_phrase() -> None:
    assert phrase_key("  Climate   SUMMIT ") == "climate summit"
    assert phrase_key("!!! ...") is None
    assert phrase_key("one two three four five six seven eight nine") is None


def test_mutes_by_source_and_by_word() -> None:
    muted = MuteSet(frozenset({"tabloid"}), ("celebrity", "royal baby"))
    assert is_muted("Anything", "", "tabloid", muted)
    assert is_muted("Celebrity chef opens", "", "alpha", muted)
    assert is_muted("News", "The royal baby is named", "alpha", muted)
    assert not is_muted("Royal navy baby steps", "", "alpha", muted)
    assert not is_muted("Celebrations in town", "", "alpha", muted)
    assert not is_muted("Celebrity", "", "alpha", MuteSet())


def test_fewer_like_this_offers_the_telling_words() -> None:
    words = distinctive_words("The Government announces a new budget for 2027")
    assert words == ["government", "announces", "budget"]
    assert "budget" not in distinctive_words("Budget talks", taken=["budget"])
