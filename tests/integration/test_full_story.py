"""Full story end to end: article pages over real HTTP → guarded fetch → extraction → cache.

Article links point at ``news.example``, a name the URL guard resolves (through the fetcher's
``resolver`` hook) to a public address, and that :class:`ToFixtureServer` connects to the
local fixture server. So every hop, the first included, goes through the real guard, and a
redirect to 127.0.0.1 or 169.254.169.254 is refused before any request is sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

import digest.extract as extract_module
from digest.fetch import Fetcher
from digest.full_story import (
    MAX_CHARS,
    PAGE_ACCEPT,
    FullStory,
    FullStoryService,
    chat_paragraphs,
    make_page_fetcher,
)
from newsbot_testing.feedserver import FeedServer, Reply, Request
from storage.article_texts import ArticleTextStore
from storage.articles import ArticleInput, ArticleStore

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"
HOST = "news.example"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HTML = {"Content-Type": "text/html; charset=utf-8"}
# Generous limits (a loaded CI machine must not turn a slow answer into a "timeout"), and
# tight ones for the stall tests, which wait for the read timeout to fire.
RELAXED: dict[str, float] = {"connect_timeout": 5, "read_timeout": 5, "total_timeout": 10}
FAST: dict[str, float] = {"connect_timeout": 0.5, "read_timeout": 0.3, "total_timeout": 1}
GAZETTE = [
    "The harbour city switched on its first tidal power station on Tuesday",
    "Engineers said the turbines, anchored to the estuary floor",
    "The mayor, speaking from a pontoon beside the control building",
    "Fishermen remain cautious",
    "Local fishing crews, who had opposed the first design",
    "The operator has promised to publish monthly figures",
    "A second phase, which would add eighteen more turbines",
]
GAZETTE_NOISE = ["cookie", "Accept all", "Politics", "Advertisement", "Holiday deals",
                 "Related stories", "Read more", "Most read", "newsletter", "Share on X",
                 "Privacy policy", "Copyright", "trackingQueue", "font-family",
                 "showAdvert"]  # fmt: skip
COURIER = [
    "The first scheduled night train in two decades",
    "The regional transport authority restored the service",
    "Station staff handed out blankets",
    "The authority said tickets for the summer weeks",
    "Rail campaigners welcomed the return",
]
COURIER_NOISE = ["cookie", "partners", "Accept and continue", "Puzzles", "Breadcrumb", "Travel",
                 "Sponsored", "Advertisement", "energy tariffs", "adQueue", "gtag", "dataLayer",
                 "pullquote", "font-size", "Read more", "fares", "Facebook", "WhatsApp",
                 "Comments", "grandfather", "Recommended", "pension", "newsletter",
                 "Most popular", "About the Courier", "Publishing Ltd", "JavaScript"]  # fmt: skip


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ToFixtureServer(httpx.AsyncBaseTransport):
    """Connects ``news.example`` to the fixture server, as a DNS answer would; Host is kept."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == HOST:
            request = httpx.Request(
                request.method, request.url.copy_with(host="127.0.0.1"),
                headers=request.headers, stream=request.stream, extensions=request.extensions,
            )  # fmt: skip
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def public_dns(host: str, port: int) -> list[str]:
    """The guard's resolver: news.example is public; no other name resolves."""
    if host == HOST:
        return ["93.184.216.34"]
    raise OSError(f"{host} does not resolve")


def page_fetcher(
    allow_private_networks: bool = False, limits: dict[str, float] = RELAXED
) -> Fetcher:
    return make_page_fetcher(
        allow_private_networks, resolver=public_dns, transport=ToFixtureServer(), **limits
    )


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer(root=PAGES) as srv:
        yield srv


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with page_fetcher() as f:
        yield f


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def service(engine: Engine, fetcher: Fetcher, clock: Clock) -> FullStoryService:
    return FullStoryService(ArticleStore(engine), ArticleTextStore(engine), fetcher, clock=clock)


def add_article(engine: Engine, server: FeedServer, path: str, key: str = "a1") -> int:
    """Store a feed entry linking to ``path`` on news.example; its id."""
    item = ArticleInput(
        entry_key=key, url=server.url(path, host=HOST), title=f"Feed title {key}",
        summary="Feed summary.", image_url=None, published_at=T0 - timedelta(hours=1),
        language="en", categories=("national",),
    )  # fmt: skip
    return ArticleStore(engine).upsert("gazette", [item], T0).new[0].id


def text_of(story: FullStory | None) -> str:
    assert story is not None
    return "\n".join([story.title, story.author or "", *story.paragraphs])


# --- pages that read well ------------------------------------------------------------------


