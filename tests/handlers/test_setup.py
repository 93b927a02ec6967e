"""The guided setup, /settings, /help and /stop, through the fake Bot API over real HTTP."""

from __future__ import annotations

from newsbot_testing.fakes.botapi import FakeBotAPI
from tests.handlers.commands import READER_COMMANDS
from tests.handlers.harness import RunningBot
from tests.handlers.user import TelegramUser

EXPIRED = "This menu has expired — send /settings"
EXPIRED_DE = "Dieses Menü ist abgelaufen – sende /settings"  # Bob reads German


def walk_to_categories_for_germany(user: TelegramUser) -> None:
    """Germany: de+en, one timezone. Primary German, DW German as the primary source."""
    user.send("/start")
    user.press("Germany")
    user.press("Skip")
    user.press("German")
    user.press("Skip")
    user.press("DW German")
    user.press("Skip")


def complete_setup_for_germany(user: TelegramUser) -> None:
    walk_to_categories_for_germany(user)
    user.press("Sports")
    user.press("Done")
    user.press("08:00")
    user.press("Done")
    assert "Almost done" in user.menu().text
    user.press("Confirm")


def test_full_walkthrough_stores_every_answer(
    fake: FakeBotAPI, bot: RunningBot, ada: TelegramUser
) -> None:
    first = ada.send("/start")
    assert "Hi Ada!" in first.text
    assert "Choose your primary country" in first.text
    assert ada.labels(first)[:7] == [
        "India",
        "United States",
        "Qatar",
        "Germany",
        "China",
        "Canada",
        "World",
    ]
    others = ada.press("Canada")
    assert others.message_id == first.message_id, "the setup edits one message in place"
    assert "Other countries" in others.text and "Canada" not in ada.labels(others)
    assert "✅ United States" in ada.labels(ada.press("United States"))
    language = ada.press("Done")
    assert "Set news language for Canada" in language.text
    assert ada.labels(language)[:2] == ["English", "French"]
    ada.press("French")
    other_languages = ada.menu()
    assert "Primary: French" in other_languages.text
    ada.press("English")
    sources = ada.press("Done")
    assert "Set news source for Canada" in sources.text
    assert "Radio-Canada" in ada.labels(sources) and "CBC" in ada.labels(sources)
    ada.press("Radio-Canada")
    ada.press("CBC")
    us_sources = ada.press("Done")
    # The United States offers English only: the language is set for the reader, who is told so.
    assert "no other language available" in us_sources.text
    assert "Set news source for United States" in us_sources.text
    ada.press("CNN")
    categories = ada.press("Skip")
    assert "Categories" in categories.text
    ada.press("Business")
    ada.press("Sports")
    times = ada.press("Done")
    assert "Delivery time" in times.text
    ada.press("07:00")
    typed = ada.send("21:15")
    assert "Added 21:15" in typed.text
    assert "✅ 21:15" in ada.labels(typed)
    timezone = ada.press("Done")
    assert "Timezone" in timezone.text, "Canada spans several zones: the reader is asked"
    summary = ada.press("America/Vancouver")
    assert "Almost done" in summary.text
    for words in (
        "Primary country: Canada",
        "French (primary), English",
        "Radio-Canada (primary), CBC",
        "Also: United States",
        "CNN (primary)",
        "Business, Sports",
        "07:00, 21:15",
        "America/Vancouver",
    ):
        assert words in summary.text
    ada.press("Confirm")
    assert "All set" in ada.last().text
    assert ada.last().buttons == []

    reader = bot.services.users.get(ada.id)
    assert reader is not None and reader.setup_complete
    assert reader.primary_country == "CA" and reader.other_countries == ("US",)
    assert reader.country("CA").languages == ("fr", "en")  # type: ignore[union-attr]
    assert reader.country("CA").sources == ("radiocanada", "cbc")  # type: ignore[union-attr]
    assert reader.country("US").languages == ("en",)  # type: ignore[union-attr]
    assert reader.categories == ("business", "sports")
    assert reader.delivery_minutes == (7 * 60, 21 * 60 + 15)
    assert reader.timezone == "America/Vancouver"

    settings = ada.send("/settings")
    assert "Settings" in settings.text and "Primary country: Canada" in settings.text
    assert "Categories" in " ".join(ada.labels(settings))


def test_single_zone_country_skips_the_timezone_question(
    bot: RunningBot, ada: TelegramUser
) -> None:
    complete_setup_for_germany(ada)
    reader = bot.services.users.get(ada.id)
    assert reader is not None and reader.timezone == "Europe/Berlin" and reader.setup_complete


def test_back_goes_to_the_previous_step(ada: TelegramUser) -> None:
    ada.send("/start")
    ada.press("India")
    assert "Set news language for India" in ada.press("Skip").text
    assert "Other countries" in ada.press("Back").text
    assert "Choose your primary country" in ada.press("Back").text


