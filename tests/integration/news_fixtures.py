"""Small news feeds and a catalog pointing at a local FeedServer, for ingest and headline tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from newsbot_testing.feedserver import FeedServer


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    summary: str
    age: timedelta
    link: str = ""


def rss(items: list[Item], now: datetime, *, language: str = "en") -> bytes:
    """An RSS 2.0 document; every string is XML-escaped."""
    entries = []
    for item in items:
        link = item.link or f"https://news.example/{item.guid}"
        entries.append(
            "<item>"
            f"<title>{escape(item.title)}</title>"
            f"<link>{escape(link)}</link>"
            f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
            f"<description>{escape(item.summary)}</description>"
            f"<pubDate>{format_datetime(now - item.age)}</pubDate>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Test</title><link>https://news.example/</link><language>{language}</language>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


QUAKE_EN_A = Item(
    "quake-a",
    "Strong earthquake of magnitude 6.8 shakes western Canada coast",
    "A magnitude 6.8 earthquake struck off the coast of British Columbia on Tuesday, "
    "officials said, with no immediate reports of damage.",
    timedelta(hours=2),
)
QUAKE_EN_B = Item(
    "b-991",
    "Magnitude 6.8 earthquake shakes British Columbia coast, no damage reported",
    "The 6.8 magnitude quake struck off the British Columbia coast on Tuesday; "
    "officials reported no immediate damage.",
    timedelta(hours=1),
)
BUDGET_EN = Item(
    "budget-1",
    "Finance minister unveils federal budget with new housing spending",
    "The budget sets aside billions for housing and child care over five years.",
    timedelta(hours=3),
)
HOCKEY_EN = Item(
    "hockey-1",
    "Oilers beat Flames 4-2 in Battle of Alberta",
    "Edmonton scored twice in the third period to win the derby.",
    timedelta(hours=5),
)
QUAKE_FR = Item(
    "seisme-1",
    "Un séisme de magnitude 6,8 secoue la côte de la Colombie-Britannique",
    "Un tremblement de terre de magnitude 6,8 a frappé mardi au large de la côte, "
    "sans dommages signalés.",
    timedelta(hours=2),
)
OLD_EN = Item("old-1", "A story from last month", "Too old to keep.", timedelta(days=30))


def write_catalog(path: Path, server: FeedServer, feeds: dict[str, list[tuple[str, str]]]) -> Path:
    """A catalog of three Canadian test sources; ``feeds`` maps source id → (category, path)."""
    languages = {"alpha": "en", "beta": "en", "gamma": "fr"}
    names = {"alpha": "Alpha News", "beta": "Beta Times", "gamma": "Gamma Nouvelles"}
    parts = [
        '[[countries]]\ncode = "CA"\nname = "Canada"\nlanguages = ["en", "fr"]\n'
        'timezones = ["America/Toronto", "America/Vancouver"]\n'
    ]
    for source_id, language in languages.items():
        parts.append(
            f'[[sources]]\nid = "{source_id}"\nname = "{names[source_id]}"\ncountries = ["CA"]\n'
            f'language = "{language}"\nhomepage = "https://{source_id}.example"\n'
        )
        source_feeds = feeds.get(source_id, [])
        if not source_feeds:
            parts.append('no_feed = "none in this test"\n')
        for category, feed_path in source_feeds:
            parts.append(
                f'[[sources.feeds]]\ncategory = "{category}"\nurl = "{server.url(feed_path)}"\n'
            )
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