async def test_article_page_gives_its_text(
    engine: Engine, server: FeedServer, service: FullStoryService
) -> None:
    server.add_file("/story", "article.html", headers=HTML)
    article_id = add_article(engine, server, "/story")
    story = await service.get(article_id)
    assert story is not None and story.ok and story.reason is None and not story.from_cache
    assert len(story.paragraphs) == len(GAZETTE)
    for paragraph, opening in zip(story.paragraphs, GAZETTE, strict=True):
        assert paragraph.startswith(opening)
    assert story.title == "Harbour city opens its first tidal power station"
    assert story.author == "Maria Okafor"
    assert story.published == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert story.url == server.url("/story", host=HOST)
    assert not [noise for noise in GAZETTE_NOISE if noise in text_of(story)]
    seen = server.requests_for("/story")[0].headers
    assert seen["accept"] == PAGE_ACCEPT and seen["host"] == f"{HOST}:{server.port}"


async def test_noisy_page_keeps_only_the_article(
    engine: Engine, server: FeedServer, service: FullStoryService
) -> None:
    server.add_file("/noisy", "noisy.html", headers=HTML)
    story = await service.get(add_article(engine, server, "/noisy"))
    assert story is not None and story.ok
    assert [p[: len(o)] for p, o in zip(story.paragraphs, COURIER, strict=True)] == COURIER
    assert not [noise for noise in COURIER_NOISE if noise in text_of(story)]


async def test_long_article_is_kept_whole_for_the_chat(
    engine: Engine, server: FeedServer, service: FullStoryService
) -> None:
    words = " ".join(f"word{n}" for n in range(100))
    body = "".join(f"<p>Paragraph {n} says {words}.</p>" for n in range(60))
    html = f"<html><body><article>{body}</article></body></html>".encode()
    server.add_file("/long", html, headers=HTML)
    story = await service.get(add_article(engine, server, "/long"))
    assert story is not None and story.ok
    assert sum(map(len, story.paragraphs)) <= MAX_CHARS
    assert story.paragraphs[0].startswith("Paragraph 0 says") and len(story.paragraphs) == 60
    assert story.paragraphs[-1].startswith("Paragraph 59 says"), "#16: read to the end"


# --- pages that do not: the reader gets the feed's title and link, and a reason -------------


JSON = {"Content-Type": "application/json"}
BIG = 50 * 2**20
# Each case: how the fixture server answers at /<case>, and the reason the reader is given.
FAILURES: dict[str, tuple[Callable[[FeedServer, str], None], str]] = {
    "404": (lambda s, p: None, "not_found"),
    "410": (lambda s, p: s.add_file(p, b"gone", status=410), "not_found"),
    "500": (lambda s, p: s.add_file(p, b"oops", status=500, headers=HTML), "http_error"),
    "json-type": (lambda s, p: s.add_file(p, b'{"a": 1}', headers=JSON), "not_html"),
    "json-as-html": (lambda s, p: s.add_file(p, b'{"a": 1}', headers=HTML), "not_html"),
    "paywalled": (lambda s, p: s.add_file(p, "paywalled.html", headers=HTML), "paywalled"),
    "too-short": (lambda s, p: s.add_file(p, "too_short.html", headers=HTML), "too_short"),
    "50MB-streamed": (lambda s, p: s.add_stream(p, BIG, headers=HTML), "too_large"),
    "50MB-declared": (
        lambda s, p: s.add_stream(p, BIG, headers=HTML, content_length=True),
        "too_large",
    ),
}
STALLS: dict[str, tuple[Callable[[FeedServer, str], None], str]] = {
    "no-answer": (lambda s, p: s.add_stall(p), "timeout"),
    "stall-mid-body": (
        lambda s, p: s.add_route(p, lambda _r: Reply(headers=HTML, stall_after_headers=True)),
        "timeout",
    ),
}


async def fetch_cases(
    engine: Engine,
    server: FeedServer,
    service: FullStoryService,
    cases: dict[str, tuple[Callable[[FeedServer, str], None], str]],
) -> dict[str, FullStory | None]:
    """Set every case up at /<case>, then press all of them at once."""
    ids = {}
    for case, (setup, _reason) in cases.items():
        setup(server, f"/{case}")
        ids[case] = add_article(engine, server, f"/{case}", case)
    stories = await asyncio.gather(*(service.get(i) for i in ids.values()))
    return dict(zip(ids, stories, strict=True))