def test_categories_and_times_need_an_answer(ada: TelegramUser) -> None:
    walk_to_categories_for_germany(ada)
    assert ada.press_for_toast("Done") == "Pick at least one category."
    ada.press("All categories")
    assert "✅ All categories" in ada.labels(ada.menu())
    after_sports = ada.labels(ada.press("Sports"))
    assert "✅ Sports" in after_sports and "All categories" in after_sports
    assert "✅ All categories" not in after_sports
    ada.press("Done")
    assert ada.press_for_toast("Done").startswith("Pick at least one time")


def test_button_of_an_older_menu_has_expired(fake: FakeBotAPI, ada: TelegramUser) -> None:
    old = ada.send("/start")
    new = ada.send("/start")
    assert new.message_id != old.message_id
    assert "continue where you left off" in new.text
    old_data = next(b["callback_data"] for row in old.buttons for b in row if b["text"] == "Canada")
    assert ada.press_data(old.message_id, old_data) == EXPIRED
    assert fake.last_message(ada.id).buttons == new.buttons  # type: ignore[union-attr]


def test_free_text_where_a_button_is_expected_gets_a_hint(ada: TelegramUser) -> None:
    ada.send("/start")
    reply = ada.send("Canada please")
    assert reply.text == "Please use the buttons above, or send /settings."


def test_invalid_timezone_gets_a_hint_and_a_valid_one_is_kept(
    bot: RunningBot, ada: TelegramUser
) -> None:
    ada.send("/start")
    ada.press("United States")
    ada.press("Skip")
    ada.press("CNN")
    ada.press("Skip")
    ada.press("National")
    ada.press("Done")
    ada.press("12:00")
    ada.press("Done")
    hint = ada.send("America/Torontoo")
    assert "I don't know that timezone" in hint.text and "America/Toronto" in hint.text
    summary = ada.send("america/chicago")
    assert "Timezone set to America/Chicago" in summary.text
    assert bot.services.users.get(ada.id).timezone == "America/Chicago"  # type: ignore[union-attr]


def test_bad_time_gets_a_hint(ada: TelegramUser) -> None:
    walk_to_categories_for_germany(ada)
    ada.press("Sports")
    ada.press("Done")
    assert "Send a time like 07:30" in ada.send("25:99").text
    assert "Send a time like 07:30" in ada.send("x" * 5000).text


def test_restart_in_the_middle_resumes_at_the_same_step(fake: FakeBotAPI, db_url: str) -> None:
    ada = TelegramUser(fake, 1001, "Ada")
    with RunningBot(fake, db_url):
        ada.send("/start")
        ada.press("Qatar")
        ada.press("Skip")
        menu = ada.menu()
        assert "Set news language for Qatar" in menu.text
    with RunningBot(fake, db_url) as restarted:
        # The same message's buttons still work after the restart...
        ada.press("Arabic", menu)
        assert "Primary: Arabic" in ada.menu().text
        # ...and /start resumes there instead of starting over.
        resumed = ada.send("/start")
        assert "continue where you left off" in resumed.text
        assert "Set news language for Qatar" in resumed.text
        reader = restarted.services.users.get(ada.id)
        assert reader is not None and reader.country("QA").languages == ("ar",)  # type: ignore[union-attr]
        fake.wait_for(lambda: not fake.unanswered_callbacks())


def test_two_users_at_once_do_not_mix(
    bot: RunningBot, ada: TelegramUser, bob: TelegramUser
) -> None:
    ada.send("/start")
    bob.send("/start")
    ada.press("India")
    bob.press("China")
    ada.press("Skip")
    bob.press("Überspringen")  # Bob's Telegram is German, and so is his bot
    assert "India" in ada.menu().text and "China" in bob.menu().text
    assert bot.services.users.get(ada.id).primary_country == "IN"  # type: ignore[union-attr]
    assert bot.services.users.get(bob.id).primary_country == "CN"  # type: ignore[union-attr]
    assert bot.services.users.get(bob.id).ui_language == "de"  # type: ignore[union-attr]


def test_forged_buttons_change_nothing(
    bot: RunningBot, ada: TelegramUser, bob: TelegramUser
) -> None:
    ada.send("/start")
    ada.press("India")
    bob.send("/start")
    ada_menu = ada.menu()
    before = bot.services.users.get(ada.id)
    # Bob replays Ada's buttons, random bytes, an old format and a step that is not his.
    ada_data = str(ada_menu.buttons[0][0]["callback_data"])
    for data in (
        ada_data,
        b"\x00\xff\xfe garbage",
        "v0:start:CA",
        "1|c|p|ZZ",
        "1|o|t|US",
        "1|c|p|",
    ):
        assert bob.press_data(bob.menu().message_id, data) == EXPIRED_DE
        assert bob.press_data(ada_menu.message_id, data) == EXPIRED_DE
    assert bot.services.users.get(ada.id) == before
    assert bot.services.users.get(bob.id).primary_country is None  # type: ignore[union-attr]


