"""The fake Bot API's HTML checker must agree with Telegram, or handler tests prove nothing.

Most cases are Telegram's own behaviour as pinned by TDLib's ``test/message_entities.cpp``
(``check_parse_html``), which is what the Bot API server runs; they are checked with
``strict=False``, i.e. exactly like Telegram.  The strict cases cover the one deliberate
difference: an ``&`` that isn't a complete entity is refused instead of kept literally.
"""

from __future__ import annotations

from typing import Any

import pytest

from newsbot_testing.fakes.htmlcheck import (
    HtmlParseError,
    ParsedText,
    check_url,
    parse_html,
    strip_text,
    utf16_len,
)

# Markup Telegram rejects, and the detail it gives after "can't parse entities: ".
TELEGRAM_ERRORS = [
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<abac>", 'Unsupported start tag "abac" at byte offset 13'),
    ("Hello world <div>x</div>", 'Unsupported start tag "div" at byte offset 12'),
    ("<br>", 'Unsupported start tag "br" at byte offset 0'),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;>", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
    ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
    ("<b>x <i>y</b></i>", 'Unmatched end tag at byte offset 9, expected "</i>", found "</b>"'),
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ('<span class="spoiler">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
    ('<tg-emoji emoji-id="-5">y</tg-emoji>', "Invalid custom emoji identifier specified"),
    ('<tg-time unix="1" format="rt">x</tg-time>', "Invalid date format used"),
    ("&#57311;", "Text contains invalid Unicode characters after decoding HTML entities, "
     "check for unmatched surrogate code units"),
]  # fmt: skip

# Markup Telegram accepts: (markup, plain text, entities).
TELEGRAM_OK: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("", "", []),
    ("➡️ ➡️", "➡️ ➡️", []),
    ("&ge;&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;", '&ge;<>&"&laquo;&raquo;&#12345678;', []),
    ("AT&T", "AT&T", []),
    ("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", [{"type": "italic", "offset": 5, "length": 5}]),
    ("➡️ ➡️<strong>➡️ ➡️</strong>", "➡️ ➡️➡️ ➡️", [{"type": "bold", "offset": 5, "length": 5}]),
    ("<ins>u</ins><del>s</del>", "us", [
        {"type": "underline", "offset": 0, "length": 1},
        {"type": "strikethrough", "offset": 1, "length": 1},
    ]),
    ("🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>", "🏟 🏟🏟 ><🏟", [
        {"type": "italic", "offset": 5, "length": 7},
        {"type": "bold", "offset": 9, "length": 3},
    ]),
    ("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;'>a</>", "🏟 🏟<a",
     [{"type": "italic", "offset": 6, "length": 1}]),
    ("🏟 🏟&lt;<i>a</i   >", "🏟 🏟<a", [{"type": "italic", "offset": 6, "length": 1}]),
    ("🏟 🏟&lt;<b></b>", "🏟 🏟<", []),
    ('➡️ ➡️<span class = "tg-spoiler">➡️ ➡️</span><b>➡️ ➡️</b>', "➡️ ➡️➡️ ➡️➡️ ➡️", [
        {"type": "spoiler", "offset": 5, "length": 5},
        {"type": "bold", "offset": 10, "length": 5},
    ]),
    ("<tg-spoiler>s</tg-spoiler>", "s", [{"type": "spoiler", "offset": 0, "length": 1}]),
    ("<a href=telegram.org>\n</a>", "\n",
     [{"type": "text_link", "offset": 0, "length": 1, "url": "http://telegram.org/"}]),
    ("<a   href=  'telegram.org?&lt;'   > </a>", " ",
     [{"type": "text_link", "offset": 0, "length": 1, "url": "http://telegram.org/?<"}]),
    ("<a> </a>", " ", []),
    ("<a>telegram.org </a>", "telegram.org ", []),
    ("<a>telegram.org</a>", "telegram.org",
     [{"type": "text_link", "offset": 0, "length": 12, "url": "http://telegram.org/"}]),
    ("<code><i><b> </b></i></code><i><b><code> </code></b></i>", "  ", [
        {"type": "code", "offset": 0, "length": 1},
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "italic", "offset": 0, "length": 1},
        {"type": "code", "offset": 1, "length": 1},
        {"type": "bold", "offset": 1, "length": 1},
        {"type": "italic", "offset": 1, "length": 1},
    ]),
    ("🏟 🏟&lt;<pre><code>🏟 🏟&lt;</code></>", "🏟 🏟<🏟 🏟<", [
        {"type": "pre", "offset": 6, "length": 6},
        {"type": "code", "offset": 6, "length": 6},
    ]),
    ('🏟 🏟&lt;<pre><code class="language-fift">🏟 🏟&lt;</></>', "🏟 🏟<🏟 🏟<",
     [{"type": "pre", "offset": 6, "length": 6, "language": "fift"}]),
    ('🏟 🏟&lt;<code class="language-fift"><pre>🏟 🏟&lt;</></>', "🏟 🏟<🏟 🏟<",
     [{"type": "pre", "offset": 6, "length": 6, "language": "fift"}]),
    ('🏟 🏟&lt;<pre><code class="language-fift">🏟 🏟&lt;</> </>', "🏟 🏟<🏟 🏟< ", [
        {"type": "pre", "offset": 6, "length": 7},
        {"type": "code", "offset": 6, "length": 6},
    ]),
    ('🏟 🏟<tg-emoji emoji-id="54321">🏟 &lt🏟</tg-emoji>', "🏟 🏟🏟 <🏟",
     [{"type": "custom_emoji", "offset": 5, "length": 6, "custom_emoji_id": "54321"}]),
    ('<blockquote   cite="" askdlbas nasjdbaj nj12b3>a&lt;<pre  >b;</></>', "a<b;", [
        {"type": "blockquote", "offset": 0, "length": 4},
        {"type": "pre", "offset": 2, "length": 2},
    ]),
    ("<blockquote   expandable>a&lt;<pre  >b;</></>", "a<b;", [
        {"type": "expandable_blockquote", "offset": 0, "length": 4},
        {"type": "pre", "offset": 2, "length": 2},
    ]),
]  # fmt: skip

