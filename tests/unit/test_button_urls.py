"""Which links Telegram takes in a URL button: our validator, and the fake Bot API's port of
Telegram's own check, on one table (ours may be stricter, never more lenient)."""

from __future__ import annotations

import pytest

from newsbot_testing.fakes.button_urls import button_url_ok
from views.button_urls import telegram_accepts_url

BOTH_ACCEPT = [
    "https://www.cbc.ca/news/canada/story-1.234?cmp=rss#top",
    "http://127.0.0.1:8080/article",  # IP literals have dots: Telegram takes them
    "http://[2001:db8::1]/article",
    "https://user:pass@example.com/private",
    "https://例え.jp/記事",
    "https://example.com/%E2%9C%93",
    "HTTPS://EXAMPLE.COM/",
    "tg://resolve?domain=newsbot",
]
BOTH_REFUSE = [
    "http://localhost/x",
    "http://localhost:8080/x",
    "http://12345/",
    "https://intranet/page",
    "ftp://example.com/file",
    "javascript:alert(1)",
    "https:///no-host",
    "http://exa mple.com/",
    "http://example.com:0/",
    "http://example.com:99999/",
    "http://example.com:port/",
    "http://exa<mple.com/",
    "http://[zz::1]/",
    "https://" + "a" * 2050 + ".com/",
    "tg://http://example.com",
    "tg://a.b",
    "tg://name:80",
    "",
]
ONLY_TELEGRAM_ACCEPTS = [
    "http://example.com/a b",  # Telegram percent-encodes it; we do not send such a link
    "example.com/x",  # no scheme: Telegram assumes http
    "http://example.com/\x01",
]


@pytest.mark.parametrize("url", BOTH_ACCEPT)
def test_accepted_links(url: str) -> None:
    assert telegram_accepts_url(url) and button_url_ok(url)


@pytest.mark.parametrize("url", BOTH_REFUSE)
def test_refused_links(url: str) -> None:
    assert not telegram_accepts_url(url) and not button_url_ok(url)


@pytest.mark.parametrize("url", ONLY_TELEGRAM_ACCEPTS)
def test_we_are_stricter_where_it_costs_nothing(url: str) -> None:
    assert button_url_ok(url) and not telegram_accepts_url(url)


def test_non_strings_are_refused() -> None:
    assert not telegram_accepts_url(None) and not button_url_ok(None)
