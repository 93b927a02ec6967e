"""parse_feed: data-driven over tests/data/feeds (NAME.xml beside NAME.expected.json), plus
the properties a table cannot show: bounded work, refused entities, stable keys."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

import digest.parse as parse_module
from digest.errors import DigestError
from digest.parse import FeedParseError, ParsedFeed, entry_key, parse_feed
from newsbot_testing.feedserver import FEEDS_DIR, FeedServer

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CASES = sorted(FEEDS_DIR.glob("*.expected.json"))


def fixture_for(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    return next(p for p in FEEDS_DIR.glob(f"{stem}.*") if not p.name.endswith(".json"))


def run_case(expected_path: Path) -> tuple[dict[str, Any], ParsedFeed | FeedParseError]:
    spec = json.loads(expected_path.read_text(encoding="utf-8"))
    body = fixture_for(expected_path).read_bytes()
    now = datetime.fromisoformat(spec["now"])
    try:
        return spec, parse_feed(body, url=spec["url"], headers=spec.get("headers"), now=now)
    except FeedParseError as e:
        return spec, e


@pytest.mark.parametrize("expected_path", CASES, ids=lambda p: p.name.split(".")[0])
def test_fixture(expected_path: Path) -> None:
    spec, result = run_case(expected_path)
    if "error" in spec:
        assert isinstance(result, FeedParseError), result
        assert spec["error"] in str(result)
        return
    assert isinstance(result, ParsedFeed), result
    feed = {k: getattr(result, k) for k in spec["feed"]}
    assert feed == spec["feed"]
    rows: list[dict[str, Any]] = []
    for entry in result.entries:
        row = asdict(entry)
        row["published"] = entry.published.isoformat()
        row["tags"] = list(entry.tags)
        rows.append(row)
    assert len(rows) == len(spec["entries"]), [r["title"] for r in rows]
    # Each expectation lists the fields it checks (long summaries are checked elsewhere).
    actual = [{k: row[k] for k in want} for row, want in zip(rows, spec["entries"], strict=True)]
    assert actual == spec["entries"]


def test_every_fixture_has_an_expectation() -> None:
    feeds = {p.name for p in FEEDS_DIR.iterdir() if not p.name.endswith(".json")}
    assert feeds == {fixture_for(p).name for p in CASES}


def test_entries_are_clean() -> None:
    feed = parse_feed((FEEDS_DIR / "rss20_full.xml").read_bytes(), url="https://www.example.com/f",
                      now=NOW)  # fmt: skip
    for entry in feed.entries:
        assert entry.published.tzinfo is not None and entry.published <= NOW
        assert "<" not in entry.title + entry.summary and "&amp;" not in entry.title
        assert len(entry.summary) <= 300 and "utm_" not in entry.url
    long_read = next(e for e in feed.entries if e.title == "Long read")
    full = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)
    cut = long_read.summary.removesuffix("…")
    assert 250 < len(long_read.summary) <= 300 and full.startswith(cut) and full[len(cut)] == " "


def test_header_names_are_case_insensitive() -> None:
    body = (FEEDS_DIR / "windows1251.xml").read_bytes()
    feed = parse_feed(
        body,
        url="https://x.com/f",
        headers={"content-type": "text/xml; charset=windows-1251"},
        now=NOW,
    )
    assert feed.entries[0].title == "Хоккей: победа в овертайме"


# --- bounded work --------------------------------------------------------------------------


def rss(items: str) -> bytes:
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    return f"{head}{items}</channel></rss>".encode()


def test_summary_of_a_huge_entry_is_bounded() -> None:
    html = "<p>lorem ipsum dolor sit amet</p>" * 150_000  # ~5 MB of markup in one entry
    body = rss(
        f"<item><title>Huge</title><link>https://x.com/1</link><description><![CDATA[{html}]]></description></item>"
    )
    started = time.perf_counter()
    feed = parse_feed(body, url="https://x.com/feed", now=NOW)
    assert time.perf_counter() - started < 2
    (entry,) = feed.entries
    assert 250 < len(entry.summary) <= 300 and entry.summary.startswith("lorem ipsum")


def test_five_megabyte_feed_stays_small_in_memory() -> None:
    html = "<p>lorem ipsum <b>dolor</b> sit amet</p>" * 2_600
    items = "".join(
        f"<item><title>T {i}</title><link>https://x.com/{i}</link>"
        f"<description><![CDATA[{html}]]></description></item>"
        for i in range(50)
    )
    body = rss(items)
    assert len(body) > 5_000_000
    tracemalloc.start()
    try:
        feed = parse_feed(body, url="https://x.com/feed", now=NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(feed.entries) == 50
    assert peak < 10 * len(body), f"peak {peak / 1e6:.0f} MB for a {len(body) / 1e6:.0f} MB feed"


def test_body_over_the_cap_is_refused_unparsed() -> None:
    with pytest.raises(FeedParseError, match="exceeds"):
        parse_feed(
            rss("<item><title>x</title></item>"), url="https://x.com/", now=NOW, max_bytes=50
        )


# --- entities and other things feedparser must never see --------------------------------------


def test_billion_laughs_is_refused_quickly() -> None:
    body = (FEEDS_DIR / "billion_laughs.xml").read_bytes()
    started = time.perf_counter()
    with pytest.raises(FeedParseError):
        parse_feed(body, url="https://x.com/", now=NOW)
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_entity_declarations_in_wide_encodings_are_refused(encoding: str) -> None:
    text = (FEEDS_DIR / "billion_laughs.xml").read_text().replace("<!ENTITY", "<!entity", 1)
    with pytest.raises(FeedParseError, match="entities"):
        parse_feed(text.encode(encoding), url="https://x.com/", now=NOW)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.mark.parametrize("name, refused", [("xxe_external.xml", True), ("external_dtd.xml", False)])
def test_external_entities_and_dtds_are_never_fetched(
    server: FeedServer, name: str, refused: bool
) -> None:
    server.add_file("/entity.txt", b"SECRET FILE CONTENT")
    server.add_file("/evil.dtd", b'<!ENTITY evil "pwned">')
    body = (FEEDS_DIR / name).read_text().replace("ENTITY_BASE", server.url("")).encode()
    if refused:
        with pytest.raises(FeedParseError):
            parse_feed(body, url="https://x.com/", now=NOW)
    else:
        feed = parse_feed(body, url="https://x.com/", now=NOW)
        assert feed.entries[0].title == "DTD is never fetched"
    assert server.requests == []


def test_bytes_are_never_taken_for_a_file_name(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text('<rss version="2.0"><channel><title>local file</title></channel></rss>')
    with pytest.raises(FeedParseError):
        parse_feed(str(secret).encode(), url="https://x.com/", now=NOW)


def test_errors_share_the_package_root() -> None:
    assert issubclass(FeedParseError, DigestError)


# --- identity ------------------------------------------------------------------------------------


def test_entry_key_prefers_guid_then_url_then_hash() -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert entry_key(" g-1 ", "https://x.com/a", "T", when) == "guid:g-1"
    assert entry_key(None, "https://x.com/a", "T", when) == "url:https://x.com/a"
    assert entry_key("", None, "T", when) == entry_key(None, None, "T", when)
    assert entry_key(None, None, "T", when).startswith("sha1:")
    assert entry_key(None, None, "T", when) != entry_key(None, None, "T", None)
    assert entry_key("x" * 600, None, "T", None).startswith("guid-sha1:")
    other_zone = when.astimezone(timezone_plus_two())
    assert entry_key(None, None, "T", other_zone) == entry_key(None, None, "T", when)


def test_over_long_links_are_keyed_by_their_hash() -> None:
    """The stored key holds 600 characters; a longer link keys by its hash (#14.4)."""
    long_link = "https://x.com/" + "a" * 700
    key = entry_key(None, long_link, "T", None)
    assert key.startswith("url-sha1:") and len(key) <= 600
    assert key == entry_key(None, long_link, "T", None)
    assert key != entry_key(None, long_link + "b", "T", None)
    fits = "https://x.com/" + "a" * (596 - len("https://x.com/"))
    assert entry_key(None, fits, "T", None) == f"url:{fits}"


def timezone_plus_two() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


def test_keys_of_dateless_linkless_entries_do_not_depend_on_now() -> None:
    body = rss("<item><title>Only a title</title></item>")
    first = parse_feed(body, url="https://x.com/f", now=NOW)
    later = parse_feed(body, url="https://x.com/f", now=NOW + timedelta(hours=5))
    assert first.entries[0].key == later.entries[0].key
    assert first.entries[0].published == NOW and later.entries[0].published == NOW + timedelta(
        hours=5
    )


def test_naive_now_is_taken_as_utc() -> None:
    feed = parse_feed(
        rss("<item><title>x</title></item>"), url="https://x.com/", now=datetime(2026, 1, 1)
    )
    assert feed.entries[0].published == datetime(2026, 1, 1, tzinfo=UTC)


# --- hostile entries -----------------------------------------------------------------------------


def test_marked_section_in_a_summary_keeps_the_entry() -> None:
    """``<![foo[`` broke the standard library's HTML parser and with it the pass (#14.3)."""
    body = rss(
        "<item><title>Bad</title><link>https://x.com/bad</link>"
        "<description>before &lt;![foo[ after</description></item>"
        "<item><title>Good</title><link>https://x.com/good</link></item>"
    )
    feed = parse_feed(body, url="https://x.com/f", now=NOW)
    assert [e.title for e in feed.entries] == ["Bad", "Good"]
    assert feed.entries[0].summary == "before" and feed.skipped_entries == 0


def test_an_entry_that_breaks_cleaning_is_skipped_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any exception while cleaning one entry costs that entry only, with a reason kept."""
    real_image = parse_module._image

    def fragile(raw: Any, summary_html: str, base: str) -> str | None:
        if "boom" in summary_html:
            raise RuntimeError("cleaning broke")
        return real_image(raw, summary_html, base)

    monkeypatch.setattr(parse_module, "_image", fragile)
    body = rss(
        "<item><title>One</title><link>https://x.com/1</link></item>"
        "<item><title>Two</title><link>https://x.com/2</link><description>boom</description></item>"
        "<item><title>Three</title><link>https://x.com/3</link></item>"
    )
    feed = parse_feed(body, url="https://x.com/f", now=NOW)
    assert [e.title for e in feed.entries] == ["One", "Three"]
    assert feed.skipped_entries == 1
    assert feed.entry_errors == ("RuntimeError: cleaning broke",)


def test_only_the_newest_entries_are_kept() -> None:
    """A feed of thousands of entries costs the cleaning of ``max_entries``, the newest (#14)."""
    items = "".join(
        f"<item><title>E{i}</title><link>https://x.com/{i}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=i))}</pubDate></item>"
        for i in range(30)
    )
    undated = "<item><title>Undated</title><link>https://x.com/u</link></item>"
    feed = parse_feed(rss(items + undated), url="https://x.com/f", now=NOW, max_entries=10)
    assert [e.title for e in feed.entries] == ["E0"] + [f"E{i}" for i in range(1, 9)] + ["Undated"]
    assert feed.capped_entries == 21
    assert parse_feed(rss(items), url="https://x.com/f", now=NOW).capped_entries == 0


def test_bidi_overrides_are_stripped_from_titles() -> None:
    body = rss(
        "<item><title>\u202eTXT.exe\u202c news \u2067x\u2069</title>"
        "<link>https://x.com/1</link></item>"
    )
    (entry,) = parse_feed(body, url="https://x.com/f", now=NOW).entries
    assert entry.title == "TXT.exe news x"