def test_returning_user_sees_their_summary(bot: RunningBot, ada: TelegramUser) -> None:
    complete_setup_for_germany(ada)
    again = ada.send("/start")
    assert "Settings" in again.text and "Primary country: Germany" in again.text
    assert bot.services.users.get(ada.id).setup_complete  # type: ignore[union-attr]


def test_settings_changes_one_part_only(bot: RunningBot, ada: TelegramUser) -> None:
    complete_setup_for_germany(ada)
    before = bot.services.users.get(ada.id)
    ada.send("/settings")
    ada.press("Categories")
    ada.press("Business")
    menu = ada.press("Done")
    assert "Settings" in menu.text and "Business, Sports" in menu.text
    ada.press("Done")
    after = bot.services.users.get(ada.id)
    assert after is not None and before is not None
    assert after.categories == ("business", "sports")
    assert after.countries == before.countries
    assert after.delivery_minutes == before.delivery_minutes


def test_settings_adding_a_country_asks_only_for_that_country(
    bot: RunningBot, ada: TelegramUser
) -> None:
    complete_setup_for_germany(ada)
    ada.send("/settings")
    ada.press("Countries")
    ada.press("Germany")  # keep Germany as the primary country
    ada.press("Canada")
    language = ada.press("Done")
    assert "Set news language for Canada" in language.text
    ada.press("English")
    ada.press("Skip")
    ada.press("CBC")
    menu = ada.press("Skip")
    assert "Settings" in menu.text and "Also: Canada" in menu.text
    reader = bot.services.users.get(ada.id)
    assert reader is not None and reader.other_countries == ("CA",)
    assert reader.country("DE").sources == ("dw_de",)  # type: ignore[union-attr]


def test_stop_pauses_then_deletes_on_second_confirm(bot: RunningBot, ada: TelegramUser) -> None:
    complete_setup_for_germany(ada)
    stop = ada.send("/stop")
    assert "Deliveries are paused" in stop.text
    assert bot.services.users.get(ada.id).paused  # type: ignore[union-attr]
    confirm = ada.press("Delete my data")
    assert "cannot be undone" in confirm.text
    assert bot.services.users.get(ada.id) is not None, (
        "nothing is deleted before the second confirm"
    )
    ada.press("Yes, delete everything")
    assert "deleted" in ada.last().text
    assert bot.services.users.get(ada.id) is None
    assert "Choose your primary country" in ada.send("/start").text


def test_stop_keep_then_start_resumes_deliveries(bot: RunningBot, ada: TelegramUser) -> None:
    complete_setup_for_germany(ada)
    ada.send("/stop")
    ada.press("Keep my settings")
    assert bot.services.users.get(ada.id).paused  # type: ignore[union-attr]
    back = ada.send("/start")
    assert "deliveries are on again" in back.text
    assert not bot.services.users.get(ada.id).paused  # type: ignore[union-attr]


def test_help_and_unknown_commands(fake: FakeBotAPI, ada: TelegramUser) -> None:
    help_text = ada.send("/help").text
    for command in READER_COMMANDS:
        assert f"/{command}" in help_text
    assert "Send /help" in ada.send("/frobnicate").text
    assert [c["command"] for c in fake.commands()] == READER_COMMANDS


def test_text_before_start_points_to_start(ada: TelegramUser) -> None:
    assert ada.send("hello").text == "Send /start to set up your news."


def test_settings_quiet_hours_digest_size_and_empty_digests(
    bot: RunningBot, ada: TelegramUser
) -> None:
    complete_setup_for_germany(ada)
    ada.send("/settings")
    ada.press("Quiet hours")
    menu = ada.press("22:00–07:00")
    assert "Quiet hours: 22:00–07:00" in menu.text
    ada.press("Quiet hours")
    assert "Send quiet hours like" in ada.send("whenever").text
    typed = ada.send("23:30-06:15")
    assert "Quiet hours: 23:30–06:15" in typed.text
    ada.press("Stories per digest", typed)
    assert "Stories per digest: 7" in ada.press("7").text
    ada.press("Empty digests")
    ada.press("Tell me")
    ada.press("Done")
    reader = bot.services.users.get(ada.id)
    assert reader is not None
    assert (reader.quiet_start, reader.quiet_end) == (23 * 60 + 30, 6 * 60 + 15)
    assert reader.stories_per_digest == 7 and reader.empty_digest == "say"
    assert reader.next_due_at is not None, "finishing settings schedules the next digest"
