"""``--offline`` news: sample feeds and article pages served on 127.0.0.1, and their catalog.

The samples under ``sandbox/samples`` are fiction written for newsbot (three made-up
publishers in one country, stories that overlap so Related has something to find). They are
templates: ``${base}`` becomes the local server's address and ``${ago_N}`` a publication time
N minutes before the sandbox clock at the moment the feed is fetched, so stories are always
recent, whatever the clock says. The server is the tests' ``FeedServer``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from string import Template
from types import TracebackType
from typing import Self

from newsbot_testing.feedserver import FeedServer, Reply, Request

SAMPLES = Path(__file__).resolve().parent / "samples"
_AGO = re.compile(r"\$\{ago_(\d+)\}")


class SampleNews:
    """The local news server plus a catalog file pointing at it (removed on close)."""

    def __init__(self, clock: Callable[[], datetime], samples: Path = SAMPLES) -> None:
        self._clock = clock
        self._samples = samples
        self._server = FeedServer(samples)
        self._folder = tempfile.TemporaryDirectory(prefix="newsbot-sandbox-")
        self.catalog = Path(self._folder.name) / "catalog.toml"

    def __enter__(self) -> Self:
        self._server.__enter__()
        base = self._server.url("").rstrip("/")
        for feed in sorted((self._samples / "feeds").glob("*.xml")):
            self._server.add_route(f"/feeds/{feed.name}", self._feed(feed.read_text("utf-8")))
        for page in sorted((self._samples / "pages").glob("*.html")):
            body = page.read_bytes()
            self._server.add_route(f"/news/{page.name}", _static(body, "text/html; charset=utf-8"))
        home = b"<!doctype html><title>Sample news</title><p>newsbot sandbox sample news</p>"
        self._server.add_route("/", _static(home, "text/html; charset=utf-8"))
        template = Template((self._samples / "catalog.toml").read_text("utf-8"))
        self.catalog.write_text(template.substitute(base=base), "utf-8")
        self.base = base
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._server.close()
        self._folder.cleanup()

    def _feed(self, text: str) -> Callable[[Request], Reply]:
        def answer(_request: Request) -> Reply:
            return Reply(200, {"Content-Type": "application/rss+xml; charset=utf-8"},
                         render_feed(text, self.base, self._clock()).encode("utf-8"))  # fmt: skip

        return answer


def render_feed(text: str, base: str, now: datetime) -> str:
    """Fill a feed template: ``${base}`` and every ``${ago_N}`` (RFC 2822, N minutes ago)."""
    dated = _AGO.sub(lambda m: format_datetime(now - timedelta(minutes=int(m[1]))), text)
    return dated.replace("${base}", base)


def _static(body: bytes, content_type: str) -> Callable[[Request], Reply]:
    return lambda _request: Reply(200, {"Content-Type": content_type}, body)
