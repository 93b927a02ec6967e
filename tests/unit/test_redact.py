"""Feed URLs as shown to people: credentials and secret query values masked, the rest kept."""

from __future__ import annotations

import pytest

from digest.redact import shown_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@feeds.example/rss", "https://***@feeds.example/rss"),
        ("https://token@feeds.example:8443/rss", "https://***@feeds.example:8443/rss"),
        ("https://feeds.example/rss?cat=world&api_key=K1", "https://feeds.example/rss?cat=world&api_key=***"),
        ("https://f.example/r?Token=a&key=b&apikey=c&secret=d&password=e&sig=f&signature=g"
         "&auth=h&access_token=i",
         "https://f.example/r?Token=***&key=***&apikey=***&secret=***&password=***&sig=***"
         "&signature=***&auth=***&access_token=***"),
        ("https://feeds.example/rss?cat=world", "https://feeds.example/rss?cat=world"),
        ("https://feeds.example/rss", "https://feeds.example/rss"),
        ("http://[::1]:8080/rss?token=x", "http://[::1]:8080/rss?token=***"),
    ],
)  # fmt: skip
def test_secrets_are_masked_and_the_rest_kept(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_a_url_that_cannot_be_parsed_shows_nothing_secret() -> None:
    assert shown_url("http://u:p@[oops/rss") == "***"
