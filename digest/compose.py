"""A digest: the best stories for one category that the reader has not received there yet.

Pure: the ranked stories come in (computed once per distinct selection and category, however many
readers share it), the reader's already-delivered story keys and digest size come in, the list
goes out. A "story" is a cluster, so the same event from another source does not come back
as new; its key is the cluster id, or the article id when it stands alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from digest.rank import RankedStory

MIN_STORIES = 3
MAX_STORIES = 10


@dataclass(frozen=True, slots=True)
class Digest:
    """One category's push for one reader at one slot."""

    category: str
    stories: tuple[RankedStory, ...]

    @property
    def story_keys(self) -> tuple[int, ...]:
        return tuple(story_key(s) for s in self.stories)


def story_key(story: RankedStory) -> int:
    """What "already received" is remembered by: the cluster, else the article."""
    article = story.article
    return article.cluster_id if article.cluster_id is not None else article.id


def compose(
    category: str, ranked: Sequence[RankedStory], already_received: Collection[int], size: int
) -> Digest:
    """The top ``size`` (clamped to 3–10) stories the reader has not received in ``category``."""
    size = min(max(size, MIN_STORIES), MAX_STORIES)
    fresh = [s for s in ranked if story_key(s) not in already_received]
    return Digest(category=category, stories=tuple(fresh[:size]))
