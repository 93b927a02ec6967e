"""`newsbot fetch` as a real subprocess over hostile feeds: one bad entry, one over-long link,
one failing feed; the pass reports and stores everything else (#14.3, #14.4, #17.2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from newsbot_testing.feedserver import FeedServer, Reply
from newsbot_testing.launcher import run_cli
from tests.integration.news_fixtures import HOCKEY_EN, rss, write_catalog


def _feed(*items: tuple[str, str, str]) -> bytes:
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><description>{summary}</description>"
        "</item>"
        for title, link, summary in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
        f"<language>en</language>{body}</channel></rss>"
    ).encode()


def test_fetch_survives_hostile_entries_and_reports_timings(tmp_path: Path, db_url: str) -> None:
    with FeedServer() as server:
        server.add_file(
            "/alpha.xml",
            _feed(
                ("Marked", "https://news.example/m", "before &lt;![foo[ after"),
                ("Long", "https://news.example/" + "a" * 700, "no guid, 700-character link"),
                ("Too long", "https://news.example/" + "b" * 2100, "refused"),
            ),
        )
        server.add_file("/beta.xml", rss([HOCKEY_EN], datetime.now(UTC)))
        server.add_route("/broken.xml", lambda _r: Reply(500, {}, b""))
        catalog = write_catalog(
            tmp_path / "catalog.toml",
            server,
            {"alpha": [("national", "/alpha.xml")],
             "beta": [("sports", "/beta.xml"), ("national", "/broken.xml")]},
        )  # fmt: skip
        env = {"NEWSBOT_CATALOG": str(catalog), "DATABASE_URL": db_url}
        as_json = run_cli(tmp_path, ["fetch", "--json"], **env)
        as_text = run_cli(tmp_path, ["fetch"], **env)
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    report = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert (report["ok"], report["failed"], report["new_articles"]) == (2, 1, 3), report
    assert report["skipped_entries"] == 1
    timings = report["timings"]
    assert {(t["source"], t["category"], t["outcome"]) for t in timings} == {
        ("alpha", "national", "ok"), ("beta", "sports", "ok"), ("beta", "national", "http_status"),
    }  # fmt: skip
    assert [t["seconds"] for t in timings] == sorted((t["seconds"] for t in timings), reverse=True)
    assert as_text.returncode == 0, as_text.stderr[-2000:]
    assert "1 entries skipped" in as_text.stdout and "slowest: " in as_text.stdout
