"""Fetcher against real HTTP (the feed server of newsbot_testing) and httpx's MockTransport."""

from __future__ import annotations

import asyncio
import gzip
import socket
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator

import brotli
import httpx
import pytest

from digest.fetch import USER_AGENT, Fetcher, FetchError, FetchLimits, FetchResult, Validators
from newsbot_testing.feedserver import FEEDS_DIR, FeedServer, Reply, Request

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
FAST = FetchLimits(connect_timeout=0.5, read_timeout=0.3, total_timeout=2)
FEED_BYTES = (FEEDS_DIR / "rss20_full.xml").read_bytes()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(FAST) as f:
        yield f


async def fetch_error(fetcher: Fetcher, url: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- plain fetching ----------------------------------------------------------------------


async def test_200_returns_body_headers_and_validators(
    server: FeedServer, fetcher: Fetcher
) -> None:
    headers = {**RSS, "ETag": '"v1"', "Last-Modified": "Tue, 24 Nov 2026 10:00:00 GMT",
               "Cache-Control": "public, max-age=600"}  # fmt: skip
    server.add_file("/rss", "rss20_full.xml", headers=headers)
    result = await fetcher.fetch(server.url("/rss"))
    assert isinstance(result, FetchResult)
    assert (result.status, result.body, result.not_modified) == (200, FEED_BYTES, False)
    assert result.final_url == result.url == server.url("/rss")
    assert result.validators == Validators('"v1"', "Tue, 24 Nov 2026 10:00:00 GMT")
    assert result.headers["content-type"] == RSS["Content-Type"]
    assert result.max_age_seconds == 600 and result.retry_after_seconds is None
    assert result.elapsed >= 0
    seen = server.requests_for("/rss")[0].headers
    assert seen["user-agent"] == USER_AGENT == "newsbot/0.1 (+https://github.com/newsbot)"
    assert seen["accept-encoding"] == "gzip, deflate, br"
    assert seen["accept"].startswith("application/rss+xml")


async def test_conditional_get_gives_304_without_body(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_file("/rss", "rss20_full.xml", headers={**RSS, "ETag": 'W/"abc"'})
    first = await fetcher.fetch(server.url("/rss"))
    second = await fetcher.fetch(server.url("/rss"), first.validators)
    assert second.not_modified and second.status == 304 and second.body is None
    assert second.validators == first.validators == Validators('W/"abc"', None)
    assert server.requests_for("/rss")[1].headers["if-none-match"] == 'W/"abc"'


async def test_conditional_get_on_last_modified(server: FeedServer, fetcher: Fetcher) -> None:
    stamp = "Tue, 24 Nov 2026 10:00:00 GMT"
    server.add_file("/rss", "rss20_full.xml", headers={**RSS, "Last-Modified": stamp})
    result = await fetcher.fetch(server.url("/rss"), Validators(None, stamp))
    assert result.not_modified and result.validators.last_modified == stamp
    assert server.requests_for("/rss")[0].headers["if-modified-since"] == stamp


@pytest.mark.parametrize(
    "encoding, compress",
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress),
     ("deflate", lambda b: zlib.compress(b)[2:-4])],  # raw deflate, as some servers send
)  # fmt: skip
async def test_compressed_bodies_are_decoded(
    server: FeedServer, fetcher: Fetcher, encoding: str, compress: object
) -> None:
    body = compress(FEED_BYTES)  # type: ignore[operator]
    server.add_file("/z", body, headers={**RSS, "Content-Encoding": encoding})
    assert (await fetcher.fetch(server.url("/z"))).body == FEED_BYTES


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress], ids=["gzip", "zlib"])
async def test_compressed_body_without_content_encoding_is_decoded(
    server: FeedServer, fetcher: Fetcher, compress: object
) -> None:
    """Seen on a real publisher: a gzip body and no ``Content-Encoding`` header (#17.1)."""
    server.add_file("/z", compress(FEED_BYTES), headers=RSS)  # type: ignore[operator]
    assert (await fetcher.fetch(server.url("/z"))).body == FEED_BYTES


