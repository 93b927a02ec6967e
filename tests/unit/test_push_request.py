"""The push bot's lean HTTP/1.1 client: answers read right, connections kept and reused.

Timeouts (``NotSent`` / ``MaybeSent``) are tested against the strict fake in
tests/handlers/test_push_faults.py; here a keep-alive server (the bench's stand-in) and raw
answers fed to the reader.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest
from telegram import Bot
from telegram.error import BadRequest

from bench.stand_in import StandIn
from push.push_request import PushRequest, _read_response


async def answer(raw: bytes) -> tuple[int, bytes, bool]:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await _read_response(reader)


async def test_answers_by_length_by_chunks_and_until_close() -> None:
    length = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}'
    assert await answer(length) == (200, b'{"ok":true}', True)
    chunked = (
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;x=1\r\n{"ok"\r\n7\r\n:false}\r\n0\r\nX-Trailer: 1\r\n\r\n'
    )
    assert await answer(chunked) == (400, b'{"ok":false}', True)
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    assert await answer(closing) == (200, b"{}", False)
    old = b"HTTP/1.0 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<html>"
    assert await answer(old) == (502, b"<html>", False)


@pytest.fixture(scope="module")
def stand_in() -> StandIn:
    server = StandIn({"date": 0, "chat": {"id": 1, "type": "private"}, "text": "hi"})
    yield server  # type: ignore[misc]
    server.stop()


async def test_one_connection_carries_many_requests(stand_in: StandIn) -> None:
    request = PushRequest(connection_pool_size=1)
    async with Bot("1:test", base_url=stand_in.base_url, request=request) as bot:
        before = stand_in("count")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the lowercase method name warns about nothing
            results = await asyncio.gather(
                *(bot.do_api_request("sendmessage", api_kwargs={"chat_id": i, "text": "hi"})
                  for i in range(20))
            )  # fmt: skip
        pool = request._lean_pool
        assert pool is not None and sum(len(idle) for idle in pool.idle.values()) == 1
    ids = sorted(r["message_id"] for r in results)
    assert ids == list(range(before + 1, before + 21))


async def test_telegram_errors_come_from_ptb_as_before() -> None:
    body = b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'
    raw = b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        bot = Bot("1:test", base_url=f"http://127.0.0.1:{port}/bot", request=PushRequest())
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 5, "text": "x"})
        await bot.request.shutdown()
