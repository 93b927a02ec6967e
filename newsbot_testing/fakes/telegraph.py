"""A fake Telegraph API (``POST /createPage``) over real HTTP, for tests of long-form pages.

It records every page it is asked to create (the form, with ``content`` decoded from its
Node JSON) and answers like telegra.ph: ``{"ok": true, "result": {"url": ...}}``, or, after
``fail_with("CONTENT_TOO_BIG")``, ``{"ok": false, "error": ...}``; ``fail_with(None, 500)``
answers an HTTP 500 with no JSON.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs


class FakeTelegraph:
    """``with FakeTelegraph() as telegraph:`` serves on 127.0.0.1; ``base_url`` for the client."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self._error: str | None = None
        self._status = 200
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, reply = fake._answer(self.path, form)
                body = json.dumps(reply).encode() if reply is not None else b"oops"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_with(self, error: str | None, status: int = 200) -> None:
        """Answer later requests with this Telegraph error (or a bare HTTP ``status``)."""
        with self._lock:
            self._error, self._status = error, status

    def _answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            if self._status != 200:
                return self._status, None
            if path != "/createPage":
                return 404, {"ok": False, "error": "METHOD_NOT_FOUND"}
            if self._error is not None:
                return 200, {"ok": False, "error": self._error}
            page = {**form, "content": json.loads(form.get("content", "[]"))}
            self.pages.append(page)
            url = f"https://telegra.ph/story-{len(self.pages)}"
            return 200, {"ok": True, "result": {"path": url.rsplit("/", 1)[1], "url": url}}

    def __enter__(self) -> FakeTelegraph:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
