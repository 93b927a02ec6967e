"""digest.cluster and digest.textsig: tokens per script, the hard rules, and the labelled set."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.cluster import load_labelled, same_language, score
from digest.cluster import (
    ClusterIndex,
    ClusterParams,
    StoryText,
    cluster_all,
    find_cluster,
    signature,
    similarity,
)
from digest.textsig import normalise, tokenize

T0 = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
TITLE = "Bank of Canada cuts key interest rate to 2.25%"
SUMMARY = "The central bank lowered its policy rate by a quarter point, citing weak hiring."


def story(
    id: int,
    source: str = "cbc",
    *,
    language: str = "en",
    title: str = TITLE,
    summary: str = SUMMARY,
    at: datetime = T0,
) -> StoryText:
    return StoryText(id, source, language, title, summary, at)


# --- tokens ---------------------------------------------------------------------------------


def test_chinese_becomes_bigrams_split_at_function_characters() -> None:
    tokens = tokenize("美联储维持利率不变的决定", "zh")
    assert {"美联", "联储", "利率", "不变"} <= set(tokens)
    assert not any("的" in t for t in tokens)  # 的 splits the run, so no "变的"/"的决"
    assert tokenize("孙颖莎3比1战胜", "zh")[-1] == "3-1"  # 3比1 is a score, like 3:1


def test_chinese_dateline_dates_are_not_tokens() -> None:
    assert "11" not in tokenize("新华社北京3月11日电 会议闭幕", "zh")


def test_arabic_diacritics_tatweel_and_letter_forms_fold_away() -> None:
    assert normalise("مُحَمَّد") == normalise("محمد")
    assert normalise("كـــتاب") == normalise("كتاب")
    assert normalise("أحمد إبراهيم آمنة") == "احمد ابراهيم امنه"
    # The article, a conjunction and the plural ending fold to one stem.
    assert tokenize("والانتخابات", "ar") == tokenize("انتخابات", "ar")
    assert tokenize("٣-١ «الأهلي»، الدوحة؛ لماذا؟", "ar") == tokenize(
        "3-1 الاهلي الدوحه لماذا", "ar"
    )


def test_devanagari_words_stay_whole_and_fold_nukta_and_digits() -> None:
    # ``\w`` alone would cut these words at their vowel signs.
    assert tokenize("भारतीय रिज़र्व बैंक।", "hi") == ["भारतीय", "रिजर्व", "बैंक"]
    assert tokenize("रिज़र्व", "hi") == tokenize("रिजर्व", "hi")
    assert tokenize("रेपो रेट ५.२५ प्रतिशत", "hi")[-1] == "525"
    assert tokenize("में की के से", "hi") == []  # stopwords


def test_numbers_are_kept_and_written_one_way() -> None:
    assert tokenize("2.25%", "en") == tokenize("2,25 %", "fr") == ["225"]
    assert tokenize("Bayern gewinnt 3:1", "de")[-1] == tokenize("Bayern win 3-1,", "en")[-1]
    assert tokenize("100,000 without power", "en")[-1] == "100000"
    assert "2025" in tokenize("the 2025-26 season", "en")  # a year span is not a score


def test_punctuation_of_every_script_is_dropped() -> None:
    text = "“Quoted” «guillemets» ？！ ، ؛ । — …"
    assert tokenize(text, "en") == ["quot", "guillemet"]
    assert tokenize("", "en") == tokenize("?!…", "fr") == []


def test_latin_accents_stopwords_and_stems() -> None:
    assert tokenize("Québec élections", "fr") == tokenize("Quebec election", "fr")
    assert tokenize("The rates were cut", "en") == tokenize("rate cutting", "en")
    assert tokenize("Wahlen", "de") == tokenize("Wahl", "de")
    assert tokenize("xyz words", "xx") == ["xyz", "words"]  # unknown language: no stopwords


# --- the hard rules -------------------------------------------------------------------------


def test_identical_story_from_another_source_joins() -> None:
    assert find_cluster(story(2, "ctv"), [(story(1, "cbc"), 7)]) == 7


def test_never_joins_the_same_source() -> None:
    assert find_cluster(story(2, "cbc"), [(story(1, "cbc"), 7)]) is None


def test_not_across_languages_on_one_name_and_a_number() -> None:
    """Across languages only names and numbers are compared: "Canada" and 2.25 are not enough
    (tests/unit/test_cluster_signals.py has the pairs that do link)."""
    new = story(2, "radiocanada", language="fr")
    assert find_cluster(new, [(story(1, "cbc"), 7)]) is None
    a, b = signature(TITLE, SUMMARY, "en"), signature(TITLE, SUMMARY, "fr")
    assert similarity(a, b) == 0.0


@pytest.mark.parametrize("hours", [-37, 37, 24 * 30])
def test_never_outside_the_window_even_if_the_caller_passes_it(hours: int) -> None:
    old = story(1, "cbc", at=T0 + timedelta(hours=hours))
    assert find_cluster(story(2, "ctv"), [(old, 7)]) is None


def test_the_time_discount_needs_more_alike_text_late_in_the_window() -> None:
    identical = story(1, "cbc", at=T0 - timedelta(hours=35))
    assert find_cluster(story(2, "ctv"), [(identical, 7)]) == 7  # 1.0 x (1 - 0.6 x 35/36)
    new = story(2, "ctv", summary="")
    title = "Bank of Canada lowers rate to 2.25% as hiring weakens"
    sim = similarity(signature(new.title, "", "en"), signature(title, "", "en"))
    assert 0.5 < sim < 0.7
    for hours, joins in [(1, True), (20, True), (34, False)]:
        alike = story(1, "cbc", title=title, summary="", at=T0 - timedelta(hours=hours))
        assert (find_cluster(new, [(alike, 7)]) == 7) is joins, hours


def test_best_match_wins_and_ties_go_to_the_lower_cluster() -> None:
    near = story(1, "globalnews", summary=SUMMARY)
    far = story(3, "nyt", summary="Mortgage holders get relief as the bank trims its rate.")
    assert find_cluster(story(2, "ctv"), [(far, 9), (near, 8)]) == 8
    twins = [(story(4, "nyt"), 6), (story(5, "cnn"), 5)]
    assert find_cluster(story(2, "ctv"), twins) == 5


def test_precomputed_signatures_give_the_same_answer() -> None:
    stories, _ = load_labelled()
    sigs = {s.id: signature(s.title, s.summary, s.language) for s in stories}
    new, candidates = stories[1], [(s, s.id) for s in stories[:1] + stories[2:]]
    assert find_cluster(new, candidates, signatures=sigs) == find_cluster(new, candidates)


# --- garbage in -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "summary"),
    [("", ""), ("!!! ... ???", "— … «» ؟ ।"), ("   ", "\u200b\ufeff"), ("a", "b")],
)
def test_empty_or_punctuation_only_stories_match_nothing(title: str, summary: str) -> None:
    stories, _ = load_labelled()
    junk = [story(10_000 + i, f"junk{i}", title=title, summary=summary) for i in range(2)]
    candidates = [(s, s.id) for s in stories if s.language == "en"] + [(junk[0], junk[0].id)]
    assert find_cluster(junk[1], candidates, ClusterParams(window=timedelta(days=90))) is None


def test_a_huge_summary_is_bounded_and_does_not_match_everything() -> None:
    stories, _ = load_labelled()
    english = [s for s in stories if s.language == "en"]
    every_word = " ".join(f"{s.title} {s.summary}" for s in english)
    huge = (every_word * 10)[:10_000]
    new = story(10_000, "spam", title="Live updates", summary=huge)
    params = ClusterParams(window=timedelta(days=90))
    assert find_cluster(new, [(s, s.id) for s in english], params) is None
    index = ClusterIndex(params)
    for s in english:
        index.add(s, s.id)
    assert index.match(new) is None


# --- clusters, ids and the index ------------------------------------------------------------


def test_labelled_set_precision_and_recall() -> None:
    """Pairwise precision >= 0.95 is the contract; recall measured 0.824 (bench.cluster;
    0.692 before names, leads and the grace period counted, 0.787 before Title Case names
    and merging clusters that one story links).

    The recall floor is that figure less a small margin, so a change that quietly gives up
    recall fails here, while the precision bar stays the product requirement.
    """
    stories, labels = load_labelled()
    result = score(cluster_all(stories), labels, same_language(stories))
    assert result.precision >= 0.98  # 0.981 before the new signals: none lost
    assert result.recall >= 0.80


def test_cluster_ids_are_the_first_story_and_stable_under_reordering() -> None:
    stories, _ = load_labelled()
    clusters = cluster_all(stories)
    shuffled = list(stories)
    random.Random(7).shuffle(shuffled)
    assert cluster_all(shuffled) == clusters
    first: dict[int, int] = {}
    for s in sorted(stories, key=lambda s: (s.published, s.id)):
        first.setdefault(clusters[s.id], s.id)
    assert all(cluster_id == first[cluster_id] for cluster_id in clusters.values())


def test_index_and_find_cluster_agree_story_by_story() -> None:
    stories, _ = load_labelled()
    index = ClusterIndex()
    placed: list[tuple[StoryText, int]] = []
    for s in sorted(stories, key=lambda s: (s.published, s.id)):
        # The same population: how common a name is depends on the stories around it.
        placed = [(p, cid) for p, cid in placed if p.id in index]
        expected = find_cluster(s, placed)
        assert index.match(s) == expected
        cluster_id = index.assign(s)
        assert cluster_id == (expected if expected is not None else s.id)
        placed.append((s, cluster_id))


def test_index_forgets_stories_older_than_two_windows_and_on_prune() -> None:
    index = ClusterIndex(ClusterParams(window=timedelta(hours=10)))
    for hour in range(0, 48, 2):
        index.add(story(hour, f"s{hour}", at=T0 + timedelta(hours=hour)), hour)
    assert min(s for s in range(48) if s in index) == 26  # newest 46 - 20 h
    assert index.cluster_of(46) == 46 and index.cluster_of(0) is None
    assert index.prune(T0 + timedelta(hours=40)) == 7
    assert len(index) == 4


@pytest.mark.parametrize(
    "changes",
    [{"window": timedelta(0)}, {"threshold": 1.5}, {"time_decay": -0.1}, {"time_decay": 2.0}],
)
def test_params_out_of_range_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(ClusterParams(), **changes)


def test_index_readding_a_story_moves_it() -> None:
    index = ClusterIndex()
    index.add(story(1), 1)
    index.add(replace(story(1), title="Something else happened", summary="Elsewhere."), 5)
    assert index.cluster_of(1) == 5 and len(index) == 1
    assert index.match(story(2, "ctv")) is None  # the old text is no longer indexed
