"""A long story as one Telegraph page (telegra.ph), when the operator sets ``TELEGRAPH_TOKEN``.

Telegraph's public API (``createPage``) takes the page as Node JSON: a list of ``{"tag": "p",
"children": ["text"]}`` objects whose strings are plain text, never parsed as HTML, so a
page's text cannot inject markup. The page is an extra: the story is always readable in
the chat in parts, so any failure here (no answer, an error, a page Telegraph refuses as too
big) returns None and the reader simply gets no "one page" button. Pages are created once per
article and process, and remembered (a bounded map), so every reader's press shares one page.

This is the only module besides the feed fetcher and the push request class that speaks HTTP
with httpx (the lint-imports contract names it). The token never reaches a log line.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

import httpx

from digest.full_story import FullStory

__all__ = ["TELEGRAPH_API_URL", "TelegraphPublisher", "story_nodes"]

log = logging.getLogger(__name__)

TELEGRAPH_API_URL = "https://api.telegra.ph"
#: Telegraph refuses content over 64 KiB of JSON; stay under it rather than ask and fail.
MAX_CONTENT_BYTES = 63 * 1024
TITLE_CHARS = 256
AUTHOR_CHARS = 128
#: Pages remembered per process (article id -> URL).
REMEMBERED = 2048

Node = dict[str, Any] | str


def story_nodes(story: FullStory, source: str) -> list[Node]:
    """The story as Telegraph nodes: one paragraph per ``p``, the source in italics first."""
    nodes: list[Node] = [{"tag": "p", "children": [{"tag": "i", "children": [source]}]}]
    nodes += [{"tag": "p", "children": [paragraph]} for paragraph in story.paragraphs]
    return nodes


class TelegraphPublisher:
    """Creates (once per article) the Telegraph page of a story; None on any failure."""

    def __init__(
        self,
        token: str,
        base_url: str = TELEGRAPH_API_URL,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._transport = transport
        self._pages: OrderedDict[int, str] = OrderedDict()

    async def page_url(self, story: FullStory, source: str) -> str | None:
        """The URL of the story's Telegraph page, created on the first call."""
        if (url := self._pages.get(story.article_id)) is not None:
            return url
        url = await self._create(story, source)
        if url is not None:
            self._pages[story.article_id] = url
            while len(self._pages) > REMEMBERED:
                self._pages.popitem(last=False)
        return url

    async def _create(self, story: FullStory, source: str) -> str | None:
        content = json.dumps(story_nodes(story, source), ensure_ascii=False)
        if len(content.encode()) > MAX_CONTENT_BYTES:
            log.info("article %d is too long for one Telegraph page", story.article_id)
            return None
        form = {
            "access_token": self._token,
            "title": (story.title or source)[:TITLE_CHARS],
            "author_name": (story.author or source)[:AUTHOR_CHARS],
            "content": content,
            "return_content": "false",
        }
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            ) as client:
                response = await client.post(f"{self._base_url}/createPage", data=form)
            reply = response.json()
        except (httpx.HTTPError, ValueError) as e:
            log.warning(
                "Telegraph page for article %d failed: %s", story.article_id, type(e).__name__
            )
            return None
        result = reply.get("result") if isinstance(reply, dict) and reply.get("ok") else None
        url = result.get("url") if isinstance(result, dict) else None
        if not isinstance(url, str) or not url.startswith("https://"):
            error = reply.get("error") if isinstance(reply, dict) else None
            log.warning("Telegraph refused the page for article %d: %s", story.article_id, error)
            return None
        return url
