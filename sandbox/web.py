"""The chat page's HTTP server: static files, a small JSON API and server-sent events.

Standard library only (the fake Bot API and the feed server are built the same way), one
thread per connection, so a page's open event stream never holds up anyone else. It trusts
nothing the browser sends beyond the simulated user's own actions: requests must name this
server in ``Host`` (no DNS rebinding) and API writes must be JSON (no cross-site form posts),
and every page is served with a Content-Security-Policy that allows only its own scripts.
"""

from __future__ import annotations

import json
import logging
import queue
import socketserver
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from sandbox.hub import Hub

log = logging.getLogger(__name__)

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
KEEPALIVE_SECONDS = 15.0
_IMAGE_TYPES = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


class Controls(Protocol):
    """What the page can ask of the sandbox beyond chatting (the runner implements it)."""

    def advance(self, *, hours: float | None, next_slot: bool) -> dict[str, Any]: ...

    def clock_state(self) -> dict[str, Any]: ...


class PageServer:
    """Serves the page on ``host:port`` (0: any free port) in a background thread."""

    def __init__(self, hub: Hub, controls: Controls, host: str, port: int) -> None:
        self.hub = hub
        self.controls = controls
        self._static = {
            item.name: item.read_bytes()
            for item in resources.files("sandbox").joinpath("static").iterdir()
            if item.is_file() and any(item.name.endswith(ext) for ext in STATIC_TYPES)
        }
        self._httpd = _Server((host, port), _Handler)
        self._httpd.page = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name="sandbox-page", daemon=True,
        )  # fmt: skip

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._httpd.server_address[0])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.hub.close()  # ends the event streams
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def allowed_host(self, header: str | None) -> bool:
        """``Host`` must be this server: an address or localhost, with our port."""
        if not header:
            return False
        host, _, port = header.rpartition(":")
        if port != str(self.port):
            return False
        bound = str(self._httpd.server_address[0])
        loopback = {"127.0.0.1", "localhost", "[::1]"}
        return host in loopback or host == bound or bound in ("0.0.0.0", "::")

    def state(self) -> dict[str, Any]:
        users = self.hub.users
        return {
            "users": [asdict(u) for u in users],
            "chats": {str(u.id): self.hub.history(u.id) for u in users},
            "clock": self.controls.clock_state(),
        }

    def api(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST: the user's action, or a control. Raises ValueError/KeyError on bad input."""
        if path == "/api/send":
            return self.hub.send(int(body["user"]), str(body["text"]))
        if path == "/api/press":
            self.hub.press(int(body["user"]), int(body["message_id"]), str(body["data"]))
            return {"ok": True}
        if path == "/api/users":
            user = self.hub.add_user(
                str(body.get("name", "")), str(body.get("language", "en")), bool(body.get("admin"))
            )
            return asdict(user)
        if path == "/api/clock":
            hours = body.get("hours")
            return self.controls.advance(
                hours=float(hours) if hours is not None else None,
                next_slot=bool(body.get("next_slot")),
            )
        raise KeyError(path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    page: PageServer

    def server_bind(self) -> None:
        """Skip HTTPServer's ``socket.getfqdn`` lookup, which can take a DNS timeout."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        page = self.server.page
        if not page.allowed_host(self.headers.get("Host")):
            return self._send(421, b"wrong host", "text/plain")
        url = urlsplit(self.path)
        path = url.path
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"))
        if path == "/api/state":
            return self._json(200, page.state())
        if path == "/api/commands":
            language = (parse_qs(url.query).get("language") or [""])[0]
            return self._json(200, {"commands": page.hub.commands(language)})
        if path == "/api/events":
            return self._events()
        if path.startswith("/file/"):
            data = page.hub.fake.file_bytes(path.removeprefix("/file/"))
            if data is None:
                return self._send(404, b"no such file", "text/plain")
            kind = next((t for magic, t in _IMAGE_TYPES if data.startswith(magic)), None)
            return self._send(200, data, kind or "application/octet-stream")
        return self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        page = self.server.page
        if not page.allowed_host(self.headers.get("Host")):
            return self._send(421, b"wrong host", "text/plain")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._json(415, {"error": "send JSON"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(min(length, 64 * 1024)) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            return self._json(200, page.api(urlsplit(self.path).path, body))
        except KeyError as e:
            return self._json(404, {"error": f"unknown: {e}"})
        except (ValueError, TypeError, AssertionError) as e:
            # AssertionError: the fake refused a press (no such button, message deleted).
            return self._json(400, {"error": str(e).splitlines()[0][:300]})

    def _events(self) -> None:
        """Server-sent events until the page goes away or the sandbox stops."""
        hub = self.server.page.hub
        listener = hub.listen()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while True:
                try:
                    frame = listener.get(timeout=KEEPALIVE_SECONDS)
                except queue.Empty:
                    frame = ": keep-alive\n\n"
                if frame is None:
                    return
                self.wfile.write(frame.encode("utf-8"))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        finally:
            hub.unlisten(listener)

    def _static(self, name: str) -> None:
        data = self.server.page._static.get(name)  # only files listed at start: no traversal
        if data is None:
            return self._send(404, b"not found", "text/plain")
        kind = next(t for ext, t in STATIC_TYPES.items() if name.endswith(ext))
        self._send(200, data, kind)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")  # fmt: skip

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("page: " + format, *args)
