"""The pure half of top stories: coverage counts only the sources the reader chose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.reader_selection import Selection, rank_for
from storage.articles import ArticleRow

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def row(article_id: int, source: str, cluster: int | None, hours_ago: float) -> ArticleRow:
    published = NOW - timedelta(hours=hours_ago)
    return ArticleRow(
        article_id, source, f"https://example.com/{article_id}", f"title {article_id}", "",
        None, "en", published, published, cluster, ("national",),
    )  # fmt: skip


def test_coverage_by_sources_the_reader_ignores_does_not_lift_a_story() -> None:
    selection = Selection(frozenset({"cbc", "ctv"}), frozenset({"en"}), frozenset())
    widely_covered = row(1, "cbc", 7, hours_ago=2)  # covered by five, but only one the reader reads
    fresher = row(2, "ctv", None, hours_ago=1)
    coverage = {7: ("cbc", "bbc", "cnn", "npr", "abc")}
    ranked = rank_for(selection, [widely_covered, fresher], coverage, NOW)
    assert [r.article.id for r in ranked] == [2, 1]
    assert ranked[1].also_covered_by == ()


def test_coverage_by_chosen_sources_lifts_a_story_and_is_shown() -> None:
    selection = Selection(frozenset({"cbc", "ctv", "global"}), frozenset({"en"}), frozenset())
    covered = row(1, "cbc", 7, hours_ago=2)
    fresher = row(2, "ctv", None, hours_ago=1)
    ranked = rank_for(selection, [covered, fresher], {7: ("cbc", "ctv", "global", "bbc")}, NOW)
    assert [r.article.id for r in ranked] == [1, 2]
    assert ranked[0].also_covered_by == ("ctv", "global")
