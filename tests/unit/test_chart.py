"""The /stats chart is a real PNG of the promised size, drawn the same way in any thread."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from storage.stats import BroadcastCounts, DayCount, FeedHealth, ReaderCounts, Stats
from views.chart import HEIGHT_PX, WIDTH_PX, stats_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def make_stats(new_readers: list[int], digests: list[int]) -> Stats:
    first = date(2026, 11, 25) - timedelta(days=len(new_readers) - 1)
    daily = tuple(
        DayCount(first + timedelta(days=i), r, d)
        for i, (r, d) in enumerate(zip(new_readers, digests, strict=True))
    )
    return Stats(
        taken_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
        readers=ReaderCounts(0, 0, 0, 0, 0, 0),
        by_country=(), by_language=(), by_category=(), digests_today=0, digests_yesterday=0,
        broadcasts=BroadcastCounts(0, 0, 0, 0, 0), feeds=FeedHealth(0, 0, 0, 0, 0, ()),
        daily=daily,
    )  # fmt: skip


BUSY = make_stats([i % 7 for i in range(30)], [1_000 + 100 * i for i in range(30)])


@pytest.fixture(scope="module")
def busy_png() -> bytes:
    return stats_chart(BUSY)


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated scanlines; asserts every chunk's CRC and the data size."""
    assert data[:8] == PNG_SIGNATURE
    chunks: list[tuple[bytes, bytes]] = []
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert depth == 8
    assert len(pixels) == height * (1 + width * CHANNELS[colour])  # a filter byte per scanline
    return width, height, pixels


def test_chart_is_a_decodable_png_of_phone_size(busy_png: bytes) -> None:
    width, height, pixels = decode_png(busy_png)
    assert (width, height) == (WIDTH_PX, HEIGHT_PX) == (1200, 800)
    assert 10_000 < len(busy_png) < 1_000_000
    assert len(set(pixels)) > 10  # bars, text and axes were drawn, not a blank canvas


def test_empty_and_one_day_windows_still_draw(busy_png: bytes) -> None:
    quiet = stats_chart(make_stats([0] * 30, [0] * 30))
    assert decode_png(quiet)[:2] == (1200, 800)
    assert quiet != busy_png  # the picture depends on the numbers
    assert decode_png(stats_chart(make_stats([3], [4])))[:2] == (1200, 800)


def test_same_numbers_same_bytes_in_any_thread(busy_png: bytes) -> None:
    other = make_stats([2] * 7, [9] * 7)
    expected = [busy_png, stats_chart(other)]
    with ThreadPoolExecutor(2) as pool:  # /stats draws in worker threads: no shared state
        assert list(pool.map(stats_chart, [BUSY, other])) == expected


def test_the_bot_starts_without_matplotlib() -> None:
    """matplotlib and numpy add about 47 MiB to the process: only a chart loads them."""
    code = "import sys, bot.app; print('matplotlib' in sys.modules, 'numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)  # fmt: skip
    assert done.stdout.split() == ["False", "False"]
