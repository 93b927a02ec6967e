"""Telegram's command menu in every interface language, and the admins' own menu (#10).

setMyCommands is called at start-up for the default scope (English) and once per translated
language (language_code), and for each admin with BotCommandScopeChat in the admin's language of
the bot, which adds /stats and /broadcast: admins see them in their menu, readers never do. A
reader who picks another language of the bot in /settings gets their chat's menu in it (a chat
scope outranks the client-language defaults). The fake records commands per (scope, language)
and, like Telegram, refuses a chat scope for a chat it does not know.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.basics import bot_commands
from newsbot_testing.fakes.botapi import FakeBotAPI
from tests.handlers.commands import READER_COMMANDS
from tests.handlers.harness import RunningBot
from tests.handlers.news_catalog import news_bot_on
from tests.handlers.test_languages_e2e import walk_setup
from tests.handlers.user import TelegramUser
from views.i18n import ENDONYMS, UI_LANGUAGES, gettext_for, translations

ADMIN, ABSENT_ADMIN = 7001, 7002


def names(commands: list[dict[str, str]]) -> list[str]:
    return [c["command"] for c in commands]


def test_menus_per_language_and_per_admin(
    fake: FakeBotAPI, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_IDS", f"{ADMIN},{ABSENT_ADMIN}")
    fake.add_users([ADMIN])  # the admin has opened the chat; the other one never did
    with RunningBot(fake, db_url) as bot:
        bot.services.users.ensure(ADMIN, ADMIN, "Root", "de")
    with RunningBot(fake, db_url):
        default = fake.commands()
        assert names(default) == READER_COMMANDS
        translated = [lang for lang in UI_LANGUAGES if lang != "en" and translations(lang).info()]
        assert {"ar", "de"} <= set(translated)
        for language in translated:
            menu = fake.commands(language)
            assert names(menu) == READER_COMMANDS, language
            _ = gettext_for(language)
            assert menu[0]["description"] == _("Set up your news, or see your setup")
            assert menu[0]["description"] != default[0]["description"], language
        scope = {"type": "chat", "chat_id": ADMIN}
        assert names(fake.commands(scope=scope)) == [*READER_COMMANDS, "stats", "broadcast"]
        assert fake.commands(scope=scope) == [  # in the admin's language of the bot
            {"command": c.command, "description": c.description}
            for c in bot_commands("de", admin=True)
        ]
        # The admin who never opened the chat gets nothing yet (Telegram would refuse the
        # chat scope), then their menu at their first /start.
        absent = {"type": "chat", "chat_id": ABSENT_ADMIN}
        assert fake.commands(scope=absent) == []
        TelegramUser(fake, ABSENT_ADMIN, "Eve", language_code="ar").send("/start")
        fake.wait_for(lambda: fake.commands(scope=absent) != [], message="the admin's menu")
        assert names(fake.commands(scope=absent))[-2:] == ["stats", "broadcast"]
        assert fake.commands(scope=absent)[0]["description"] == gettext_for("ar")(
            "Set up your news, or see your setup"
        )
    assert fake.errors == [], fake.describe()


def test_a_reader_who_switches_language_gets_the_menu_in_it(
    fake: FakeBotAPI, db_url: str, tmp_path: Path
) -> None:
    user = TelegramUser(fake, 81, "Ada", language_code="de")
    scope = {"type": "chat", "chat_id": 81}
    with news_bot_on(fake, db_url, tmp_path):
        walk_setup(user, "de")
        assert fake.commands(scope=scope) == []  # the German default menu applies
        user.send("/settings")
        user.press("🌐 " + gettext_for("de")("Language of the bot"))
        user.press(ENDONYMS["ar"])
        fake.wait_for(lambda: fake.commands(scope=scope) != [], message="the chat's menu")
        assert fake.commands(scope=scope) == [
            {"command": c.command, "description": c.description} for c in bot_commands("ar")
        ]
        fake.wait_for(lambda: not fake.unanswered_callbacks(), message="every press answered")
