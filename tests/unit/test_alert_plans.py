"""Who gets which alert from one pass: pure decisions of ``digest.alerts``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.alerts import find_matches, plan_alerts
from digest.phrases import PhraseMatcher
from storage.alerts import AlertTarget
from storage.articles import ArticleRow
from storage.mutes import MuteSet

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # 13:00 in Berlin


def article(i: int, title: str, source: str = "alpha", language: str = "en",
            cluster: int | None = None) -> ArticleRow:  # fmt: skip
    return ArticleRow(
        id=i, source_id=source, url=f"https://news.example/{i}", title=title, summary="",
        image_url=None, language=language, published_at=NOW - timedelta(minutes=i),
        first_seen_at=NOW, cluster_id=cluster, categories=("national",),
    )  # fmt: skip


def target(user_id: int, **changes: object) -> AlertTarget:
    values: dict[str, object] = {
        "user_id": user_id, "chat_id": user_id, "ui_language": "en", "timezone": "Europe/Berlin",
        "quiet_start": None, "quiet_end": None, "paused": False, "paused_until": None,
        "languages": frozenset({"en"}),
    }  # fmt: skip
    values.update(changes)
    return AlertTarget(**values)  # type: ignore[arg-type]


def plan(stories: list[ArticleRow], followers: dict[str, list[int]],
         targets: list[AlertTarget]):  # type: ignore[no-untyped-def]  # fmt: skip
    matches = find_matches(PhraseMatcher(followers), stories)
    return plan_alerts(
        matches, {a.id: a for a in stories}, followers, {t.user_id: t for t in targets}, NOW
    )


def test_one_plan_per_reader_one_entry_per_cluster() -> None:
    stories = [
        article(1, "Storm hits the coast", cluster=1),
        article(2, "Coast storm: thousands without power", "beta", cluster=1),
        article(3, "Storm season outlook", cluster=3),
        article(4, "Budget passes"),
    ]
    (only,) = plan(stories, {"storm": [7], "coast": [7]}, [target(7)])
    assert [s.article.id for s in only.stories] == [1, 3]
    assert only.stories[0].phrases == ("coast", "storm") and only.not_before is None


def test_language_mutes_and_pause_filter_readers() -> None:
    stories = [article(1, "Storm hits", "alpha"), article(2, "Storm in Paris", "gamma", "fr")]
    targets = [
        target(1),
        target(2, languages=frozenset({"fr"})),
        target(3, mutes=MuteSet(frozenset({"alpha"}))),
        target(4, mutes=MuteSet(words=("hits",))),
        target(5, paused=True),
        target(6, paused=True, paused_until=NOW - timedelta(hours=1)),  # pause is over
    ]
    plans = {p.target.user_id: p for p in plan(stories, {"storm": [1, 2, 3, 4, 5, 6, 9]}, targets)}
    assert sorted(plans) == [1, 2, 6], "9 is no active reader; 5 is paused"
    assert [s.article.id for s in plans[1].stories] == [1]
    assert [s.article.id for s in plans[2].stories] == [2]


def test_quiet_hours_hold_until_they_end() -> None:
    quiet = target(1, quiet_start=12 * 60, quiet_end=14 * 60 + 30)  # 12:00-14:30 in Berlin
    (held,) = plan([article(1, "Storm")], {"storm": [1]}, [quiet])
    assert held.not_before == datetime(2026, 12, 3, 13, 30, tzinfo=UTC)
    night = target(1, quiet_start=22 * 60, quiet_end=7 * 60)
    (now,) = plan([article(1, "Storm")], {"storm": [1]}, [night])
    assert now.not_before is None
