"""Mute buttons and lists: "Mute <Source>" and "Fewer like this" under a Related view, and the
Muted sources / Muted words parts of /settings (each with Unmute buttons).

Every button is step :data:`MUTE_STEP` with a one-letter action and a short argument (a source
id, an article id, a row id), well inside the 64 bytes of callback data.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from digest.catalog import Catalog
from storage.mutes import MutedWordRow
from views.bidi import isolate, rtl_start
from views.i18n import Gettext, gettext_for
from views.keyboards import button, markup
from views.render import esc
from views.story import source_name

MUTE_STEP = "M"  # never a menu step code (see views.flow)
MUTE_SOURCE = "s"
FEWER = "w"  # "Fewer like this": offer the story's telling words
MUTE_WORD = "W"  # arg "<article id>.<word position>"
LIST = "l"  # arg SOURCES or WORDS: a /settings part
UNMUTE_SOURCE = "u"
UNMUTE_WORD = "v"
ADD_WORD = "a"
BACK = "b"
SOURCES = "s"
WORDS = "w"
#: ``users.flow_step`` while the bot waits for a typed word to mute (not a flow step)
TYPING_WORD = "Mw"


def mute_row(
    source_id: str, article_id: int, catalog: Catalog, _: Gettext
) -> list[InlineKeyboardButton]:
    """The two buttons a Related view ends with."""
    name = source_name(source_id, catalog)
    return [
        button("🔇 " + _("Mute {source}").format(source=name), MUTE_STEP, MUTE_SOURCE, source_id),
        button("👎 " + _("Fewer like this"), MUTE_STEP, FEWER, str(article_id)),
    ]


def fewer_view(
    title: str, article_id: int, words: list[str], ui_language: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Which word of the story to mute: the reader confirms one (never guessed silently)."""
    _ = gettext_for(ui_language)
    if not words:
        text = _("I found no word to mute in “{title}”. Add one in /settings, Muted words.")
        return esc(text.format(title=isolate(title[:120], ui_language))), None
    text = _("Fewer stories like “{title}”: which word should I mute?").format(
        title=isolate(title[:120], ui_language)
    )
    rows = [
        [button("🔇 " + word, MUTE_STEP, MUTE_WORD, f"{article_id}.{i}")]
        for i, word in enumerate(words)
    ]
    return rtl_start(esc(text), ui_language), markup(rows)


def settings_buttons(_: Gettext) -> list[InlineKeyboardButton]:
    """The two /settings entries."""
    return [
        button("🔇 " + _("Muted sources"), MUTE_STEP, LIST, SOURCES),
        button("🚫 " + _("Muted words"), MUTE_STEP, LIST, WORDS),
    ]


def sources_view(
    muted: frozenset[str], catalog: Catalog, ui_language: str
) -> tuple[str, InlineKeyboardMarkup]:
    _ = gettext_for(ui_language)
    lines = [f"<b>{esc(_('Muted sources'))}</b>", ""]
    rows: list[list[InlineKeyboardButton]] = []
    if not muted:
        lines.append(esc(_("None. Mute a source with the button under its Related stories.")))
    for source_id in sorted(muted, key=lambda s: source_name(s, catalog).casefold()):
        name = source_name(source_id, catalog)
        lines.append(f"• {esc(isolate(name, ui_language))}")
        label = "🔊 " + _("Unmute {source}").format(source=name)
        rows.append([button(label, MUTE_STEP, UNMUTE_SOURCE, source_id)])
    rows.append([button("⬅️ " + _("Back"), MUTE_STEP, BACK)])
    return rtl_start("\n".join(lines), ui_language), markup(rows)


def words_view(words: list[MutedWordRow], ui_language: str) -> tuple[str, InlineKeyboardMarkup]:
    _ = gettext_for(ui_language)
    lines = [f"<b>{esc(_('Muted words'))}</b>", ""]
    rows: list[list[InlineKeyboardButton]] = []
    if not words:
        lines.append(esc(_("None. Stories containing a muted word never reach you.")))
    for row in words:
        lines.append(f"• {esc(isolate(row.word, ui_language))}")
        label = "🔊 " + _("Unmute “{word}”").format(word=row.word)
        rows.append([button(label, MUTE_STEP, UNMUTE_WORD, str(row.id))])
    rows.append(
        [
            button("⬅️ " + _("Back"), MUTE_STEP, BACK),
            button("➕ " + _("Add a word"), MUTE_STEP, ADD_WORD),
        ]
    )
    return rtl_start("\n".join(lines), ui_language), markup(rows)


def add_word_prompt(ui_language: str) -> str:
    _ = gettext_for(ui_language)
    return esc(
        _("Send a word or phrase to mute (up to {chars} characters). Stories containing it "
          "will no longer reach you.").format(chars=50)
    )  # fmt: skip
