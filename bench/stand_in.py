"""A minimal fast Bot API stand-in for throughput benchmarks: ``bench.fanout`` runs it.

It is not a fake: it checks nothing and remembers nothing but a count. Every POST gets
``{"ok": true, "result": <a digest-sized Message>}`` at once, over HTTP/1.1 keep-alive, from a
bare ``asyncio.Protocol`` in a child process (so its CPU is not charged to the client, as
Telegram's would not be). At a few microseconds per request it is never the bottleneck, which
makes the client's own cost (the outbox sender, or bare httpx) the thing measured. The strict
fake (``newsbot_testing.fakes.botapi``) stays the server for every correctness run.

Loopback only; the child stops when told to or when the bench process goes away.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from typing import Any

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
_ME = json.dumps(
    {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Bench", "username": "b_bot"}}
).encode()


def answer_body(result: dict[str, Any]) -> tuple[bytes, bytes]:
    """The answer split around the message id, which is the only part that changes."""
    text = json.dumps({"ok": True, "result": {"message_id": 0, **result}})
    before, after = text.split('"message_id": 0', 1)
    return (before + '"message_id": ').encode(), after.encode()


class _Answering(asyncio.Protocol):
    """One keep-alive connection: answers each complete request (headers + Content-Length)."""

    count = 0

    def __init__(self, before: bytes, after: bytes) -> None:
        self._before, self._after = before, after
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        out = []
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end].lower()
            at = head.find(b"content-length:")
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15 : stop if stop >= 0 else None]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            if head.startswith(b"post /bot") and b"/getme " in head[: head.find(b"\r\n")]:
                body = _ME  # Bot.initialize() asks who it is
            else:
                _Answering.count += 1
                body = b"%s%d%s" % (self._before, _Answering.count, self._after)
            out.append(_HEAD % len(body) + body)
        self._buffer = buffer
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


def _serve(conn: Connection, result: dict[str, Any]) -> None:
    async def main() -> None:
        before, after = answer_body(result)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Answering(before, after), "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        while True:  # commands from the bench, polled so the loop keeps serving meanwhile
            if not await loop.run_in_executor(None, conn.poll, 0.5):
                continue
            command = conn.recv()
            if command == "count":
                conn.send(_Answering.count)
            elif command == "cpu":
                conn.send(time.process_time())
            else:
                server.close()
                conn.send(None)
                return

    asyncio.run(main())


class StandIn:
    """Handle on the child process; ``base_url`` takes any token (``{base_url}{token}/...``)."""

    def __init__(self, result: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, result), daemon=True)
        self._process.start()
        port = self._conn.recv()
        self.base_url = f"http://127.0.0.1:{port}/bot"

    def __call__(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        self("stop")
        self._process.join(10)