async def test_undeclared_gzip_twice_compressed_is_decoded_once_more(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """Declared gzip around an undeclared one: the declared layer, then the sniffed one."""
    server.add_file("/z", gzip.compress(FEED_BYTES), headers=RSS, gzip=True)
    assert (await fetcher.fetch(server.url("/z"))).body == FEED_BYTES


async def test_undeclared_gzip_bomb_stops_at_cap(server: FeedServer) -> None:
    server.add_file("/bomb", _bomb("gzip"), headers=RSS)  # no Content-Encoding
    async with Fetcher(FetchLimits(max_bytes=1024 * 1024, read_timeout=2)) as fetcher:
        tracemalloc.start()
        try:
            error = await fetch_error(fetcher, server.url("/bomb"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 8 * 1024 * 1024, peak


async def test_text_that_looks_like_a_zlib_header_is_kept(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.add_file("/x", b"x^ not compressed", headers=RSS)  # 0x78 0x5e: a valid zlib header
    assert (await fetcher.fetch(server.url("/x"))).body == b"x^ not compressed"


async def test_unknown_content_encoding_is_a_protocol_error(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.add_file("/z", b"....", headers={"Content-Encoding": "compress"})
    assert (await fetch_error(fetcher, server.url("/z"))).kind == "protocol"


# --- statuses and scheduling hints --------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410, 500])
async def test_error_statuses(server: FeedServer, fetcher: Fetcher, status: int) -> None:
    server.add_file("/gone?token=SECRET", b"no", status=status)
    server.add_file("/gone", b"no", status=status)
    error = await fetch_error(fetcher, server.url("/gone?token=SECRET"))
    assert (error.kind, error.status) == ("http_status", status)
    assert "SECRET" not in str(error) and "\n" not in str(error)


async def test_retry_after_seconds_and_date(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_file("/busy", b"", status=503, headers={"Retry-After": "120"})
    server.add_file(
        "/slow-down", b"", status=429, headers={"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}
    )
    error = await fetch_error(fetcher, server.url("/busy"))
    assert (error.status, error.retry_after_seconds) == (503, 120)
    error = await fetch_error(fetcher, server.url("/slow-down"))
    assert error.retry_after_seconds == 7 * 24 * 3600  # a far date is capped at a week


async def test_retry_after_on_success_is_returned(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_file("/rss", "rss20_full.xml", headers={**RSS, "Retry-After": "30",
                                                       "Cache-Control": "max-age=0"})  # fmt: skip
    result = await fetcher.fetch(server.url("/rss"))
    assert (result.retry_after_seconds, result.max_age_seconds) == (30, 0)


async def test_content_type_filter(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_file("/rss", "rss20_full.xml", headers=RSS)
    server.add_file("/page", b"<html></html>", headers={"Content-Type": "text/html; charset=utf-8"})
    error = await fetch_error(fetcher, server.url("/rss"), allowed_content_types=("text/html",))
    assert error.kind == "content_type"
    page = await fetcher.fetch(server.url("/page"), allowed_content_types=("text/*",))
    assert page.body == b"<html></html>"


# --- bounds --------------------------------------------------------------------------------


async def test_read_timeout_before_headers(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_stall("/stall")
    assert (await fetch_error(fetcher, server.url("/stall"))).kind == "timeout"


async def test_read_timeout_mid_body(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_stall("/stall", after_headers=True)
    assert (await fetch_error(fetcher, server.url("/stall"))).kind == "timeout"


async def test_total_timeout(server: FeedServer) -> None:
    server.add_stall("/stall")
    async with Fetcher(FetchLimits(read_timeout=10, total_timeout=0.3)) as fetcher:
        error = await fetch_error(fetcher, server.url("/stall"))
    assert error.kind == "timeout"


async def test_connect_error(fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert (await fetch_error(fetcher, f"http://127.0.0.1:{port}/")).kind == "connect"


@pytest.mark.parametrize("declared", [True, False])
async def test_body_cap_while_streaming(server: FeedServer, declared: bool) -> None:
    server.add_stream("/big", 3 * 1024 * 1024, content_length=declared)
    async with Fetcher(FetchLimits(max_bytes=1024 * 1024, read_timeout=2)) as fetcher:
        assert (await fetch_error(fetcher, server.url("/big"))).kind == "too_large"


def _bomb(encoding: str) -> bytes:
    zeros = bytes(16 * 1024 * 1024)
    return gzip.compress(zeros, 9) if encoding == "gzip" else brotli.compress(zeros, quality=5)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_decompression_bomb_stops_at_cap(server: FeedServer, encoding: str) -> None:
    bomb = _bomb(encoding)
    assert len(bomb) < 64 * 1024  # small on the wire, 16 MB inflated
    server.add_file("/bomb", bomb, headers={**RSS, "Content-Encoding": encoding})
    async with Fetcher(FetchLimits(max_bytes=1024 * 1024, read_timeout=2)) as fetcher:
        tracemalloc.start()
        try:
            error = await fetch_error(fetcher, server.url("/bomb"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 8 * 1024 * 1024, peak  # never inflated beyond the cap


# --- redirects -----------------------------------------------------------------------------


async def test_redirect_chain_of_five_is_followed(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_file("/rss", "rss20_full.xml", headers={**RSS, "ETag": '"e"'})
    for i in range(5):
        server.add_redirect(f"/r{i}", f"/r{i + 1}" if i < 4 else "/rss", status=301 + i % 2)
    result = await fetcher.fetch(server.url("/r0"), Validators('"e"', None))
    assert result.final_url == server.url("/rss") and result.url == server.url("/r0")
    assert result.not_modified  # validators travel to the final hop


async def test_six_redirects_are_too_many(server: FeedServer, fetcher: Fetcher) -> None:
    for i in range(6):
        server.add_redirect(f"/r{i}", server.url(f"/r{i + 1}"))
    server.add_file("/r6", "rss20_full.xml")
    assert (await fetch_error(fetcher, server.url("/r0"))).kind == "too_many_redirects"
    assert server.requests_for("/r6") == []


async def test_redirect_loop_is_refused(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/a", "/b")
    server.add_redirect("/b", "/a")
    assert (await fetch_error(fetcher, server.url("/a"))).kind == "too_many_redirects"
    assert len(server.requests) == 2


# --- the URL guard, hop by hop ---------------------------------------------------------------


@pytest.fixture
async def guarded() -> AsyncIterator[Fetcher]:
    # The fixture server itself is on 127.0.0.1: trusting that exact host lets the first hop
    # through, while any other name or address still goes through the real guard.
    async with Fetcher(FAST, guard_private=True, trusted_hosts={"127.0.0.1"}) as f:
        yield f


async def test_guard_blocks_redirect_to_loopback_name(server: FeedServer, guarded: Fetcher) -> None:
    server.add_file("/secret", b"admin page")
    server.add_redirect("/go", server.url("/secret", host="localhost"))
    error = await fetch_error(guarded, server.url("/go"))
    assert error.kind == "blocked"
    assert server.requests_for("/secret") == []
    async with Fetcher(FAST) as unguarded:  # the same hop, unguarded, does reach the target
        assert (await unguarded.fetch(server.url("/go"))).body == b"admin page"


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/", "http://10.0.0.1/",
     "file:///etc/passwd", "http://user:pw@example.com/"],
)  # fmt: skip
async def test_guard_blocks_unsafe_redirects(
    server: FeedServer, guarded: Fetcher, target: str
) -> None:
    server.add_redirect("/go", target)
    assert (await fetch_error(guarded, server.url("/go"))).kind == "blocked"
    assert len(server.requests) == 1


async def test_guard_checks_the_first_hop_too(server: FeedServer, guarded: Fetcher) -> None:
    server.add_file("/rss", "rss20_full.xml")
    assert (await fetch_error(guarded, server.url("/rss", host="localhost"))).kind == "blocked"
    assert server.requests == []


async def test_guard_with_injected_resolver() -> None:
    """Names resolve through the injected resolver; the private one never gets a request."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "news.test":
            return httpx.Response(302, headers={"Location": "http://intranet.test/admin"})
        return httpx.Response(200, content=b"ok")

    async def resolver(host: str, port: int) -> list[str]:
        return {"news.test": ["93.184.216.34"], "intranet.test": ["93.184.216.35", "10.1.2.3"]}[
            host
        ]

    transport = httpx.MockTransport(handler)
    async with Fetcher(guard_private=True, transport=transport, resolver=resolver) as fetcher:
        error = await fetch_error(fetcher, "http://news.test/story")
    assert error.kind == "blocked" and seen == ["news.test"]


# --- concurrency bounds -----------------------------------------------------------------------


async def test_concurrency_per_host_and_overall() -> None:
    gate = asyncio.Event()
    in_flight: dict[str, int] = {}
    peak = {"total": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        peak["total"] = max(peak["total"], sum(in_flight.values()))
        await gate.wait()
        in_flight[host] -= 1
        return httpx.Response(200, content=b"x")

    limits = FetchLimits(max_connections=3, max_per_host=2)
    async with Fetcher(limits, transport=httpx.MockTransport(handler)) as fetcher:
        urls = [f"http://{h}.test/{i}" for h in "aab" for i in range(3)]
        tasks = [asyncio.create_task(fetcher.fetch(u)) for u in urls]
        for _ in range(50):  # let every task run until it blocks; no timed sleep
            await asyncio.sleep(0)
        assert sum(in_flight.values()) == 3
        gate.set()
        results = await asyncio.gather(*tasks)
    assert all(r.body == b"x" for r in results)
    assert peak["a.test"] == 2 and peak["b.test"] <= 2 and peak["total"] == 3


async def test_handler_requests_record_headers(server: FeedServer, fetcher: Fetcher) -> None:
    def echo(request: Request) -> Reply:
        return Reply(200, {"Content-Type": "text/plain"}, request.headers["accept"].encode())

    server.add_route("/echo", echo)
    result = await fetcher.fetch(server.url("/echo?x=1"), accept="text/plain")
    assert result.body == b"text/plain"
    assert server.wait_for_requests("/echo")[0].query == "x=1"


async def test_the_client_is_made_on_the_first_fetch(server: FeedServer) -> None:
    """An idle fetcher (feeds off, no Full story yet) holds no httpx client, TLS context and
    pool; it makes one on its first fetch, and a closed one fetches no more."""
    server.add_file("/feed.xml", "rss20_full.xml", headers=RSS)
    idle = Fetcher(FAST)
    assert idle._http is None
    await idle.aclose()
    with pytest.raises(RuntimeError):
        await idle.fetch(server.url("/feed.xml"))
    fetcher = Fetcher(FAST)
    assert (await fetcher.fetch(server.url("/feed.xml"))).status == 200
    assert fetcher._http is not None
    await fetcher.aclose()
    assert fetcher._http.is_closed
