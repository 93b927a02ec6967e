"""Text and URL cleaning: pure functions, table-driven."""

from __future__ import annotations

import time

import pytest

from digest.normalize import (
    canonical_url,
    first_img_src,
    guess_category,
    html_to_text,
    language_code,
    truncate,
)
from digest.redact import redact_url


@pytest.mark.parametrize(
    "raw, base, expected",
    [
        ("https://example.com/a?utm_source=rss&utm_medium=x&id=3", None, "https://example.com/a?id=3"),
        ("https://example.com/a?fbclid=1&gclid=2&ocid=3&cmpid=4&at_medium=RSS&at_campaign=c", None,
         "https://example.com/a"),
        ("https://example.com/a?x=1&UTM_Campaign=y&z=%2F", None, "https://example.com/a?x=1&z=%2F"),
        ("HTTPS://WWW.EXAMPLE.COM:443/Path/Kept#frag", None, "https://www.example.com/Path/Kept"),
        ("http://example.com:80", None, "http://example.com/"),
        ("http://example.com:8080/x", None, "http://example.com:8080/x"),
        ("https://user:pw@example.com/x", None, "https://example.com/x"),
        ("/news/1?ocid=rss", "https://example.com/feeds/all.xml", "https://example.com/news/1"),
        ("story.html", "https://example.com/feeds/all.xml", "https://example.com/feeds/story.html"),
        ("//cdn.example.com/x", "https://example.com/", "https://cdn.example.com/x"),
        ("  https://example.com/a b  ", None, "https://example.com/a%20b"),
        ("https://[2001:db8::1]:443/x", None, "https://[2001:db8::1]/x"),
        ("javascript:alert(1)", "https://example.com/", None),
        ("mailto:a@example.com", None, None),
        ("https://example.com:notaport/", None, None),
        ("", "https://example.com/", None),
        (None, None, None),
        ("relative/only", None, None),
    ],
)  # fmt: skip
def test_canonical_url(raw: str | None, base: str | None, expected: str | None) -> None:
    assert canonical_url(raw, base) == expected


def test_redact_url_hides_secrets() -> None:
    assert (
        redact_url("https://u:p@Example.com:8443/feed?token=SECRET#x")
        == "https://example.com:8443/feed"
    )


@pytest.mark.parametrize(
    "markup, expected",
    [
        ("<p>Hello <b>world</b></p><p>again</p>", "Hello world again"),
        ("Tom &amp; Jerry&nbsp;&#8217;s &lt;show&gt;", "Tom & Jerry ’s <show>"),
        ("a<script>alert('x')</script>b<style>p{}</style>c", "abc"),
        ("<p>text</p><a href='https://x.com/a", "text"),
        ("line<br>break<br/>here", "line break here"),
        ("  lots \n\t of   space\u200b ", "lots of space"),
        ("3 < 5 and 7 > 6", "3 < 5 and 7 > 6"),
        ("<unclosed", ""),
        ("", ""),
        # HTML marked sections: the standard library raised AssertionError on these (#14.3).
        ("a <![foo[ hidden ]]> b", "a b"),
        ("a <![foo[", "a"),
        ("a <![ [ b", "a"),
        ("x<![if !mso]>y<![endif]>z", "xyz"),
        # Bidirectional overrides and isolates would reorder what a reader sees (#14).
        ("evil\u202egnp.exe \u2066a\u2069 \u202ab\u202c", "evilgnp.exe a b"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_html_to_text_reads_only_what_it_needs() -> None:
    huge = "<p>" + "word " * 2_000_000 + "</p>"  # 10 MB of markup
    started = time.perf_counter()
    text = html_to_text(huge, limit=1000)
    assert time.perf_counter() - started < 0.5
    assert 1000 <= len(text) < 20_000


@pytest.mark.parametrize(
    "text, expected",
    [
        ("short", "short"),
        ("one two three four five six", "one two three…"),
        ("abcdefghijklmnopqrstuvwxyz", "abcdefghijklm…"),
        ("中国经济稳步增长中国经济稳步增长中国经济稳步增长", "中国经济稳步增长中国经济稳…"),
        ("words, and more words", "words, and…"),
    ],
)
def test_truncate(text: str, expected: str) -> None:
    result = truncate(text, 14)
    assert result == expected and len(result) <= 14


def test_truncate_default_is_about_300() -> None:
    result = truncate("lorem ipsum " * 100)
    assert 250 < len(result) <= 300 and result.endswith("ipsum…")


@pytest.mark.parametrize(
    "markup, expected",
    [
        ('<p><img src="/a.jpg"></p>', "/a.jpg"),
        ("<IMG alt='' SRC='b.png'>", "b.png"),
        ('<img src=c.gif width="300">', "c.gif"),
        ('<img src="https://x.com/i?a=1&amp;b=2">', "https://x.com/i?a=1&b=2"),
        ('<img src="/px.gif" width="1" height="1"><img src="/real.jpg">', "/real.jpg"),
        ('<img src="http://feeds.feedburner.com/~r/x/~4/abc"><img src="/r.jpg">', "/r.jpg"),
        ('<img src="data:image/png;base64,xx"><img src="/icons/share.png">', None),
        ("<p>no image</p>", None),
    ],
)
def test_first_img_src(markup: str, expected: str | None) -> None:
    assert first_img_src(markup) == expected


@pytest.mark.parametrize(
    "tags, url, expected",
    [
        (("Sport",), None, "sports"),
        (("markets", "politics"), None, "business"),
        ((), "https://x.com/sport/football/123", "sports"),
        ((), "https://x.com/sports/nba/story", "sports"),
        ((), "https://x.com/wirtschaft/dax-100.html", "business"),
        ((), "https://x.com/economy/article", "business"),
        ((), "https://x.com/news/world/europe/story", "international"),
        ((), "https://x.com/international/x", "international"),
        ((), "https://x.com/entertainment/movies/x", "entertainment"),
        ((), "https://x.com/culture/x", "entertainment"),
        ((), "https://x.com/politics/x", "national"),
        ((), "https://x.com/india/story", "national"),
        ((), "https://x.com/canada/story", "national"),
        ((), "https://x.com/news/world-europe/story", "international"),
        ((), "https://x.com/2026/01/01/sport", None),  # the last segment is the slug
        (("weather",), "https://x.com/misc/a", None),
        ((), None, None),
    ],
)
def test_guess_category(tags: tuple[str, ...], url: str | None, expected: str | None) -> None:
    assert guess_category(tags, url) == expected


@pytest.mark.parametrize(
    "value, expected",
    [("en-US", "en"), ("de_DE", "de"), ("ZH-cn", "zh"), ("ar", "ar"), ("", None), (None, None),
     ("english", None), ("x", None)],
)  # fmt: skip
def test_language_code(value: str | None, expected: str | None) -> None:
    assert language_code(value) == expected
