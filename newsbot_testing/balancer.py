"""A load balancer for tests: the one public webhook URL in front of several receivers.

It listens on 127.0.0.1 on a free port and forwards each POST to the next backend in turn
(round robin), as a reverse proxy does. A backend that refuses the connection (a dead receiver)
is skipped and the next one tried: the balancer's failover. A backend that fails after the
request was sent (the connection reset by a receiver killed mid-request, or no answer in time)
gets ``502 Bad Gateway`` back, as nginx does for a POST (it does not resend a non-idempotent
request to another backend): the sender - Telegram, here the fake Bot API - retries it, and the
retry reaches a live backend. Every forward is recorded in ``forwards``. Usage::

    with Balancer([port_a, port_b]) as balancer:
        url = balancer.url("/telegram")
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


@dataclass(frozen=True)
class Forward:
    """One request passed to ``backend`` (a port); ``status`` what the client got back."""

    backend: int
    status: int


class Balancer:
    """Round-robin HTTP forwarding to 127.0.0.1 ports, with failover on refused connections."""

    def __init__(self, backends: Sequence[int], *, timeout: float = 65.0) -> None:
        self.backends = list(backends)
        self.timeout = timeout
        self.forwards: list[Forward] = []
        self._next = 0
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                backend, status, reply = balancer.forward(self.path, body, headers)
                with balancer._lock:
                    balancer.forwards.append(Forward(backend, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, int, bytes]:
        """(backend, status, body): the first backend that takes the connection answers."""
        with self._lock:
            start, self._next = self._next, (self._next + 1) % len(self.backends)
        backend = self.backends[start]
        for n in range(len(self.backends)):
            backend = self.backends[(start + n) % len(self.backends)]
            connection = http.client.HTTPConnection("127.0.0.1", backend, timeout=self.timeout)
            try:
                try:
                    connection.connect()
                except ConnectionRefusedError:
                    continue  # nothing listens there: the next backend
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                return backend, response.status, response.read()
            except (OSError, http.client.HTTPException):  # reset or timed out after sending
                return backend, 502, b'{"error": "bad gateway"}'
            finally:
                connection.close()
        return backend, 502, b'{"error": "no backend"}'

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
