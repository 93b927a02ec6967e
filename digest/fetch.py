"""Fetch feeds and article pages over HTTP: politely, and within hard bounds.

Politeness (publishers owe us nothing, so we cost them as little as we can):

* One shared ``httpx.AsyncClient`` per process: keep-alive and TLS sessions are reused
  instead of a handshake per feed.
* Bounded concurrency: at most ``max_connections`` fetches in flight overall and
  ``max_per_host`` per host, so twenty feeds of one publisher never arrive as twenty
  parallel requests. Waiting for a host's slot does not eat into a fetch's time budget.
* A descriptive ``User-Agent`` with a contact URL, so a publisher can tell who we are.
* Conditional GET: ``If-None-Match`` / ``If-Modified-Since`` from the last answer's
  ``ETag`` / ``Last-Modified``; a 304 carries no body and costs no parsing. The validators
  go to every redirect hop, because they were stored from the final hop.
* ``Retry-After`` (any status) and ``Cache-Control: max-age`` are returned, so the caller
  schedules the next fetch no sooner than the publisher asked.
* ``Accept-Encoding: gzip, deflate, br``: feeds shrink five to ten times.

Bounds (a feed is untrusted input):

* connect, read and total timeouts;
* a body cap, ``max_bytes``, on the wire AND after decompression, enforced while
  streaming: a declared ``Content-Length`` over the cap is refused unread, and a gzip bomb
  stops at the cap without ever being held in memory;
* at most ``max_redirects`` hops, and a loop is refused at once.

Some publishers send a gzip-compressed feed without saying so (no ``Content-Encoding``).
A body that still starts with the gzip magic bytes, or a zlib header, after the declared
decoding is decompressed once more, under the same cap: a bomb sent this way stops at the cap
too.

Redirects are followed by hand, one hop at a time. Each hop takes its host's slot, and with
``guard_private=True`` each hop's URL passes :func:`digest.urlguard.check_url` BEFORE a
request is sent, so a private address never sees one (DESIGN §7). Catalog feeds are
trusted (``guard_private=False``); URLs found in feed content are not.

Over 350 lines on purpose: the bounds (caps while streaming and after decompression, every redirect
checked, the URL guard, undeclared compression) sit in the same loop as the request they bound;
apart, one of them could be skipped.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

import httpx

from digest.errors import BlockedURLError, FetchError
from digest.redact import redact_url
from digest.urlguard import Resolver, UnresolvableHostError, check_url

try:
    import brotli
except ImportError:  # pragma: no cover - without it we just do not offer "br"
    brotli = None

__all__ = ["FetchError", "FetchLimits", "FetchResult", "Fetcher", "Validators", "USER_AGENT"]

USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
ACCEPT_ENCODING = "gzip, deflate, br" if brotli else "gzip, deflate"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_WEEK = 7 * 24 * 3600.0
_DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error,) + ((brotli.error,) if brotli else ())


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said identifies this version, for the next conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One successful fetch (2xx) or a 304; ``body`` is decompressed, None on 304."""

    url: str
    final_url: str
    status: int
    body: bytes | None
    headers: dict[str, str]
    validators: Validators
    not_modified: bool
    retry_after_seconds: float | None
    max_age_seconds: float | None
    elapsed: float


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts in seconds, sizes in bytes."""

    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 5
    read_timeout: float = 15
    total_timeout: float = 30
    max_redirects: int = 5
    max_connections: int = 16
    max_per_host: int = 4


class _BoundedDecoder:
    """One Content-Encoding, never producing more than ``room + 1`` bytes per call."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._started = False
        if coding == "br":
            self._obj: Any = brotli.Decompressor()
        else:  # deflate: zlib-wrapped; gzip: 32 = detect gzip or zlib header
            self._obj = zlib.decompressobj(zlib.MAX_WBITS | (0 if coding == "deflate" else 32))

    def feed(self, data: bytes, room: int) -> bytes:
        if self._coding == "br":
            return bytes(self._obj.process(data, output_buffer_limit=room + 1))
        try:
            out: bytes = self._obj.decompress(data, room + 1)
        except zlib.error:
            if self._coding != "deflate" or self._started:
                raise
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
            out = self._obj.decompress(data, room + 1)
        self._started = True
        return out


