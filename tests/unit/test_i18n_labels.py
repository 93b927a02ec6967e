"""Button labels fit a phone in every interface language (#10).

Telegram shows two buttons per row in most of our menus and cuts a label that does not fit with
"…". A label is measured as the reader sees it: with its emoji prefix and a typical value in its
placeholder, in display columns (East Asian wide characters and emoji count 2, combining marks and
invisible format characters 0). The budget is per label, the same for every language.
"""

from __future__ import annotations

import unicodedata

import pytest

from views.i18n import ENDONYMS, UI_LANGUAGES, gettext_for

BUDGET = 32  # display columns for a whole label: one half of a phone-width row and a bit
SAMPLE = {"country": "Deutschland", "source": "Al Jazeera", "zone": "Asia/Kolkata", "n": "1,234"}
SAMPLE_PAGES = {"page": "2", "pages": "4"}
# msgid → the prefix the code puts before it (see views/setup.py, views/digest.py, handlers/).
BUTTONS: dict[str, str] = {
    "Back": "⬅️ ",
    "Done": "✅ ",
    "Skip": "",
    "Change": "✏️ ",
    "Confirm": "✅ ",
    "Cancel": "✖ ",
    "Countries": "🌍 ",
    "Languages · {country}": "🗣 ",
    "Sources · {country}": "📰 ",
    "Categories": "🗂 ",
    "Delivery time": "⏰ ",
    "Timezone": "🕰 ",
    "Quiet hours": "🌙 ",
    "Stories per digest": "🔢 ",
    "Empty digests": "📭 ",
    "Language of the bot": "🌐 ",
    "Keep {zone}": "",
    "Off": "",
    "Skip it": "",
    "Tell me": "",
    "Delete my data": "🗑 ",
    "Keep my settings": "",
    "Yes, delete everything": "🗑 ",
    "Full story": "10 · 📖 ",
    "Related": "🔗 ",
    "Read full story on {source}": "↗ ",
    "Share": "📤 ",
    "More related news": "🔗 ",
    "Continue reading ({page}/{pages})": "⬇️ ",
    "Read as one page": "📄 ",
    "Previous": "◀ ",
    "Next": "▶ ",
    "1 day": "",
    "1 week": "",
    "Until I resume": "",
    "Everyone ({n})": "",
    "By country": "",
    "By news language": "",
    "By app language": "",
    "Cancel sending": "✋ ",
    "National": "✅ ",
    "International": "✅ ",
    "Business": "✅ ",
    "Entertainment": "✅ ",
    "Sports": "✅ ",
    "Special": "✅ ",
    "All categories": "✅ ",
}


def columns(text: str) -> int:
    """Display width: wide and fullwidth characters 2, combining and format characters 0, and a
    character followed by U+FE0F (emoji presentation, as in "⬅️") 2."""
    width = 0
    for index, char in enumerate(text):
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        emoji = text[index + 1 : index + 2] == "\ufe0f"
        width += 2 if emoji or unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def test_width_counts_what_a_phone_shows() -> None:
    assert columns("Done") == 4
    assert columns("完成") == 4
    assert columns("⬅️ Back") == 7  # the emoji is wide, its variation selector invisible
    assert columns("हिन्दी") < len("हिन्दी")  # vowel signs and virama take no column of their own


@pytest.mark.parametrize("language", UI_LANGUAGES)
def test_every_button_label_fits_the_budget(language: str) -> None:
    _ = gettext_for(language)
    too_wide = []
    for msgid, prefix in BUTTONS.items():
        label = prefix + _(msgid).format(**SAMPLE, **SAMPLE_PAGES)
        if columns(label) > BUDGET:
            too_wide.append(f"{label!r}: {columns(label)} columns")
    endonyms = [name for name in ENDONYMS.values() if columns("✅ " + name) > BUDGET]
    assert not too_wide and not endonyms, f"{language}: over {BUDGET} columns\n" + "\n".join(
        too_wide
    )


def test_the_list_names_real_messages() -> None:
    """A renamed msgid must not silently drop out of the width check."""
    from tests.unit.test_i18n_catalogs import template_ids

    assert set(BUTTONS) <= template_ids()
