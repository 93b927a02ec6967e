"""The push bot's HTTP client: lean keep-alive HTTP/1.1, timeouts that say what they mean.

Why not httpx here: a fan-out is thousands of identical small POSTs to one host, and httpx with
httpcore and anyio cost about 1 ms of CPU per request on this project's 2-core machine (request
models, the pool's liveness probes, three layers of streams), which alone capped one process
below Telegram's 1,000 paid messages/s. ``PushRequest`` keeps PTB on top (``Bot`` methods, the
same encoding of parameters, the same errors: ``RetryAfter``, ``Forbidden``, ``BadRequest``...
are raised by PTB from the status and body returned here) and does the HTTP itself with asyncio
streams: one write per request with a JSON body, answers read by ``Content-Length`` or chunks,
connections kept open and reused, TLS through the ``ssl`` module (certifi's roots, as httpx).
Uploads (multipart) and proxies from the environment still go through PTB's httpx client.

PTB raises one ``TimedOut`` whether the request never left (no connection, no free slot in the
pool) or Telegram has it and did not answer in time. For a push these differ: a request never
written is safe to send again; one whose answer is late may already have reached the reader
("maybe delivered"), and sending it again blindly is how one slow minute turned every digest into
five. Here the client knows which: ``NotSent`` (pool or connect timeout) or ``MaybeSent``
(write or read timeout), both still ``TimedOut``, so other callers see no change.

The timeouts: Telegram's answers to sendMessage usually take well under a second but stretch to
several seconds when it is busy, so the read (and write) timeout is 20 s instead of PTB's 5 s;
connecting stays short (a connection that does not open in 5 s will not), and waiting for a
free connection in the pool too.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.request
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

READ_TIMEOUT = 20.0
WRITE_TIMEOUT = 20.0
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 5.0
IDLE_SECONDS = 30.0  # an idle connection older than this is closed rather than reused
_Key = tuple[str, str, int]


class NotSent(TimedOut):
    """Timed out before the request was written (connect or pool): safe to retry."""


class MaybeSent(TimedOut):
    """Timed out after the request was (partly) written: Telegram may have delivered it."""


class _Connection:
    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.idle_since = reader, writer, 0.0

    def reusable(self, now: float) -> bool:
        """Still open, nothing unread (the server closed it, or spoke out of turn), not stale."""
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and not self.reader._buffer  # type: ignore[attr-defined]  # no public peek
            and now - self.idle_since < IDLE_SECONDS
        )

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """At most ``size`` requests at once; idle connections per (scheme, host, port)."""

    def __init__(self, size: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(size)
        self.idle: dict[_Key, deque[_Connection]] = {}

    def take(self, key: _Key) -> _Connection | None:
        idle, now = self.idle.get(key), time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    def give_back(self, key: _Key, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        self.idle.setdefault(key, deque()).append(connection)

    def close(self) -> None:
        for idle in self.idle.values():
            for connection in idle:
                connection.close()
        self.idle.clear()


class PushRequest(HTTPXRequest):
    """PTB request class for pushes: lean HTTP/1.1 for JSON calls, ``NotSent`` / ``MaybeSent``
    on timeouts; PTB's httpx client for uploads and when a proxy is configured."""

    __slots__ = ("_lean_pool", "_pool_size", "_ssl", "_targets", "_timeouts")

    def __init__(
        self,
        *,
        read_timeout: float = READ_TIMEOUT,
        connection_pool_size: int = 256,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("write_timeout", WRITE_TIMEOUT)
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
        super().__init__(
            read_timeout=read_timeout, connection_pool_size=connection_pool_size, **kwargs
        )
        self._pool_size = connection_pool_size
        self._timeouts = {
            "read": read_timeout, "write": kwargs["write_timeout"],
            "connect": kwargs["connect_timeout"], "pool": kwargs["pool_timeout"],
        }  # fmt: skip
        self._lean_pool: _Pool | None = None
        self._ssl: ssl.SSLContext | None = None
        self._targets: dict[str, tuple[_Key, bytes] | None] = {}  # url -> where, or None: httpx

    async def shutdown(self) -> None:
        if self._lean_pool is not None:
            self._lean_pool.close()
            self._lean_pool = None
        await super().shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        target = self._target(url)
        if target is None or method != "POST" or (request_data and request_data.contains_files):
            return await self._through_httpx(
                url, method, request_data, read_timeout, write_timeout, connect_timeout,
                pool_timeout,
            )  # fmt: skip
        params = request_data.parameters if request_data is not None else {}
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        return await self._post(
            *target, body,
            self._timeout("read", read_timeout), self._timeout("write", write_timeout),
            self._timeout("connect", connect_timeout), self._timeout("pool", pool_timeout),
        )  # fmt: skip

    # ------------------------------------------------------------------ lean HTTP/1.1
    async def _post(
        self, key: _Key, path: bytes, body: bytes,
        read: float | None, write: float | None, connect: float | None, wait: float | None,
    ) -> tuple[int, bytes]:  # fmt: skip
        pool = self._lean_pool
        if pool is None or pool.loop is not asyncio.get_running_loop():
            pool = self._lean_pool = _Pool(self._pool_size)
        try:
            async with asyncio.timeout(wait):
                await pool.slots.acquire()
        except TimeoutError:
            raise NotSent("not sent: PoolTimeout") from None
        try:
            connection = pool.take(key) or await self._connect(key, connect)
            head = b"POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n" % (
                path,
                key[1].encode(),
                self.USER_AGENT.encode(),
            )
            connection.writer.write(
                head
                + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            try:
                if connection.writer.transport.get_write_buffer_size():
                    async with asyncio.timeout(write):
                        await connection.writer.drain()
                async with asyncio.timeout(read):
                    status, payload, keep = await _read_response(connection.reader)
            except TimeoutError:
                connection.close()
                raise MaybeSent("timed out: may have been delivered") from None
            except (OSError, EOFError, ValueError, asyncio.LimitOverrunError) as e:
                connection.close()
                raise NetworkError(f"push request: {type(e).__name__}: {e}") from e
            except BaseException:
                connection.close()  # cancelled mid-request: the connection is in an unknown state
                raise
            if keep:
                pool.give_back(key, connection)
            else:
                connection.close()
            return status, payload
        finally:
            pool.slots.release()

    async def _connect(self, key: _Key, within: float | None) -> _Connection:
        scheme, host, port = key
        tls = self._tls() if scheme == "https" else None
        try:
            async with asyncio.timeout(within):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise NotSent("not sent: ConnectTimeout") from None
        except OSError as e:
            raise NetworkError(f"push request: cannot connect: {e}") from e
        return _Connection(reader, writer)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            import certifi  # httpx's own dependency: the same roots as PTB's client

            self._ssl = ssl.create_default_context(cafile=certifi.where())
        return self._ssl

    def _target(self, url: str) -> tuple[_Key, bytes] | None:
        """Where a URL goes, cached per URL (one per Bot API method); None: use httpx."""
        if url in self._targets:
            return self._targets[url]
        parts = urlsplit(url)
        target: tuple[_Key, bytes] | None = None
        proxied = urllib.request.getproxies().get(parts.scheme) and not (
            urllib.request.proxy_bypass(parts.hostname or "")
        )
        if parts.scheme in ("http", "https") and parts.hostname and not proxied:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = ((parts.scheme, parts.hostname, port), path.encode())
        if len(self._targets) < 1024:
            self._targets[url] = target
        return target

    def _timeout(self, name: str, given: Any) -> float | None:
        return self._timeouts[name] if given is BaseRequest.DEFAULT_NONE else given

    async def _through_httpx(self, *args: Any) -> tuple[int, bytes]:
        try:
            return await super().do_request(*args)
        except TimedOut as error:
            cause = error.__cause__
            if isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise NotSent(f"not sent: {type(cause).__name__}") from cause
            raise MaybeSent("timed out: may have been delivered") from cause


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection may be reused, for one HTTP/1.x answer."""
    lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    version, status_text = lines[0].split(b" ", 2)[:2]
    length, chunked, keep = -1, False, version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = value.strip().lower() == b"keep-alive" or (
                keep and b"close" not in value.lower()
            )
    if chunked:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        body = b"".join(parts)
    elif length >= 0:
        body = await reader.readexactly(length)
    else:
        body, keep = await reader.read(), False  # until the server closes
    return int(status_text), body, keep