def _decoders(content_encoding: str) -> list[_BoundedDecoder]:
    """Decoders in the order to apply them (the header lists codings as they were applied)."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [
        "gzip" if c == "x-gzip" else c for c in reversed(codings) if c not in ("", "identity")
    ]
    for coding in codings:
        if coding not in ("gzip", "deflate") and not (coding == "br" and brotli is not None):
            raise FetchError("protocol", f"unsupported Content-Encoding {coding[:30]!r}")
    return [_BoundedDecoder(c) for c in codings]


def _sniffed_coding(body: bytes) -> str | None:
    """ "gzip" or "deflate" if ``body`` starts like one (a feed starts with ``<``, a BOM or
    whitespace, none of which can), else None."""
    if body[:2] == b"\x1f\x8b":
        return "gzip"
    if (
        len(body) >= 2
        and body[0] & 0x0F == 8
        and body[0] >> 4 <= 7
        and ((body[0] << 8) | body[1]) % 31 == 0
    ):
        return "deflate"  # zlib header: CM = 8, CINFO <= 7, FCHECK makes it divisible by 31
    return None


def _undeclared_decode(body: bytes, cap: int, too_large: FetchError) -> bytes:
    """Decompress a body compressed without a Content-Encoding, at most ``cap`` bytes out."""
    coding = _sniffed_coding(body)
    if coding is None:
        return body
    decoder = zlib.decompressobj(zlib.MAX_WBITS | (16 if coding == "gzip" else 0))
    try:
        out = decoder.decompress(body, cap + 1)
    except zlib.error:
        if coding == "deflate":
            return body  # two bytes that looked like a zlib header by chance: not compressed
        raise
    if len(out) > cap:
        raise too_large
    return out


def _seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _WEEK)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), _WEEK)


def _max_age(cache_control: str | None) -> float | None:
    match = _MAX_AGE.search(cache_control or "")
    return min(float(match.group(1)), _WEEK) if match else None


def _type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    patterns = [p.lower() for p in allowed]
    return any(media == p or (p.endswith("/*") and media.startswith(p[:-1])) for p in patterns)


class Fetcher:
    """Owns the shared client; use as ``async with Fetcher() as fetcher``.

    ``guard_private=True`` sends every hop through the URL guard (article pages);
    ``trusted_hosts`` exempts exact host names from it (tests use it for the fixture
    server; it is no operator setting), and ``resolver`` replaces DNS for the guard.
    """

    def __init__(
        self,
        limits: FetchLimits = FetchLimits(),
        *,
        user_agent: str = USER_AGENT,
        transport: httpx.AsyncBaseTransport | None = None,
        guard_private: bool = False,
        trusted_hosts: Collection[str] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.limits = limits
        self._guard = guard_private
        self._trusted = frozenset(h.lower() for h in trusted_hosts)
        self._resolver = resolver
        self._overall = asyncio.Semaphore(limits.max_connections)
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}  # host -> (slots, users)
        read = limits.read_timeout
        self._client_options: dict[str, Any] = {
            "transport": transport,
            "timeout": httpx.Timeout(
                connect=limits.connect_timeout, read=read, write=read, pool=read
            ),
            "limits": httpx.Limits(max_connections=limits.max_connections),
            "headers": {"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            "follow_redirects": False,
            "trust_env": False,
        }
        self._http: httpx.AsyncClient | None = None
        self._closed = False

    @property
    def _client(self) -> httpx.AsyncClient:
        """The shared client, made on the first fetch: a fetcher that never fetches (feeds
        off, no Full story pressed yet) holds no TLS context and pool (about 0.8 MiB each,
        ``python -m bench.memory``)."""
        if self._http is None:
            if self._closed:
                raise RuntimeError("the fetcher is closed")
            self._http = httpx.AsyncClient(**self._client_options)
        return self._http

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client and its connections."""
        self._closed = True
        if self._http is not None:
            await self._http.aclose()

    async def fetch(
        self,
        url: str,
        validators: Validators | None = None,
        *,
        accept: str = FEED_ACCEPT,
        allowed_content_types: tuple[str, ...] | None = None,
    ) -> FetchResult:
        """GET ``url``, following redirects; raise :class:`FetchError` on any failure."""
        started = time.monotonic()
        validators = validators or Validators()
        conditional = {
            "If-None-Match": validators.etag,
            "If-Modified-Since": validators.last_modified,
        }
        headers = {"Accept": accept, **{k: v for k, v in conditional.items() if v}}
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        current, seen = url, {url}
        for _hop in range(self.limits.max_redirects + 1):
            await self._check(current)
            # Host slot first: a fetch queued behind a busy host must not hold an overall
            # slot that a fetch to an idle host could use.
            host = urlsplit(current).netloc.rpartition("@")[2].lower()
            async with self._host_slot(host), self._overall:
                deadline = deadline or loop.time() + self.limits.total_timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        request = self._client.build_request("GET", current, headers=headers)
                        response = await self._client.send(request, stream=True)
                        try:
                            location = response.headers.get("location", "").strip()
                            if response.status_code not in _REDIRECTS or not location:
                                return await self._result(
                                    url, response, validators, allowed_content_types, started
                                )
                        finally:
                            await response.aclose()
                except TimeoutError as e:
                    raise FetchError("timeout", f"{redact_url(current)} timed out", url=url) from e
                except (httpx.HTTPError, httpx.InvalidURL) as e:
                    raise _wrap(e, current) from e
            location = urljoin(current, location)
            if location in seen:
                raise FetchError(
                    "too_many_redirects", f"redirect loop at {redact_url(url)}", url=url
                )
            seen.add(location)
            current = location
        raise FetchError(
            "too_many_redirects", f"more than {self.limits.max_redirects} redirects", url=url
        )

    async def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            kind = "blocked" if self._guard else "protocol"
            raise FetchError(kind, f"refused non-HTTP URL {redact_url(url)}", url=url)
        if not self._guard or (parts.hostname or "").lower() in self._trusted:
            return
        try:
            async with asyncio.timeout(self.limits.connect_timeout):  # DNS can hang too
                await check_url(url, allow_private=False, resolver=self._resolver)
        except TimeoutError as e:
            raise FetchError("timeout", f"resolving {redact_url(url)} timed out", url=url) from e
        except UnresolvableHostError as e:
            raise FetchError("connect", str(e), url=url) from e
        except BlockedURLError as e:
            raise FetchError("blocked", f"{redact_url(url)}: {e}", url=url) from e

    @asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's slots; a host's entry goes when idle (hosts come and go)."""
        slots, users = self._hosts.get(host) or (asyncio.Semaphore(self.limits.max_per_host), 0)
        self._hosts[host] = (slots, users + 1)
        try:
            async with slots:
                yield
        finally:
            slots, users = self._hosts.pop(host)
            if users > 1:
                self._hosts[host] = (slots, users - 1)

    async def _result(
        self,
        url: str,
        response: httpx.Response,
        validators: Validators,
        allowed: tuple[str, ...] | None,
        started: float,
    ) -> FetchResult:
        status = response.status_code
        retry_after = _seconds(response.headers.get("retry-after"))
        final = str(response.url)
        if status >= 300 and status != 304:
            raise FetchError(
                "http_status", f"HTTP {status} from {redact_url(final)}", url=url,
                status=status, retry_after_seconds=retry_after,
            )  # fmt: skip
        body = None
        if status != 304:
            content_type = response.headers.get("content-type", "")
            if allowed is not None and not _type_allowed(content_type, allowed):
                shown = content_type.split(";", 1)[0][:60] or "none"
                raise FetchError("content_type", f"unexpected content type {shown}", url=url)
            body = await self._read_body(response, final)
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        if status == 304:
            etag, modified = etag or validators.etag, modified or validators.last_modified
        max_age = _max_age(response.headers.get("cache-control"))
        return FetchResult(
            url, final, status, body, dict(response.headers.items()), Validators(etag, modified),
            status == 304, retry_after, max_age, time.monotonic() - started,
        )  # fmt: skip

    async def _read_body(self, response: httpx.Response, url: str) -> bytes:
        cap = self.limits.max_bytes
        too_large = FetchError("too_large", f"body over {cap} bytes at {redact_url(url)}", url=url)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise too_large
        if response.is_stream_consumed:  # a test transport's Response(content=...), read already
            if len(response.content) > cap:
                raise too_large
            body = bytearray(response.content)
        else:
            body = await self._stream_body(response, url, cap, too_large)
        try:
            return _undeclared_decode(bytes(body), cap, too_large)
        except _DECODE_ERRORS as e:
            raise FetchError("protocol", f"undecodable body at {redact_url(url)}", url=url) from e

    async def _stream_body(
        self, response: httpx.Response, url: str, cap: int, too_large: FetchError
    ) -> bytearray:
        chain = _decoders(response.headers.get("content-encoding", ""))
        body = bytearray()
        wire = 0
        try:
            async for chunk in response.aiter_raw():
                wire += len(chunk)
                for decoder in chain:
                    chunk = decoder.feed(chunk, cap - len(body))
                body += chunk
                if wire > cap or len(body) > cap:
                    raise too_large
        except _DECODE_ERRORS as e:
            raise FetchError("protocol", f"undecodable body at {redact_url(url)}", url=url) from e
        return body


def _wrap(error: Exception, url: str) -> FetchError:
    """Map an httpx error to a :class:`FetchError` kind, with a short secret-free message."""
    shown = redact_url(url)
    if isinstance(error, httpx.TimeoutException):
        return FetchError("timeout", f"{shown} timed out ({type(error).__name__})", url=url)
    if isinstance(error, httpx.ConnectError | httpx.ProxyError | httpx.NetworkError):
        return FetchError("connect", f"cannot reach {shown} ({type(error).__name__})", url=url)
    return FetchError("protocol", f"{type(error).__name__} at {shown}", url=url)
