"""Keyword alerts for one fetch pass: which reader gets which new story. Pure.

The steps, each done once per pass whatever the number of readers:

1. :func:`find_matches`: every new story's text is read once by the pass's
   :class:`~digest.phrases.PhraseMatcher` (all followed phrases at once).
2. The caller looks up the followers of the phrases found (an indexed query), and those
   readers' languages, mutes, pause and quiet hours (``storage.alerts.AlertTarget``).
3. :func:`plan_alerts` fans the matches out to readers: a story counts for a reader if it is
   in one of their news languages, not from a muted source and contains no muted word; a story
   is a cluster, so the same event from three sources is one alert; a paused reader gets none;
   a reader in quiet hours gets theirs held until the quiet hours end. One :class:`AlertPlan`
   per reader: all their stories of the pass, sent as one message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from digest.mutes import muted_text
from digest.phrases import PhraseMatcher, text_key
from digest.schedule import PAUSED_INDEFINITELY, is_paused, quiet_hours_end
from storage.alerts import AlertTarget
from storage.articles import ArticleRow

MAX_STORIES_PER_ALERT = 10


class AlertStory(NamedTuple):
    """A story in an alert and the reader's phrases it matched (a tuple: a pass makes one per
    reader and story, hundreds of thousands at 100,000 readers)."""

    article: ArticleRow
    phrases: tuple[str, ...]

    @property
    def key(self) -> int:
        """What "already alerted" is remembered by: the cluster, else the article."""
        a = self.article
        return a.cluster_id if a.cluster_id is not None else a.id


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """One reader's alert of a pass: their stories (newest first) and when it may go out."""

    target: AlertTarget
    stories: tuple[AlertStory, ...]
    not_before: datetime | None

    @property
    def keys(self) -> tuple[int, ...]:
        return tuple(s.key for s in self.stories)


@dataclass(frozen=True, slots=True)
class PassMatches:
    """What the matcher found: phrase keys per article id, and each article's text key (reused
    for the muted-word check)."""

    found: dict[int, frozenset[str]]
    texts: dict[int, str]

    @property
    def phrases(self) -> set[str]:
        return set().union(*self.found.values()) if self.found else set()


def find_matches(matcher: PhraseMatcher, stories: Sequence[ArticleRow]) -> PassMatches:
    """Read every story once; keep those that contain any followed phrase."""
    found: dict[int, frozenset[str]] = {}
    texts: dict[int, str] = {}
    for article in stories:
        text = text_key(article.title, article.summary)
        hits = matcher.match(text)
        if hits:
            found[article.id] = frozenset(hits)
            texts[article.id] = text
    return PassMatches(found, texts)


def plan_alerts(
    matches: PassMatches,
    stories: Mapping[int, ArticleRow],
    followers: Mapping[str, Sequence[int]],
    targets: Mapping[int, AlertTarget],
    now: datetime,
) -> list[AlertPlan]:
    """One plan per reader with at least one story for them (see the module docstring).

    The inner loop runs once per (story, phrase, follower): everything per reader (pause,
    whether they muted anything) is decided once before it, and a reader's list stops growing
    at :data:`MAX_STORIES_PER_ALERT` (stories come newest first)."""
    eligible = {u: t for u, t in targets.items() if not _paused(t, now)}
    muting = {u for u, t in eligible.items() if t.mutes.sources or t.mutes.words}
    wanted: dict[int, dict[int, list[object]]] = {}
    limit = MAX_STORIES_PER_ALERT
    ordered = sorted(matches.found, key=lambda i: (stories[i].published_at, i), reverse=True)
    for article_id in ordered:
        article = stories[article_id]
        key = article.cluster_id if article.cluster_id is not None else article.id
        language = article.language
        for phrase in matches.found[article_id]:
            for user_id in followers.get(phrase, ()):
                target = eligible.get(user_id)
                if target is None or language not in target.languages:
                    continue
                mine = wanted.get(user_id)
                entry = None if mine is None else mine.get(key)
                if entry is not None:
                    if entry[0] is article and phrase not in entry:
                        entry.append(phrase)
                    continue
                if mine is not None and len(mine) >= limit:
                    continue
                if user_id in muting and muted_text(
                    matches.texts[article_id], article.source_id, target.mutes
                ):
                    continue
                if mine is None:
                    wanted[user_id] = {key: [article, phrase]}
                else:
                    mine[key] = [article, phrase]
    plans: list[AlertPlan] = []
    holds: dict[tuple[str | None, int | None, int | None], datetime | None] = {}
    for user_id, found in wanted.items():
        target = eligible[user_id]
        chosen = tuple(
            AlertStory(entry[0], tuple(sorted(entry[1:])))  # type: ignore[arg-type]
            for entry in found.values()
        )
        quiet = (target.timezone, target.quiet_start, target.quiet_end)
        if quiet[1] is None:
            held = None
        elif quiet in holds:
            held = holds[quiet]
        else:  # readers in one zone with the same quiet hours share the answer
            held = holds[quiet] = quiet_hours_end(now, *quiet)
        plans.append(AlertPlan(target, chosen, held))
    return plans


def _paused(target: AlertTarget, now: datetime) -> bool:
    if not target.paused:
        return False
    return is_paused(target.paused_until or PAUSED_INDEFINITELY, now)