async def test_failures_give_a_reason_and_the_feed_link(
    engine: Engine, server: FeedServer, service: FullStoryService
) -> None:
    started = asyncio.get_running_loop().time()
    stories = await fetch_cases(engine, server, service, FAILURES)
    assert asyncio.get_running_loop().time() - started < 5  # the 50 MB pages stop at the cap
    assert {case: s.reason if s else None for case, s in stories.items()} == {
        case: reason for case, (_setup, reason) in FAILURES.items()
    }
    texts = ArticleTextStore(engine)
    for case, story in stories.items():
        assert story is not None and not story.ok and not story.from_cache
        assert (story.paragraphs, story.title) == ((), f"Feed title {case}")
        assert story.url == server.url(f"/{case}", host=HOST)
        assert story.published == T0 - timedelta(hours=1)
        cached = texts.get(story.article_id)
        assert cached is not None and (cached.status, cached.reason) == ("failed", story.reason)
        assert len(server.requests_for(f"/{case}")) == 1


async def test_stalled_pages_time_out(engine: Engine, server: FeedServer) -> None:
    async with page_fetcher(limits=FAST) as fetcher:
        service = FullStoryService(ArticleStore(engine), ArticleTextStore(engine), fetcher)
        started = asyncio.get_running_loop().time()
        stories = await fetch_cases(engine, server, service, STALLS)
        assert asyncio.get_running_loop().time() - started < 5
    assert {case: s.reason if s else None for case, s in stories.items()} == {
        "no-answer": "timeout",
        "stall-mid-body": "timeout",
    }


@pytest.mark.parametrize("target", ["/secret", "http://169.254.169.254/latest/meta-data/"])
async def test_redirect_to_a_private_address_is_refused_unrequested(
    engine: Engine, server: FeedServer, service: FullStoryService, target: str
) -> None:
    server.add_file("/secret", "article.html", headers=HTML)
    location = server.url(target) if target.startswith("/") else target  # 127.0.0.1:port
    server.add_redirect("/story", location)
    story = await service.get(add_article(engine, server, "/story"))
    assert story is not None and (story.ok, story.reason) == (False, "blocked")
    assert server.requests_for("/secret") == []
    assert [r.path for r in server.requests] == ["/story"]


async def test_private_networks_allowed_follows_the_same_redirect(
    engine: Engine, server: FeedServer
) -> None:
    server.add_file("/secret", "article.html", headers=HTML)
    server.add_redirect("/story", server.url("/secret"))
    async with page_fetcher(allow_private_networks=True) as fetcher:
        service = FullStoryService(ArticleStore(engine), ArticleTextStore(engine), fetcher)
        story = await service.get(add_article(engine, server, "/story"))
    assert story is not None and story.ok
    assert len(server.requests_for("/secret")) == 1


async def test_unknown_article_is_none(server: FeedServer, service: FullStoryService) -> None:
    assert await service.get(424242) is None
    assert server.requests == []


# --- cache and single flight ----------------------------------------------------------------


async def test_second_press_by_anyone_costs_no_fetch(
    engine: Engine, server: FeedServer, service: FullStoryService, fetcher: Fetcher
) -> None:
    server.add_file("/story", "article.html", headers=HTML)
    article_id = add_article(engine, server, "/story")
    first = await service.get(article_id)
    second = await service.get(article_id)
    # Another process on the same database: a new service, an empty memory.
    other = FullStoryService(ArticleStore(engine), ArticleTextStore(engine), fetcher)
    third = await other.get(article_id)
    assert first is not None and second is not None and third is not None
    assert (first.from_cache, second.from_cache, third.from_cache) == (False, True, True)
    assert first.paragraphs == second.paragraphs == third.paragraphs
    assert (first.title, first.author, first.published) == (
        third.title,
        third.author,
        third.published,
    )
    assert len(server.requests_for("/story")) == 1


async def test_concurrent_presses_share_one_fetch_and_never_block_others(
    engine: Engine, server: FeedServer, service: FullStoryService
) -> None:
    gate = threading.Event()

    def held(_request: Request) -> Reply:
        gate.wait(5)  # the publisher is slow until every press is waiting
        return Reply(200, HTML, (PAGES / "article.html").read_bytes())

    server.add_route("/slow", held)
    server.add_file("/fast", "noisy.html", headers=HTML)
    slow_id = add_article(engine, server, "/slow", "slow")
    fast_id = add_article(engine, server, "/fast", "fast")
    presses = asyncio.gather(*(service.get(slow_id) for _ in range(10)))
    await asyncio.to_thread(server.wait_for_requests, "/slow")
    other = await service.get(fast_id)  # another reader's story, while /slow is held
    assert other is not None and other.ok
    gate.set()
    stories = await presses
    assert len(set(stories)) == 1 and stories[0] is not None and stories[0].ok
    assert len(server.requests_for("/slow")) == 1
    assert (await service.get(slow_id)).from_cache  # type: ignore[union-attr]


