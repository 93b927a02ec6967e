"""A three-source test catalog and a reader set up on it directly through storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from newsbot_testing.fakes.botapi import FakeBotAPI
from storage.users import UserStore
from tests.handlers.harness import RunningBot

CATALOG = """
[[countries]]
code = "CA"
name = "Canada"
languages = ["en", "fr"]
timezones = ["America/Toronto"]

[[sources]]
id = "alpha"
name = "Alpha News"
countries = ["CA"]
language = "en"
homepage = "https://alpha.example"
  [[sources.feeds]]
  category = "national"
  url = "https://alpha.example/feed"

[[sources]]
id = "beta"
name = "Beta & Sons Times"
countries = ["CA"]
language = "en"
homepage = "https://beta.example"
  [[sources.feeds]]
  category = "national"
  url = "https://beta.example/feed"

[[sources]]
id = "gamma"
name = "Gamma Nouvelles"
countries = ["CA"]
language = "fr"
homepage = "https://gamma.example"
  [[sources.feeds]]
  category = "national"
  url = "https://gamma.example/feed"
"""


def set_up_reader(
    users: UserStore,
    user_id: int,
    sources: tuple[str, ...],
    *,
    categories: tuple[str, ...] = ("national",),
    minutes: tuple[int, ...] = (480,),
    timezone: str = "America/Toronto",
) -> None:
    """A reader who finished setup: Canada, English, these sources (first is primary)."""
    users.ensure(user_id, user_id, "Ada", "en")
    users.set_primary_country(user_id, "CA")
    users.set_primary_language(user_id, "CA", "en")
    for position, source in enumerate(sources):
        if position == 0:
            users.set_primary_source(user_id, "CA", source)
        else:
            users.toggle_other_source(user_id, "CA", source)
    users.set_categories(user_id, categories)
    users.set_delivery_minutes(user_id, minutes)
    users.set_timezone(user_id, timezone)
    users.set_setup_complete(user_id)


def news_bot_on(fake: FakeBotAPI, db_url: str, tmp_path: Path, **options: Any) -> RunningBot:
    """The bot on this catalog (written to ``tmp_path``), not started: use it as ``with``."""
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    return RunningBot(fake, db_url, catalog=catalog, **options)