# The fake's stricter rule: every "&" must start a complete entity ending in ";".
STRICT_REFUSED = [
    ("AT&T", 2),
    ("R&ltd", 1),
    ("&ge; 5", 0),
    ("<b>x</b> & y", 9),
    ('<a href="https://e.com/?a=1&b=2">x</a>', 27),
    ("&#12345678;", 0),
]
STRICT_ACCEPTED = [
    ("AT&amp;T", "AT&T"),
    ("&lt;b&gt; &quot;q&quot;", '<b> "q"'),
    ("&#38;&#x26;&#x1F600;", "&&😀"),
    ('<a href="https://e.com/?a=1&amp;b=2">x</a>', "x"),
]


@pytest.mark.parametrize(("markup", "detail"), TELEGRAM_ERRORS)
def test_refuses_like_telegram(markup: str, detail: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(markup, strict=False)
    assert caught.value.detail == detail


@pytest.mark.parametrize(("markup", "text", "entities"), TELEGRAM_OK)
def test_parses_like_telegram(markup: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(markup, strict=False) == ParsedText(text, tuple(entities))


@pytest.mark.parametrize(("markup", "offset"), STRICT_REFUSED)
def test_strict_mode_refuses_unescaped_ampersand(markup: str, offset: int) -> None:
    with pytest.raises(HtmlParseError, match=f'Unescaped "&" at byte offset {offset} '):
        parse_html(markup)


@pytest.mark.parametrize(("markup", "text"), STRICT_ACCEPTED)
def test_strict_mode_accepts_escaped_text(markup: str, text: str) -> None:
    assert parse_html(markup).text == text


@pytest.mark.parametrize(("markup", "detail"), TELEGRAM_ERRORS)
def test_strict_mode_keeps_telegram_errors(markup: str, detail: str) -> None:
    """Strictness only adds errors: everything Telegram refuses stays refused."""
    with pytest.raises(HtmlParseError):
        parse_html(markup)


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("abc", 3), ("é", 1), ("😀", 2), ("🏟 🏟", 5), ("➡️", 2)],
)
def test_utf16_len_counts_code_units(text: str, units: int) -> None:
    assert utf16_len(text) == units


def test_strip_text_moves_and_trims_entities() -> None:
    parsed = parse_html("\n <b> 😀x </b>\n")
    assert strip_text(parsed) == ParsedText("😀x", ({"type": "bold", "offset": 0, "length": 3},))


def test_strip_text_drops_entities_covering_only_whitespace() -> None:
    assert strip_text(parse_html("<i> </i>x")) == ParsedText("x", ())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("telegram.org", "http://telegram.org/"),
        ("https://example.com/a?b#c", "https://example.com/a?b#c"),
        ("tg://resolve?domain=x", "tg://resolve?domain=x"),
        ("javascript:alert(1)", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_check_url_normalises_or_rejects(url: str, expected: str | None) -> None:
    assert check_url(url) == expected
