"""Telegram's command menu in every interface language, and the admins' own menu (#10).

setMyCommands is called at start-up for the default scope (English) and once per translated
language (language_code), and for each admin with BotCommandScopeChat, which adds /stats and
/broadcast: admins see them in their menu, readers never do. The fake records commands per
(scope, language) and, like Telegram, refuses a chat scope for a chat it does not know.
"""

from __future__ import annotations

import pytest

from handlers.basics import bot_commands
from newsbot_testing.fakes.botapi import FakeBotAPI
from tests.handlers.harness import RunningBot
from views.i18n import UI_LANGUAGES, gettext_for, translations

READER_COMMANDS = ["start", "headlines", "digest", "settings", "pause", "resume", "help", "stop"]
ADMIN, ABSENT_ADMIN = 7001, 7002


def names(commands: list[dict[str, str]]) -> list[str]:
    return [c["command"] for c in commands]


def test_menus_per_language_and_per_admin(
    fake: FakeBotAPI, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_IDS", f"{ADMIN},{ABSENT_ADMIN}")
    fake.add_users([ADMIN])  # the admin has opened the chat; the other one never did
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
        german = fake.commands("de", scope=scope)
        assert german == [
            {"command": c.command, "description": c.description}
            for c in bot_commands("de", admin=True)
        ]
        assert fake.commands(scope={"type": "chat", "chat_id": ABSENT_ADMIN}) == []
    # The admin that Telegram cannot reach yet is logged, not fatal: the bot started.
    refused = [c for c in fake.errors if c.method == "setMyCommands"]
    assert refused and all(c.params["scope"]["chat_id"] == ABSENT_ADMIN for c in refused)
