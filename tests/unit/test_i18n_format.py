"""Dates, times, numbers, plurals and right-to-left isolation per interface language (#10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from views.bidi import FSI, PDI, RLM, isolate, rtl_start
from views.chart import legend_lines, stats_chart, worded
from views.i18n import (
    ago_text,
    datetime_text,
    day_text,
    ngettext_for,
    number_text,
    ui_language_for,
)

# Monday 7 December 2026, 23:30 UTC: already Tuesday in Kolkata, still Monday in Toronto.
LATE = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("de", "de"), ("de-AT", "de"), ("ar", "ar"), ("hi", "hi"), ("fr-CA", "fr"),
        ("zh", "zh"), ("zh-hans", "zh"), ("zh-hant", "zh"), ("zh_TW", "zh"),
        ("pt-br", "en"), ("", "en"), (None, "en"),
    ],
)  # fmt: skip
def test_telegram_language_codes_map_to_ours(code: str | None, language: str) -> None:
    assert ui_language_for(code) == language


def test_the_day_is_the_readers_day_in_their_language() -> None:
    assert day_text(LATE, "America/Toronto", "en") == "Monday, December 7, 2026"
    assert day_text(LATE, "Europe/Berlin", "de") == "Dienstag, 8. Dezember 2026"
    assert day_text(LATE, "Asia/Kolkata", "hi") == "मंगलवार, 8 दिसंबर, 2026"
    assert day_text(LATE, "Asia/Shanghai", "zh") == "2026年12月8日星期二"
    assert day_text(LATE, "Europe/Paris", "fr") == "mardi 8 décembre 2026"
    assert day_text(LATE, "Asia/Qatar", "ar") == "الثلاثاء، 8 ديسمبر 2026"
    assert datetime_text(LATE, "Europe/Berlin", "de") == "Dienstag, 8. Dezember 2026, 00:30"


def test_numbers_and_relative_times_follow_the_locale() -> None:
    assert [number_text(12345, lang) for lang in ("en", "de", "fr")] == [
        "12,345", "12.345", "12\u202f345",
    ]  # fmt: skip
    assert ago_text(timedelta(hours=3), "de") == "vor 3 Stunden"
    assert ago_text(timedelta(hours=3), "zh") == "3小时前"
    assert ago_text(timedelta(hours=3), "ar") == "قبل 3 ساعات"


def test_plural_forms_per_language() -> None:
    singular, plural = "At most {n} delivery time.", "At most {n} delivery times."
    de, ar = ngettext_for("de"), ngettext_for("ar")
    assert de(singular, plural, 1) == "Höchstens {n} Zustellzeit."
    assert de(singular, plural, 8) == "Höchstens {n} Zustellzeiten."
    # Arabic: one, two, few (3–10) and many (11–99) are different words.
    forms = {n: ar(singular, plural, n) for n in (1, 2, 8, 11)}
    assert len(set(forms.values())) == 4 and "{n}" not in forms[1] and "{n}" not in forms[2]


def test_isolates_only_latin_and_numbers_in_arabic() -> None:
    assert isolate("Alpha News", "ar") == f"{FSI}Alpha News{PDI}"
    assert isolate("22:00–07:00", "ar") == f"{FSI}22:00–07:00{PDI}"
    assert isolate("كندا", "ar") == "كندا"  # Arabic needs nothing
    assert isolate(isolate("BBC", "ar"), "ar") == f"{FSI}BBC{PDI}"
    assert isolate("Alpha News", "de") == "Alpha News"
    assert rtl_start("<b>Title</b>", "ar") == RLM + "<b>Title</b>"
    assert rtl_start("<b>Title</b>", "fr") == "<b>Title</b>"


def test_chart_words_only_where_the_font_draws_them() -> None:
    from tests.unit.test_chart import make_stats

    stats = make_stats([1, 2, 3], [10, 20, 30])
    assert worded("de") and not worded("ar") and not worded("zh") and not worded("hi")
    assert legend_lines(stats, "ar")[0].startswith("🟦 ") and "6" in legend_lines(stats, "ar")[0]
    assert stats_chart(stats, "de") != stats_chart(stats, "en")  # German titles and dates
    assert stats_chart(stats, "zh")[:8] == b"\x89PNG\r\n\x1a\n"


def test_arabic_full_story_and_greeting_isolate_latin_names() -> None:
    """A Latin author or first name inside Arabic text stays one run (FSI…PDI)."""
    from datetime import UTC, datetime

    from digest.full_story import FullStory
    from views.full_story import story_pages
    from views.i18n import gettext_for

    story = FullStory(
        1, True, None, "Title", "Jane Doe", datetime(2026, 12, 3, tzinfo=UTC),
        ("One paragraph.",), "https://example.com/a", False,
    )  # fmt: skip
    arabic = story_pages(story, "Alpha News", "UTC", "ar", gettext_for("ar"))[0]
    english = story_pages(story, "Alpha News", "UTC", "en", gettext_for("en"))[0]
    assert f"{FSI}Jane Doe{PDI}" in arabic
    assert FSI not in english and "By Jane Doe" in english
