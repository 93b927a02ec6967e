"""The tick's caching renderer gives exactly the message ``digest_message`` gives, for every
language and for digests that must shorten their summaries to fit, and as the JSON text the
outbox stores."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from digest.catalog import Catalog
from digest.compose import Digest
from digest.rank import RankedStory
from storage.articles import ArticleRow
from views.digest import DigestRenderer, as_payload, digest_message

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def story(article_id: int, title: str, url: str, also: tuple[str, ...] = ()) -> RankedStory:
    published = NOW - timedelta(minutes=7 * article_id)
    row = ArticleRow(
        article_id, "cbc", url, title, "A summary <with> & markup. " * 12, None, "en",
        published, published, None, ("national",),
    )  # fmt: skip
    return RankedStory(row, also, 1.0)


@pytest.mark.parametrize("language", ["en", "hi", "ar", "de", "zh", "fr"])
def test_renderer_matches_digest_message(catalog: Catalog, language: str) -> None:
    renderer = DigestRenderer(catalog, NOW)
    short = Digest("national", tuple(
        story(i, f"Story {i} & <b>", f"https://cbc.ca/{i}", ("ctv",) * (i % 2)) for i in range(1, 6)
    ))  # fmt: skip
    long = Digest("sports", tuple(
        story(i, "Very long title " * 20, "http://localhost/x" if i == 13 else f"https://a.b/{i}")
        for i in range(20, 10, -1)
    ))  # fmt: skip
    plain = replace(short.stories[0].article, summary="")  # lines cached apart: mix them
    mixed = Digest("national", (
        RankedStory(plain, ("ctv", "cnn", "bbc", "cbc"), 1.0), *short.stories[1:3],
        RankedStory(short.stories[0].article, ("ctv", "cnn"), 1.0),
    ))  # fmt: skip
    for digest in (short, long, mixed, short):  # the second short one comes from the caches
        for zone in ("UTC", "Asia/Kolkata"):
            text, keyboard = digest_message(digest, catalog, NOW, language, zone)
            assert renderer.payload(digest, language, zone) == as_payload(text, keyboard)
            stored = json.dumps(as_payload(text, keyboard), ensure_ascii=False)
            assert renderer.payload_json(digest, language, zone) == stored  # byte for byte


@pytest.mark.parametrize("language", ["en", "ar"])
def test_renderer_takes_the_texts_of_text_less_rows(catalog: Catalog, language: str) -> None:
    """The tick's digests hold rows without texts (ranking needs none): the renderer reads
    each story's texts by id, also for the shorter budgets a long digest needs, and gives
    the same bytes."""
    renderer = DigestRenderer(catalog, NOW)
    short = Digest("national", tuple(
        story(i, f"Story {i} & <b>", f"https://cbc.ca/{i}", ("ctv",) * (i % 2)) for i in range(1, 6)
    ))  # fmt: skip
    long = Digest("sports", tuple(
        story(i, "Very long title " * 20, f"https://a.b/{i}", ("cbc",) * (i % 3))
        for i in range(30, 20, -1)
    ))  # fmt: skip
    for digest in (short, long, short, long):
        texts = {s.article.id: s.article for s in digest.stories}
        bare = Digest(digest.category, tuple(
            RankedStory(replace(s.article, url="", title="", summary=""), s.also_covered_by, 1.0)
            for s in digest.stories
        ))  # fmt: skip
        text, keyboard = digest_message(digest, catalog, NOW, language, "UTC")
        stored = json.dumps(as_payload(text, keyboard), ensure_ascii=False)
        assert renderer.payload_json(bare, language, "UTC", texts) == stored