async def test_a_cancelled_press_does_not_cancel_the_others(
    engine: Engine, server: FeedServer, service: FullStoryService
) -> None:
    gate = threading.Event()
    server.add_route(
        "/slow", lambda _r: Reply(200, HTML, (PAGES / "article.html").read_bytes())
        if gate.wait(5) else Reply(500),
    )  # fmt: skip
    article_id = add_article(engine, server, "/slow")
    impatient = asyncio.ensure_future(service.get(article_id))
    patient = asyncio.ensure_future(service.get(article_id))
    await asyncio.to_thread(server.wait_for_requests, "/slow")
    impatient.cancel()
    gate.set()
    story = await patient
    assert impatient.cancelled() and story is not None and story.ok


async def test_failure_is_cached_for_its_ttl_then_retried(
    engine: Engine, server: FeedServer, service: FullStoryService, clock: Clock
) -> None:
    article_id = add_article(engine, server, "/story")  # no route yet: 404
    assert (await service.get(article_id)).reason == "not_found"  # type: ignore[union-attr]
    server.add_file("/story", "article.html", headers=HTML)
    clock.now = T0 + timedelta(minutes=29)
    cached = await service.get(article_id)
    assert cached is not None and cached.from_cache
    assert (cached.ok, cached.reason) == (False, "not_found")
    assert len(server.requests_for("/story")) == 1
    clock.now = T0 + timedelta(minutes=31)
    healed = await service.get(article_id)
    assert healed is not None and healed.ok and not healed.from_cache
    clock.now = T0 + timedelta(days=30)  # a good text never expires (pruning removes it)
    assert (await service.get(article_id)).from_cache  # type: ignore[union-attr]
    assert len(server.requests_for("/story")) == 2


# --- the unexpected -------------------------------------------------------------------------


class ExplodingFetcher(Fetcher):
    async def fetch(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise RuntimeError("bug in the fetch path")


async def test_unexpected_error_is_logged_not_raised_nor_cached(
    engine: Engine, server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    article_id = add_article(engine, server, "/story")
    async with ExplodingFetcher() as fetcher:
        service = FullStoryService(ArticleStore(engine), ArticleTextStore(engine), fetcher)
        with caplog.at_level(logging.ERROR, logger="digest.full_story"):
            story = await service.get(article_id)
    assert story is not None and (story.ok, story.reason) == (False, "error")
    assert story.url == server.url("/story", host=HOST)
    assert f"article {article_id}" in caplog.text and "bug in the fetch path" in caplog.text
    assert ArticleTextStore(engine).get(article_id) is None


class FlakyArticles(ArticleStore):
    """The database fails the first look-up, as during a failover."""

    calls = 0

    def get(self, article_id: int):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("database went away")
        return super().get(article_id)


async def test_lookup_failure_reaches_every_waiter_and_is_not_stuck(
    engine: Engine, server: FeedServer, fetcher: Fetcher
) -> None:
    server.add_file("/story", "article.html", headers=HTML)
    article_id = add_article(engine, server, "/story")
    service = FullStoryService(FlakyArticles(engine), ArticleTextStore(engine), fetcher)
    presses = (service.get(article_id) for _ in range(3))
    results = await asyncio.gather(*presses, return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    story = await service.get(article_id)
    assert story is not None and story.ok


async def test_extraction_runs_off_the_event_loop(
    engine: Engine, server: FeedServer, service: FullStoryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real = extract_module.extract_article

    def spy(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(extract_module, "extract_article", spy)
    server.add_file("/story", "article.html", headers=HTML)
    assert (await service.get(add_article(engine, server, "/story"))).ok  # type: ignore[union-attr]
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


# --- paragraph hygiene (pure) ---------------------------------------------------------------


def test_chat_paragraphs_collapse_whitespace_and_drop_blanks() -> None:
    assert chat_paragraphs(["  One\n\t two  ", "", " \n ", "Three\u00a0four"]) == (
        "One two",
        "Three four",
    )


def test_chat_paragraphs_cap_the_total_at_a_word_boundary() -> None:
    paragraphs = ["a" * 90, "word " * 60]
    capped = chat_paragraphs(paragraphs, max_chars=300)
    assert capped[0] == "a" * 90 and capped[1].endswith("word…")
    assert sum(map(len, capped)) <= 300
    assert chat_paragraphs(["x" * 250, "tail " * 50], max_chars=300) == ("x" * 250,)
    assert chat_paragraphs(["y" * 5000], max_chars=300) == ("y" * 299 + "…",)
