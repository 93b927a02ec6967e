"""Errors raised by the ``digest`` package.

One root, :class:`DigestError`, so callers at the boundary (ingest, handlers) can catch
everything the news domain raises in one clause, and wrap it with ``raise … from e``
(the pattern of lemon24/reader's ``exceptions.py`` and httpx's ``_exceptions.py``).

Messages are short, single-line and free of secrets: they end up in logs and in the
``newsbot fetch --json`` report, so URLs in them lose their query string and userinfo.
"""

from __future__ import annotations


class DigestError(Exception):
    """Root of every error raised by the ``digest`` package."""


class BlockedURLError(DigestError):
    """A URL from feed content points at a non-public address or an unsafe form.

    Raised by :func:`digest.urlguard.check_url` before any request leaves the process.
    """


class FeedParseError(DigestError):
    """The body is not a feed at all: empty, an HTML page, too large, or refused as unsafe."""


class FetchError(DigestError):
    """A fetch failed; ``kind`` says how, so the caller can choose a back-off.

    ``kind`` is one of ``timeout``, ``http_status``, ``too_large``, ``too_many_redirects``,
    ``blocked``, ``connect``, ``protocol``, ``content_type``. For ``http_status``, ``status``
    holds the response code and ``retry_after_seconds`` the server's Retry-After, if any.
    """

    KINDS = frozenset(
        {
            "timeout",
            "http_status",
            "too_large",
            "too_many_redirects",
            "blocked",
            "connect",
            "protocol",
            "content_type",
        }
    )

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown FetchError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.url = url
        self.status = status
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        return f"{self.kind}: {self.args[0]}"


class ExtractionError(DigestError):
    """No article text could be taken from a page; ``reason`` says why, for the reply.

    Raised by :func:`digest.extract.extract_article` (and importable from there); it lives
    here so that ``digest.full_story`` can catch it without importing trafilatura and lxml,
    which are loaded on the first Full story only.

    Reasons: ``empty`` (no main text found), ``too_short`` (under ``min_words``),
    ``not_html`` (JSON, an image, a PDF...), ``paywalled`` (a teaser behind a paywall),
    ``parse_failed`` (the HTML parser or extractor broke).
    """

    REASONS = frozenset({"empty", "too_short", "not_html", "paywalled", "parse_failed"})

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown ExtractionError reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
