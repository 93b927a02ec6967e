"""Full story: an article's main text, fetched once and shared by every reader who asks.

``FullStoryService.get(article_id)`` is what the "Full story" button calls:

1. Look the article up; an unknown or pruned id gives None (the button is stale or forged).
2. Serve the cache: extracted text is reused until pruned (a second press, by anyone, in any
   process, costs no fetch); a failure is reused for ``failure_ttl``, so a dead page is not
   hammered by every press while a transient failure (timeout, 503) still heals.
3. Single flight: concurrent presses for one article share one in-flight task, so a story
   pushed to thousands of readers at once costs its publisher one request.
4. Fetch with the page fetcher (:func:`make_page_fetcher`): public addresses only, each
   redirect hop checked before it is requested, a timeout, a 2 MiB cap, HTML types only.
5. Extract with trafilatura in a worker thread (it is CPU-bound: about 1.5 s per MB of dense
   markup) and never more than ``max_extractions`` at once, so neither the event loop nor the
   thread pool that database calls share is taken over by page parsing.
6. Tidy the paragraphs for a chat (whitespace, blanks, a :data:`MAX_CHARS` bound) and store
   the result, success or failure, for everyone.

Failures never reach the reader as a trace: fetch and extraction errors become a failed
:class:`FullStory` with a one-word ``reason`` the handler turns into one line; anything
unexpected is logged with the article id and becomes reason ``"error"`` (not cached, since
it says nothing about the page). Only a database failure while looking the article up
propagates, to every waiter of that flight: without the article there is nothing to show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from digest.clock import Clock, utcnow
from digest.errors import BlockedURLError, ExtractionError, FetchError
from digest.fetch import Fetcher, FetchLimits, FetchResult
from digest.redact import redact_url
from storage.article_texts import ArticleTextRow, ArticleTextStore
from storage.articles import ArticleRow, ArticleStore

if TYPE_CHECKING:
    from digest.extract import ExtractedArticle

__all__ = [
    "MAX_CHARS",
    "PAGE_ACCEPT",
    "PAGE_LIMITS",
    "PAGE_TYPES",
    "FullStory",
    "FullStoryService",
    "chat_paragraphs",
    "make_page_fetcher",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Article pages are capped at 2 MiB: extraction costs about 1.5 s of CPU per MB.
PAGE_LIMITS = FetchLimits(
    max_bytes=2 * 1024 * 1024,
    connect_timeout=5,
    read_timeout=8,
    total_timeout=15,
    max_redirects=5,
    max_connections=8,
    max_per_host=2,
)
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
PAGE_TYPES = ("text/html", "application/xhtml+xml")
#: A reader can read any story to its end, in parts; this only bounds a pathological page
#: (a whole book on one URL): 200,000 characters is about 30,000 words, 60 parts.
MAX_CHARS = 200_000

_FETCH_REASONS = {
    "timeout": "timeout",
    "too_large": "too_large",
    "blocked": "blocked",
    "content_type": "not_html",
    "too_many_redirects": "too_many_redirects",
    "connect": "unreachable",
    "protocol": "http_error",
    "http_status": "http_error",
}


@dataclass(frozen=True, slots=True)
class FullStory:
    """What the reader gets: the article's text, or (``ok`` False) why not and the feed's link.

    ``title`` and ``published`` fall back to the feed's; ``url`` is always the feed's link,
    which works for a human's browser even where the bot was redirected elsewhere.
    """

    article_id: int
    ok: bool
    reason: str | None
    title: str
    author: str | None
    published: datetime | None
    paragraphs: tuple[str, ...]
    url: str
    from_cache: bool


def make_page_fetcher(allow_private_networks: bool, **overrides: Any) -> Fetcher:
    """The fetcher for article pages, built the same way by the bot and the tests.

    ``overrides`` may name :class:`FetchLimits` fields (``read_timeout=0.3``), which adjust
    :data:`PAGE_LIMITS` one by one so the size cap is never lost by accident, and
    :class:`Fetcher` keywords (``transport``, ``resolver``, ``trusted_hosts``...).
    """
    fields = {f.name for f in dataclasses.fields(FetchLimits)}
    limits = dataclasses.replace(PAGE_LIMITS, **{k: v for k, v in overrides.items() if k in fields})
    options = {k: v for k, v in overrides.items() if k not in fields}
    options.setdefault("guard_private", not allow_private_networks)
    return Fetcher(limits, **options)


def chat_paragraphs(paragraphs: Iterable[str], max_chars: int = MAX_CHARS) -> tuple[str, ...]:
    """Paragraphs fit for a chat: whitespace collapsed, blank ones dropped, ``max_chars`` total.

    The paragraph that crosses the limit is cut at a word boundary with "…" when a useful
    part of it fits; otherwise the text ends before it.
    """
    kept: list[str] = []
    room = max_chars
    for raw in paragraphs:
        paragraph = " ".join(raw.split())
        if not paragraph:
            continue
        if len(paragraph) <= room:
            kept.append(paragraph)
            room -= len(paragraph)
            continue
        if room >= 200 or not kept:
            cut = paragraph[: max(room - 1, 1)]
            cut = cut.rsplit(" ", 1)[0] if " " in cut[len(cut) // 2 :] else cut
            kept.append(cut.rstrip(" ,;:") + "…")
        break
    return tuple(kept)


class FullStoryService:
    """Fetches, extracts, caches and shares article texts; one per process."""

    def __init__(
        self,
        articles: ArticleStore,
        texts: ArticleTextStore,
        fetcher: Fetcher,
        *,
        failure_ttl: timedelta = timedelta(minutes=30),
        clock: Clock = utcnow,
        max_extractions: int = 2,
    ) -> None:
        self.articles = articles
        self.texts = texts
        self.fetcher = fetcher
        self.failure_ttl = failure_ttl
        self.clock = clock
        self._extracting = asyncio.Semaphore(max_extractions)
        self._flights: dict[int, asyncio.Future[FullStory | None]] = {}

    async def get(self, article_id: int) -> FullStory | None:
        """The full story of ``article_id``, or None if no such article is stored.

        A caller that is cancelled (say, the bot shutting down a handler) stops waiting, but
        the shared fetch carries on for the other waiters and still fills the cache.
        """
        flight = self._flights.get(article_id)
        if flight is None:
            flight = asyncio.ensure_future(self._load(article_id))
            self._flights[article_id] = flight
            flight.add_done_callback(lambda done: self._landed(article_id, done))
        return await asyncio.shield(flight)

    def _landed(self, article_id: int, flight: asyncio.Future[FullStory | None]) -> None:
        """Forget a finished flight, so the next press reads the cache (or tries again)."""
        if self._flights.get(article_id) is flight:
            del self._flights[article_id]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning if nobody waited

    async def _load(self, article_id: int) -> FullStory | None:
        article = await self._db(self.articles.get, article_id)
        if article is None:
            return None
        cached = await self._db(self.texts.get, article_id)
        if cached is not None and (
            cached.ok or self.clock() - cached.fetched_at < self.failure_ttl
        ):
            return _story(article, cached, from_cache=True)
        try:
            row = await self._fetch_and_extract(article)
        except Exception:
            log.exception("full story of article %d failed unexpectedly", article_id)
            return _failure(article, "error")
        try:
            await self._db(self.texts.put, row)
        except Exception:  # the reader still gets the text; the next press fetches again
            log.exception("could not cache the full story of article %d", article_id)
        return _story(article, row, from_cache=False)

    async def _fetch_and_extract(self, article: ArticleRow) -> ArticleTextRow:
        """One fetch and extraction; expected failures become a failed row, not an error."""
        try:
            result = await self.fetcher.fetch(
                article.url, accept=PAGE_ACCEPT, allowed_content_types=PAGE_TYPES
            )
            extracted = await self._extract(result)
        except FetchError as e:
            return self._failed_row(article, _fetch_reason(e), str(e))
        except BlockedURLError as e:  # the fetcher wraps these; kept in case one slips by
            return self._failed_row(article, "blocked", str(e))
        except ExtractionError as e:
            return self._failed_row(article, e.reason, str(e))
        paragraphs = chat_paragraphs(extracted.paragraphs)
        if not paragraphs:
            return self._failed_row(article, "empty", "no text left after tidying")
        return ArticleTextRow(
            article_id=article.id,
            status="ok",
            reason=None,
            title=extracted.title or "",
            author=extracted.author,
            published_at=extracted.published,
            paragraphs=paragraphs,
            final_url=result.final_url,
            fetched_at=self.clock(),
        )

    async def _extract(self, result: FetchResult) -> ExtractedArticle:
        async with self._extracting:
            return await asyncio.to_thread(
                _extract_page,
                result.body or b"",
                url=result.final_url,
                content_type=result.headers.get("content-type"),
            )

    def _failed_row(self, article: ArticleRow, reason: str, detail: str) -> ArticleTextRow:
        log.info(
            "full story of article %d at %s: %s (%s)",
            article.id, redact_url(article.url), reason, detail[:200],
        )  # fmt: skip
        return ArticleTextRow(
            article_id=article.id,
            status="failed",
            reason=reason,
            title="",
            author=None,
            published_at=None,
            paragraphs=(),
            final_url=article.url,
            fetched_at=self.clock(),
        )

    @staticmethod
    async def _db(function: Callable[..., _T], *args: object) -> _T:
        """Storage calls are blocking (SQLite may wait on a lock): keep them off the loop."""
        return await asyncio.to_thread(function, *args)


def _extract_page(body: bytes, *, url: str | None, content_type: str | None) -> ExtractedArticle:
    """:func:`digest.extract.extract_article`, imported on the first Full story (in the worker
    thread that runs it): trafilatura and lxml take about 10 MiB resident that a bot whose readers
    never press Full story need not hold, and about 0.3 s of CPU once when one first does."""
    from digest.extract import extract_article

    return extract_article(body, url=url, content_type=content_type)


def _fetch_reason(error: FetchError) -> str:
    """A FetchError as the reader's one-word reason; a missing page is told apart."""
    if error.kind == "http_status" and error.status in (404, 410):
        return "not_found"
    return _FETCH_REASONS.get(error.kind, "http_error")


def _story(article: ArticleRow, row: ArticleTextRow, *, from_cache: bool) -> FullStory:
    return FullStory(
        article_id=article.id,
        ok=row.ok,
        reason=row.reason,
        title=row.title or article.title,
        author=row.author,
        published=row.published_at or article.published_at,
        paragraphs=row.paragraphs,
        url=article.url,
        from_cache=from_cache,
    )


def _failure(article: ArticleRow, reason: str) -> FullStory:
    return FullStory(
        article.id, False, reason, article.title, None, article.published_at, (), article.url, False
    )
