"""bot.telegraph against the fake Telegraph server (real HTTP): pages as text nodes, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.telegraph import MAX_CONTENT_BYTES, TelegraphPublisher, story_nodes
from digest.full_story import FullStory
from newsbot_testing.fakes.telegraph import FakeTelegraph


def story(*paragraphs: str, article_id: int = 7) -> FullStory:
    return FullStory(
        article_id=article_id, ok=True, reason=None, title="Harbour <b>inquiry</b>",
        author=None, published=datetime(2026, 1, 1, tzinfo=UTC), paragraphs=paragraphs,
        url="https://news.example.org/a", from_cache=False,
    )  # fmt: skip


def test_markup_in_the_text_stays_text() -> None:
    nodes = story_nodes(story("<script>alert(1)</script> & <b>bold</b>"), "Gazette")
    assert nodes[1] == {"tag": "p", "children": ["<script>alert(1)</script> & <b>bold</b>"]}


def test_page_is_created_once_per_article_and_failures_give_none() -> None:
    with FakeTelegraph() as telegraph:
        publisher = TelegraphPublisher("tok", telegraph.base_url, timeout=5)
        first = asyncio.run(publisher.page_url(story("One.", "Two."), "Gazette"))
        again = asyncio.run(publisher.page_url(story("One.", "Two."), "Gazette"))
        assert first == again == "https://telegra.ph/story-1"
        assert len(telegraph.pages) == 1
        assert telegraph.pages[0]["title"] == "Harbour <b>inquiry</b>"
        assert telegraph.pages[0]["author_name"] == "Gazette"
        huge = story("x" * (MAX_CONTENT_BYTES + 1), article_id=8)
        assert asyncio.run(publisher.page_url(huge, "Gazette")) is None
        assert len(telegraph.pages) == 1, "a page Telegraph would refuse is not sent"
        telegraph.fail_with("ACCESS_TOKEN_INVALID")
        assert asyncio.run(publisher.page_url(story("Three.", article_id=9), "Gazette")) is None
    closed = TelegraphPublisher("tok", telegraph.base_url, timeout=2)
    assert asyncio.run(closed.page_url(story("Four.", article_id=10), "Gazette")) is None
