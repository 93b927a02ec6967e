"""The sandbox's settings, clock and bundled sample news (no browser, no bot)."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.settings import Settings
from digest.catalog import load_catalog
from digest.extract import extract_article
from digest.parse import parse_feed
from newsbot_testing.fakes.botapi import FakeBotAPI
from sandbox.clock import SandboxClock
from sandbox.hub import ADMIN_IDS
from sandbox.news import SAMPLES, SampleNews, render_feed
from sandbox.runner import DEFAULT_DATABASE, sandbox_settings

OWN = ("DATABASE_URL", "LOG_LEVEL", "ADMIN_IDS", "NEWSBOT_CATALOG", "ALLOW_PRIVATE_NETWORKS",
       "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL")  # fmt: skip


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No settings from this machine: only what each test sets (and no .env in the folder)."""
    for name in OWN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_unset_database_and_log_level_get_the_sandbox_defaults(
    operator_env: pytest.MonkeyPatch,
) -> None:
    operator_env.setenv("TELEGRAM_BOT_TOKEN", "42:live-token")
    operator_env.setenv("ADMIN_IDS", "7, 8")
    fake = FakeBotAPI()
    settings = sandbox_settings(Settings(), fake)
    assert settings.database_url == DEFAULT_DATABASE != Settings().database_url
    assert settings.log_level == "ERROR"
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == fake.token  # never the live one
    assert settings.telegram_api_base_url == fake.base_url
    assert {7, 8, ADMIN_IDS[0]} <= settings.admin_ids
    assert settings.newsbot_catalog is None and not settings.allow_private_networks


def test_every_setting_the_operator_chose_is_kept(operator_env: pytest.MonkeyPatch) -> None:
    operator_env.setenv("DATABASE_URL", "sqlite:///mine.db")
    operator_env.setenv("LOG_LEVEL", "DEBUG")
    operator_env.setenv("FEED_REFRESH_SECONDS", "120")
    operator_env.setenv("BROADCAST_MAX_RATE", "5")
    settings = sandbox_settings(Settings(), FakeBotAPI())
    assert settings.database_url == "sqlite:///mine.db"
    assert settings.log_level == "DEBUG"
    assert settings.feed_refresh_seconds == 120 and settings.broadcast_max_rate == 5


def test_offline_points_at_the_sample_catalog_and_allows_local_pages(
    operator_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    operator_env.setenv("NEWSBOT_CATALOG", str(tmp_path / "operator.toml"))
    catalog = tmp_path / "samples.toml"
    settings = sandbox_settings(Settings(), FakeBotAPI(), catalog=catalog)
    assert settings.newsbot_catalog == catalog and settings.allow_private_networks


def test_the_clock_only_moves_forward() -> None:
    clock = SandboxClock()
    start = clock()
    moved = clock.advance(timedelta(hours=5))
    assert timedelta(hours=5) <= moved - start < timedelta(hours=5, seconds=5)
    assert clock.offset == timedelta(hours=5)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(hours=-1))
    clock.advance_to(start)  # in the past now: nothing happens
    assert clock.offset == timedelta(hours=5)
    target = start + timedelta(days=1)
    assert clock.advance_to(target) >= target


def test_feed_templates_get_times_before_the_clock_and_the_local_address() -> None:
    now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    text = (SAMPLES / "feeds" / "harbour-national.xml").read_text()
    rendered = render_feed(text, "http://127.0.0.1:1234", now)
    assert "${" not in rendered
    feed = parse_feed(rendered.encode(), url="http://127.0.0.1:1234/feeds/x.xml", now=now)
    assert len(feed.entries) == 3 and not feed.bozo
    newest = max(e.published for e in feed.entries)
    assert newest == now - timedelta(minutes=25)
    assert all(e.url.startswith("http://127.0.0.1:1234/news/") for e in feed.entries)


def test_sample_news_serves_every_feed_and_page_of_its_catalog() -> None:
    clock = SandboxClock()
    with SampleNews(clock) as news:
        catalog = load_catalog(news.catalog)
        feeds = [feed for source in catalog.sources for feed in source.feeds]
        assert len(catalog.sources) == 3 and len(feeds) == 6
        links: set[str] = set()
        for feed in feeds:
            assert feed.url.startswith(news.base)
            with urllib.request.urlopen(feed.url, timeout=5) as answer:
                parsed = parse_feed(answer.read(), url=feed.url, now=clock())
            assert parsed.entries, feed.url
            links.update(entry.url for entry in parsed.entries)
        for link in sorted(links):  # Full story must find an article on every page
            with urllib.request.urlopen(link, timeout=5) as answer:
                article = extract_article(answer.read(), url=link, content_type="text/html")
            assert article.word_count >= 60, link  # the bot wants 40 or more
    assert not news.catalog.exists()
