"""A local HTTP server for tests: fixture files and programmable misbehaviour.

It listens on 127.0.0.1 on a free port, in a background thread, and answers real HTTP, so
the code under test runs its real client stack. Each path gets a :class:`Route`: a static
body (``add_file``) or a handler (``add_route``) that sees the request and returns a
:class:`Reply`. Helpers cover what feed and page fetching must survive: conditional GET
(an ETag or Last-Modified answers 304 to a matching request), gzip, redirects, stalls
(the server holds the answer until the test ends, so a client read timeout fires without
any sleep), endless or oversized bodies streamed in chunks, wrong content types.

Every request is recorded (method, path, query, headers), so a test can assert, say, that
a blocked redirect target never saw a request. Usage::

    with FeedServer() as server:
        server.add_file("/rss", "rss20_basic.xml", headers={"Content-Type": "application/rss+xml"})
        url = server.url("/rss")
"""

from __future__ import annotations

import gzip as gzip_module
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

# The fixture feeds stay with the tests that read them; the bench passes its own bodies.
FEEDS_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "feeds"


@dataclass(frozen=True)
class Request:
    """One request as the server saw it; header names are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Reply:
    """What to answer. ``body`` may be an iterable of chunks (streamed, no length sent)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    stall: bool = False  # hold the connection open, answering nothing, until the server stops
    stall_after_headers: bool = False  # send status and headers, then hold


Handler = Callable[[Request], Reply]


class FeedServer:
    """Threaded fixture server; a context manager. See the module docstring."""

    def __init__(self, root: Path = FEEDS_DIR) -> None:
        self.root = root
        self._routes: dict[str, Handler] = {}
        self._requests: list[Request] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        """Release stalled answers and stop serving."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        """Absolute URL of ``path`` on this server (``host`` may be e.g. "localhost")."""
        return f"http://{host}:{self.port}{path}"

    # -- routes ------------------------------------------------------------------------
    def add_route(self, path: str, handler: Handler) -> None:
        """Answer requests for ``path`` (query ignored) with ``handler(request)``."""
        self._routes[path] = handler

    def add_file(
        self,
        path: str,
        source: str | bytes,
        *,
        headers: Mapping[str, str] | None = None,
        status: int = 200,
        gzip: bool = False,
    ) -> None:
        """Serve a fixture file (name under ``root``) or literal bytes at ``path``.

        An ``ETag`` or ``Last-Modified`` in ``headers`` turns on conditional answers: a
        request whose If-None-Match / If-Modified-Since matches gets a bodiless 304.
        ``gzip=True`` compresses the body and says so in Content-Encoding.
        """
        body = source if isinstance(source, bytes) else (self.root / source).read_bytes()
        base = dict(headers or {})
        if gzip:
            body = gzip_module.compress(body)
            base["Content-Encoding"] = "gzip"

        def handler(request: Request) -> Reply:
            etag, modified = base.get("ETag"), base.get("Last-Modified")
            inm, ims = (
                request.headers.get("if-none-match"),
                request.headers.get("if-modified-since"),
            )
            if (etag and inm == etag) or (modified and not inm and ims == modified):
                kept = {k: v for k, v in base.items() if k in ("ETag", "Last-Modified")}
                return Reply(304, kept)
            return Reply(status, dict(base), body)

        self.add_route(path, handler)

    def add_redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Redirect ``path`` to ``location`` (absolute, or relative to this server)."""
        self.add_route(path, lambda _r: Reply(status, {"Location": location}))

    def add_stall(self, path: str, *, after_headers: bool = False) -> None:
        """Never answer ``path`` (or answer headers only) until the server stops."""
        self.add_route(path, lambda _r: Reply(stall=not after_headers,
                                               stall_after_headers=after_headers))  # fmt: skip

    def add_hold(self, path: str, release: threading.Event, reply: Reply | None = None) -> None:
        """Answer ``path`` only once ``release`` is set (or the server stops): a publisher that
        takes as long as the test wants. Then ``reply``, by default a 503."""
        answer = reply or Reply(503, {}, b"")

        def handler(_request: Request) -> Reply:
            while not release.wait(0.05) and not self._stopping.is_set():
                pass
            return answer

        self.add_route(path, handler)

    def add_stream(
        self,
        path: str,
        size: int,
        *,
        chunk: int = 64 * 1024,
        content_length: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Stream ``size`` generated bytes at ``path``, optionally without Content-Length."""
        extra = dict(headers or {})
        if content_length:
            extra["Content-Length"] = str(size)

        def chunks() -> Iterator[bytes]:
            block = b"x" * chunk
            for start in range(0, size, chunk):
                if self._stopping.is_set():
                    return
                yield block[: min(chunk, size - start)]

        self.add_route(path, lambda _r: Reply(200, dict(extra), chunks()))

    # -- the record --------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Request]:
        """Requests recorded for ``path`` (query ignored)."""
        return [r for r in self.requests if r.path == path]

    def wait_for_requests(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Request]:
        """Block until ``count`` requests for ``path`` were seen (or fail after ``timeout``)."""
        with self._changed:
            ok = self._changed.wait_for(
                lambda: sum(r.path == path for r in self._requests) >= count, timeout
            )
        if not ok:
            raise AssertionError(f"fewer than {count} requests for {path}")
        return self.requests_for(path)

    def _record(self, request: Request) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _answer(self, request: Request) -> Reply:
        handler = self._routes.get(request.path)
        if handler is None:
            return Reply(404, {"Content-Type": "text/plain"}, b"not found")
        return handler(request)


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, parts.path, parts.query, headers)
            server._record(request)
            reply = server._answer(request)
            if reply.stall:
                server._stopping.wait()
                return
            self.send_response(reply.status)
            names = {k.lower() for k in reply.headers}
            for name, value in reply.headers.items():
                self.send_header(name, value)
            body = reply.body
            sized = isinstance(body, bytes) and not reply.stall_after_headers
            if isinstance(body, bytes) and sized and "content-length" not in names:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if reply.stall_after_headers:
                self.wfile.write(b"<?xml")  # a first byte of body, then nothing
                self.wfile.flush()
                server._stopping.wait()
                return
            chunks = [body] if isinstance(body, bytes) else body
            try:
                for chunk in chunks:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it is allowed to

        def log_message(self, format: str, *args: object) -> None:
            pass

    return _Handler
